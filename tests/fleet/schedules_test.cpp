// Schedules on many nodes: two schedulers over one store, each holding the same due schedule,
// run it once between them (the slot's compare-and-set), and the loser follows the stored slot.
#include <gtest/gtest.h>

#include <boost/asio.hpp>

#include <atomic>
#include <filesystem>
#include <future>

#include "fleet/schedules.hpp"

namespace cn::fleet {

namespace {

class CountingStarter : public TurnStarter {
 public:
  boost::asio::awaitable<Result<std::string>> start_agent_turn(std::string, std::string, std::string, std::string input,
                                                               boost::json::object) override {
    ++started;
    co_return std::string("resp_") + std::to_string(started.load());
  }
  std::atomic<int> started{0};
};

Status write(store::Executor& ex, std::function<Status(store::Database&)> fn) {
  std::promise<Status> p;
  ex.submit(std::move(fn), [&p](Status st) { p.set_value(st); });
  return p.get_future().get();
}

}  // namespace

TEST(Schedules, ADueSlotRunsOnceAmongSchedulersSharingAStore) {
  auto dir = std::filesystem::temp_directory_path() / ("cn_sched_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  {
    auto ex = store::Executor::start(store::ExecutorOptions{(dir / "db").string()}, Schedules::migrations());
    ASSERT_TRUE(ex.ok()) << ex.status().to_string();
    int64_t now = static_cast<int64_t>(std::time(nullptr));
    // Due a second ago, then every minute: one slot falls within the test.
    ASSERT_TRUE(write(**ex, [now](store::Database& db) {
                  return db.stmt("INSERT INTO schedules(project_id, id, config, next_run_at, created_at) VALUES ('p', 'sch_1', ?1, ?2, ?2)")
                      .bind(1, std::string(R"({"agent":"a","cron":"","every_seconds":60,"input":"tick","user":"","description":"","enabled":true})"))
                      .bind(2, now - 1)
                      .run();
                }).ok());
    AgentRegistry agents(**ex);
    auto starter = std::make_shared<CountingStarter>();
    Schedules one(**ex, agents, starter), two(**ex, agents, starter);
    ASSERT_TRUE(one.load().ok());
    ASSERT_TRUE(two.load().ok());
    boost::asio::io_context io;
    one.start(io);
    two.start(io);
    io.run_for(std::chrono::milliseconds(800));
    one.stop();
    two.stop();
    io.run_for(std::chrono::milliseconds(300));
    EXPECT_EQ(starter->started.load(), 1) << "both schedulers ran the slot";
    // Both follow the stored next slot, a minute on.
    auto a = one.get("p", "sch_1"), b = two.get("p", "sch_1");
    ASSERT_TRUE(a && b);
    EXPECT_EQ(a->next_run_at, b->next_run_at);
    EXPECT_GE(a->next_run_at, now + 59);
    (*ex)->stop();
  }
  std::filesystem::remove_all(dir);
}

}  // namespace cn::fleet
