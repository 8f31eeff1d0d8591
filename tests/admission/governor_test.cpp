// The Governor's admission decisions: the in-flight byte budget and its tickets, the adaptive
// limit on turns in progress, and readiness.
#include <gtest/gtest.h>

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

}  // namespace cn::admission
