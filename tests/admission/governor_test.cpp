// The Governor's admission decisions: the in-flight byte budget and its tickets, the adaptive
// limit on turns in progress (the CPU's and the model's side), and readiness.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include "admission/governor.hpp"

namespace cn::admission {

TEST(Governor, InflightBytesBoundNewTurnsUntilTicketsAreReleased) {
  GovernorOptions o;
  o.max_inflight_bytes = 1000;
  o.target_loop_lag = std::chrono::milliseconds(0);
  auto g = std::make_shared<Governor>(o, nullptr);
  auto first = g->admit(5000, true);  // alone, a turn is admitted however large
  ASSERT_TRUE(first.ok());
  auto second = g->admit(10, true);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Code::resource_exhausted);
  EXPECT_EQ(second.status().api_code(), "server_overloaded");
  EXPECT_EQ(second.status().retry_after(), 1);
  EXPECT_EQ(g->stats().shed, 1u);
  EXPECT_EQ(g->stats().inflight_bytes, 5000);
  first = Status(Code::cancelled, "released");  // the ticket goes
  EXPECT_EQ(g->stats().inflight_bytes, 0);
  EXPECT_TRUE(g->admit(10, true).ok());
}

TEST(Governor, TheAdaptiveLimitShedsBelowTheCapAndLeavesTheCapToTheRuntime) {
  GovernorOptions o;
  o.max_inflight_bytes = 0;
  o.initial_turns = 2;
  o.max_turns = 3;
  auto g = std::make_shared<Governor>(o, nullptr);
  auto a = g->admit(1, true), b = g->admit(1, true);
  ASSERT_TRUE(a.ok() && b.ok());
  auto c = g->admit(1, true);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().api_code(), "server_overloaded");
  EXPECT_EQ(g->stats().turn_limit, 2);
  // Being at the adaptive limit is not a reason to be unready.
  EXPECT_TRUE(g->ready());

  o.initial_turns = 3;  // the limit at the cap: the runtime's own cap answers instead
  auto h = std::make_shared<Governor>(o, nullptr);
  std::vector<std::shared_ptr<void>> held;
  for (int i = 0; i < 5; ++i) {
    auto t = h->admit(1, true);
    ASSERT_TRUE(t.ok());
    held.push_back(*t);
  }
}

TEST(Governor, DrainingIsNotReady) {
  auto g = std::make_shared<Governor>(GovernorOptions{}, nullptr);
  std::string why;
  EXPECT_TRUE(g->ready(&why));
  g->draining();
  EXPECT_FALSE(g->ready(&why));
  EXPECT_EQ(why, "shutting down");
}

// The sampler's periods, run until the limit moves (or half a second passes).
int64_t run_until_limit_moves(boost::asio::io_context& io, Governor& g) {
  int64_t before = g.stats().turn_limit;
  for (int i = 0; i < 50 && g.stats().turn_limit == before; ++i) {
    io.restart();
    io.run_for(std::chrono::milliseconds(10));
  }
  return g.stats().turn_limit;
}

TEST(Governor, TheLimitFallsWhenModelCallsWaitLongerForTheirFirstEvent) {
  GovernorOptions o;
  o.max_inflight_bytes = 0;
  o.initial_turns = 16;
  o.min_turns = 4;
  o.max_turns = 64;
  o.target_loop_lag = std::chrono::milliseconds(1000);  // the CPU's side never moves it here
  auto g = std::make_shared<Governor>(o, nullptr);
  std::vector<std::shared_ptr<void>> held;
  for (int i = 0; i < 16; ++i) held.push_back(*g->admit(1, true));
  boost::asio::io_context io;
  g->start(io);
  using std::chrono::milliseconds;

  // Calls answering at their baseline: the limit, fully used, grows by an eighth.
  for (int i = 0; i < 10; ++i) g->model_latency("upstream", milliseconds(5));
  EXPECT_EQ(run_until_limit_moves(io, *g), 18);
  EXPECT_LT(g->stats().model_latency_ratio, 1.0);

  // Without calls answering, it holds (turns may all be waiting).
  io.restart();
  io.run_for(milliseconds(200));
  EXPECT_EQ(g->stats().turn_limit, 18);

  // First events forty times later than the baseline: turns wait in the model's queue; the
  // limit comes down below what is in progress.
  for (int i = 0; i < 10; ++i) g->model_latency("upstream", milliseconds(200));
  EXPECT_EQ(run_until_limit_moves(io, *g), 14);  // 16 in progress, less a tenth
  EXPECT_GT(g->stats().model_latency_ratio, 3.0);
  auto refused = g->admit(1, true);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().api_code(), "server_overloaded");

  // Another provider has a baseline of its own: its slower calls are its normal.
  for (int i = 0; i < 10; ++i) g->model_latency("slow-provider", milliseconds(900));
  held.resize(14);
  for (int i = 0; i < 10; ++i) g->model_latency("slow-provider", milliseconds(950));
  EXPECT_EQ(run_until_limit_moves(io, *g), 15);
  g->stop();
}

}  // namespace cn::admission
