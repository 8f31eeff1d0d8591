// ConfigFollower: an announced topic is read again on the follower's thread, announcements that
// arrive while it reads coalesce, an unknown or empty topic reads everything, and every topic is
// read again at each sweep.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "cluster/config_follower.hpp"

namespace cn::cluster {

namespace {

bool wait_for(const std::function<bool()>& cond) {
  for (int i = 0; i < 400; ++i) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return cond();
}

}  // namespace

TEST(ConfigFollower, ReadsAnnouncedTopicsOnItsThreadAndCoalesces) {
  ConfigFollower f(std::chrono::hours(1));
  std::atomic<int> agents{0}, policies{0};
  std::atomic<bool> slow{true};
  f.add("agents", [&] {
    ++agents;
    while (slow.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return Status();
  });
  f.add("policies", [&] {
    ++policies;
    return Status(Code::unavailable, "the store is away");  // a failed read is logged, not fatal
  });
  f.start();
  f.changed("agents");
  ASSERT_TRUE(wait_for([&] { return agents.load() == 1; }));
  // Three announcements while the first read runs: one more read, not three.
  f.changed("agents");
  f.changed("agents");
  f.changed("agents");
  slow = false;
  ASSERT_TRUE(wait_for([&] { return agents.load() == 2; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(agents.load(), 2);
  EXPECT_EQ(policies.load(), 0) << "only the announced topic is read";
  // An unknown topic (or "", after a reconnect) reads everything.
  f.changed("");
  ASSERT_TRUE(wait_for([&] { return agents.load() == 3 && policies.load() == 1; }));
  f.changed("policies");
  ASSERT_TRUE(wait_for([&] { return policies.load() == 2; }));
  f.stop();
  EXPECT_EQ(f.reloads(), 5u);
}

TEST(ConfigFollower, ReadsEveryTopicAgainAtEachSweep) {
  ConfigFollower f(std::chrono::milliseconds(30));
  std::atomic<int> n{0};
  f.add("schedules", [&] {
    ++n;
    return Status();
  });
  f.start();
  EXPECT_TRUE(wait_for([&] { return n.load() >= 3; })) << "a lost announcement heals at the next sweep";
  f.stop();
  int after = n.load();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(n.load(), after) << "nothing is read after stop()";
}

}  // namespace cn::cluster
