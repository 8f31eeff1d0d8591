#include <gtest/gtest.h>

#include <filesystem>
#include <future>

#include "store/executor.hpp"

namespace cn::store {

class ExecutorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("cn_exec_" + std::to_string(::getpid()) + "_" +
                                                     ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::vector<Migration> migrations() {
    return {{"t", 1, "CREATE TABLE kv(k TEXT PRIMARY KEY, v TEXT NOT NULL)"}};
  }
  std::filesystem::path dir_;
};

Status put(Database& db, const std::string& k, const std::string& v) {
  return db.stmt("INSERT INTO kv(k, v) VALUES (?1, ?2)").bind(1, k).bind(2, v).run();
}

TEST_F(ExecutorTest, GroupsConcurrentWritesIntoFewCommits) {
  auto ex = Executor::start({(dir_ / "db").string()}, migrations());
  ASSERT_TRUE(ex.ok()) << ex.status().to_string();
  constexpr int kWrites = 2000;
  std::vector<std::promise<Status>> ps(kWrites);
  for (int i = 0; i < kWrites; ++i) {
    (*ex)->submit([i](Database& db) { return put(db, "k" + std::to_string(i), "v"); },
                  [&ps, i](Status st) { ps[i].set_value(st); });
  }
  for (auto& p : ps) EXPECT_TRUE(p.get_future().get().ok());
  auto stats = (*ex)->stats();
  EXPECT_EQ(stats.writes, static_cast<uint64_t>(kWrites));
  EXPECT_LT(stats.commits, static_cast<uint64_t>(kWrites));  // grouped, not one fsync per write
}

TEST_F(ExecutorTest, FailedWriteRollsBackAloneAndOthersCommit) {
  auto ex = Executor::start({(dir_ / "db").string()}, migrations());
  ASSERT_TRUE(ex.ok());
  std::promise<Status> a, b, c;
  (*ex)->submit([](Database& db) { return put(db, "x", "1"); }, [&](Status s) { a.set_value(s); });
  (*ex)->submit(
      [](Database& db) {
        (void)put(db, "y", "2");
        return put(db, "x", "dup");  // primary key violation: this write fails
      },
      [&](Status s) { b.set_value(s); });
  (*ex)->submit([](Database& db) { return put(db, "z", "3"); }, [&](Status s) { c.set_value(s); });
  EXPECT_TRUE(a.get_future().get().ok());
  EXPECT_FALSE(b.get_future().get().ok());
  EXPECT_TRUE(c.get_future().get().ok());
  std::promise<std::vector<std::string>> keys;
  (*ex)->read([&](Database& db) {
    std::vector<std::string> out;
    auto& q = db.stmt("SELECT k FROM kv ORDER BY k");
    while (q.step()) out.push_back(q.text(0));
    q.reset();
    keys.set_value(out);
  });
  EXPECT_EQ(keys.get_future().get(), (std::vector<std::string>{"x", "z"}));  // "y" rolled back
}

TEST_F(ExecutorTest, CommittedDataSurvivesReopen) {
  {
    auto ex = Executor::start({(dir_ / "db").string()}, migrations());
    ASSERT_TRUE(ex.ok());
    std::promise<Status> p;
    (*ex)->submit([](Database& db) { return put(db, "a", "b"); }, [&](Status s) { p.set_value(s); });
    ASSERT_TRUE(p.get_future().get().ok());
  }
  auto ex = Executor::start({(dir_ / "db").string()}, migrations());  // migration not re-applied
  ASSERT_TRUE(ex.ok()) << ex.status().to_string();
  std::promise<std::string> v;
  (*ex)->read([&](Database& db) {
    auto& q = db.stmt("SELECT v FROM kv WHERE k='a'");
    v.set_value(q.step() ? q.text(0) : "");
    q.reset();
  });
  EXPECT_EQ(v.get_future().get(), "b");
}

// A database at its size cap fails writes as a full disk does: storage_full, the executor
// read-only until its probe finds room again (here: a row deleted).
TEST_F(ExecutorTest, FullStoreIsReportedAndLeftByItselfOnceSpaceIsFreed) {
  ExecutorOptions o{(dir_ / "db").string()};
  o.max_db_bytes = 256 * 1024;
  o.probe_interval = std::chrono::milliseconds(20);
  auto ex = Executor::start(o, migrations());
  ASSERT_TRUE(ex.ok()) << ex.status().to_string();
  auto write = [&](std::function<Status(Database&)> fn) {
    std::promise<Status> p;
    (*ex)->submit(std::move(fn), [&p](Status st) { p.set_value(st); });
    return p.get_future().get();
  };
  const std::string big(40 * 1024, 'x');
  Status st;
  int stored = 0;
  for (int i = 0; i < 100 && st.ok(); ++i) {
    st = write([&, i](Database& db) { return put(db, "k" + std::to_string(i), big); });
    if (st.ok()) ++stored;
  }
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(is_storage_full(st)) << st.to_string();
  EXPECT_EQ(st.http_status(), 503);
  EXPECT_GT(st.retry_after(), 0);
  EXPECT_TRUE((*ex)->full());
  EXPECT_GT(stored, 2);
  bool called = false;
  std::promise<void> writable;
  (*ex)->when_writable([&] {
    called = true;
    writable.set_value();
  });
  EXPECT_FALSE(called);
  // A write that frees pages still runs while full; the probe then finds room.
  EXPECT_TRUE(write([](Database& db) { return db.stmt("DELETE FROM kv WHERE k IN ('k0','k1','k2')").run(); }).ok());
  ASSERT_EQ(writable.get_future().wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_FALSE((*ex)->full());
  EXPECT_TRUE(write([&](Database& db) { return put(db, "again", "small"); }).ok());
}

// A read that stops at its first row (a lookup) must not hold its snapshot: the connection's
// next read sees every commit reported before it was submitted.
TEST_F(ExecutorTest, ALookupThatStopsAtItsFirstRowDoesNotPinItsSnapshot) {
  ExecutorOptions o{(dir_ / "db").string()};
  o.readers = 1;  // every read on the same connection
  auto ex = Executor::start(o, migrations());
  ASSERT_TRUE(ex.ok());
  auto write = [&](const std::string& k) {
    std::promise<Status> p;
    (*ex)->submit([k](Database& db) { return put(db, k, std::string(100'000, 'v')); }, [&](Status s) { p.set_value(s); });
    return p.get_future().get();
  };
  auto lookup = [&](const std::string& k) {
    std::promise<bool> found;
    (*ex)->read([&](Database& db) { found.set_value(db.stmt("SELECT v FROM kv WHERE k >= ?1").bind(1, k).step()); });
    return found.get_future().get();
  };
  ASSERT_TRUE(write("a").ok());
  ASSERT_TRUE(lookup("a"));  // stops at the first row
  ASSERT_TRUE(write("b").ok());
  std::promise<int64_t> count;
  (*ex)->read([&](Database& db) {
    auto& q = db.stmt("SELECT count(*) FROM kv");
    count.set_value(q.step() ? q.int64(0) : -1);
  });
  EXPECT_EQ(count.get_future().get(), 2);
}

}  // namespace cn::store
