// The SQLite executor's own case: a database at its size cap (the rest of the store's behaviour is
// the contract suite, contract_test.cpp, run on both backends).
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

}  // namespace cn::store
