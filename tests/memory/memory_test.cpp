// Memory's hybrid search against a real SQLite store, with the namespace index past its HNSW
// threshold: the lexical side decides membership from the index, other filters read rows.
#include <gtest/gtest.h>

#include <boost/asio.hpp>

#include <filesystem>

#include "memory/memory.hpp"

namespace cn::memory {
namespace {

namespace net = boost::asio;

class MemoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("cn_mem_" + std::to_string(::getpid()) + "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto s = store::Executor::start({(dir_ / "db").string()}, Memory::migrations());
    ASSERT_TRUE(s.ok()) << s.status().to_string();
    store_ = std::move(*s);
    reopen(dir_ / "indexes");
  }
  // A new Memory over the same store, as after a restart; `index_dir` empty = never saves.
  void reopen(const std::filesystem::path& index_dir, size_t budget = size_t{1} << 30) {
    if (mem_) mem_->stop();
    mem_.reset();
    Options o;
    o.index_budget_bytes = budget;
    o.index.hnsw_threshold = 40;  // small namespaces become HNSW indexes too
    o.index_dir = index_dir.string();
    mem_ = std::make_unique<Memory>(io_, *store_, models_, o);
    ASSERT_TRUE(mem_->start().ok());
    io_.restart();
    io_.run_for(std::chrono::milliseconds(200));  // the start-up warm-up
  }
  void TearDown() override {
    mem_->stop();
    mem_.reset();
    store_->stop();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  template <typename T>
  T run(std::function<net::awaitable<T>()> f) {
    std::optional<T> out;
    net::co_spawn(io_, [&]() -> net::awaitable<void> { out.emplace(co_await f()); }, net::detached);
    io_.restart();
    while (!out) io_.run_one();  // the job workers keep the context busy: run until done
    return std::move(*out);
  }
  Record write(const std::string& user, const std::string& text, const std::string& agent = "") {
    Namespace ns{user, agent, ""};
    auto r = run<Result<Record>>([&]() {
      return mem_->write(project_, ns, "fact", text, "{}", Source{"api", "", "", {}});
    });
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    return r.ok() ? *r : Record{};
  }
  std::vector<Record> search(Filter f, const std::string& query, size_t k = 10) {
    auto r = run<Result<std::vector<Record>>>([&]() { return mem_->search(project_, query, f, k); });
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    return r.ok() ? *r : std::vector<Record>{};
  }
  static Filter of_user(const std::string& u) {
    Filter f;
    f.user_id = u;
    return f;
  }

  const std::string project_ = "proj";
  net::io_context io_;
  std::filesystem::path dir_;
  std::unique_ptr<store::Executor> store_;
  model::Registry models_;
  std::unique_ptr<Memory> mem_;
};

TEST_F(MemoryTest, SearchStaysInTheUsersNamespace) {
  for (int i = 0; i < 60; ++i) {
    write("alice", "Alice kayaks in the fjords of Norway, trip " + std::to_string(i));
    write("bob", "Bob kayaks in the fjords of Norway, trip " + std::to_string(i));
  }
  auto warm = search(of_user("alice"), "kayaks fjords");  // loads the namespace index
  auto got = search(of_user("alice"), "kayaks fjords Norway");
  ASSERT_EQ(got.size(), 10u);
  for (const auto& r : got) EXPECT_EQ(r.ns.user_id, "alice") << r.text;
  // A word only bob's records have finds nothing of his for alice.
  write("bob", "Bob keeps a zeppelin collection");
  for (const auto& r : search(of_user("alice"), "zeppelin collection")) EXPECT_EQ(r.ns.user_id, "alice");
  auto bobs = search(of_user("bob"), "zeppelin collection", 1);
  ASSERT_EQ(bobs.size(), 1u);
  EXPECT_EQ(bobs[0].text, "Bob keeps a zeppelin collection");
}

TEST_F(MemoryTest, WritesAndRemovalsAreSeenAtOnce) {
  for (int i = 0; i < 50; ++i) write("carol", "Carol note number " + std::to_string(i) + " about gardening");
  (void)search(of_user("carol"), "gardening");  // an HNSW index is loaded from here on
  auto rec = write("carol", "Carol is allergic to peanuts");
  auto found = search(of_user("carol"), "peanuts allergy", 3);
  ASSERT_FALSE(found.empty());
  EXPECT_EQ(found[0].id, rec.id);
  auto removed = run<Result<Record>>([&]() { return mem_->remove(project_, rec.id); });
  ASSERT_TRUE(removed.ok());
  for (const auto& r : search(of_user("carol"), "peanuts allergic", 10)) EXPECT_NE(r.id, rec.id);
}

TEST_F(MemoryTest, FiltersBeyondTheUserReadRows) {
  for (int i = 0; i < 30; ++i) {
    write("dave", "Dave plays chess openings with agent one " + std::to_string(i), "agent_1");
    write("dave", "Dave plays chess openings with agent two " + std::to_string(i), "agent_2");
  }
  Filter f = of_user("dave");
  f.agent_id = "agent_2";
  auto got = search(f, "chess openings", 10);
  ASSERT_EQ(got.size(), 10u);
  for (const auto& r : got) EXPECT_EQ(r.ns.agent_id, "agent_2");
  // Without a user the vector side scans rows; the filter still holds.
  Filter g;
  g.agent_id = "agent_1";
  for (const auto& r : search(g, "chess openings", 10)) EXPECT_EQ(r.ns.agent_id, "agent_1");
}

TEST_F(MemoryTest, IndexesPastTheBudgetAreDroppedAndReloaded) {
  reopen("", 1);  // room for one index at a time
  for (int i = 0; i < 45; ++i) {
    write("gil", "Gil collects vintage radios, set " + std::to_string(i));
    write("hal", "Hal restores old motorbikes, bike " + std::to_string(i));
  }
  for (int round = 0; round < 3; ++round) {
    auto g = search(of_user("gil"), "vintage radios", 3);
    ASSERT_EQ(g.size(), 3u);
    for (const auto& r : g) EXPECT_EQ(r.ns.user_id, "gil");
    auto h = search(of_user("hal"), "old motorbikes", 3);
    ASSERT_EQ(h.size(), 3u);
    for (const auto& r : h) EXPECT_EQ(r.ns.user_id, "hal");
  }
}

TEST_F(MemoryTest, ANamespaceOutgrowingExactSearchIsRebuiltInTheBackground) {
  for (int i = 0; i < 30; ++i) write("ivan", "Ivan hikes mountain trail " + std::to_string(i));
  ASSERT_EQ(search(of_user("ivan"), "mountain trail", 5).size(), 5u);  // an exact index
  std::vector<Record> late;
  for (int i = 0; i < 20; ++i) late.push_back(write("ivan", "Ivan climbs granite wall " + std::to_string(i)));
  auto during = search(of_user("ivan"), "granite wall", 5);  // past the threshold: starts the rebuild
  ASSERT_EQ(during.size(), 5u);
  auto quick = write("ivan", "Ivan keeps a pet axolotl");  // commits while the rebuild runs
  for (int i = 0; i < 50; ++i) io_.run_for(std::chrono::milliseconds(10));
  auto found = search(of_user("ivan"), "pet axolotl", 1);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].id, quick.id);
  auto removed = run<Result<Record>>([&]() { return mem_->remove(project_, late[0].id); });
  ASSERT_TRUE(removed.ok());
  for (const auto& r : search(of_user("ivan"), "Ivan climbs granite wall 0", 30)) EXPECT_NE(r.id, late[0].id);
}

TEST_F(MemoryTest, SavedIndexIsBroughtUpToDateAfterARestart) {
  std::vector<Record> recs;
  for (int i = 0; i < 60; ++i) recs.push_back(write("erin", "Erin log entry " + std::to_string(i) + " about sailing"));
  (void)search(of_user("erin"), "sailing");
  mem_->stop();  // saves the index
  ASSERT_FALSE(std::filesystem::is_empty(dir_ / "indexes"));
  // Changes the saved file does not know: a process that never saves, as if it was killed.
  reopen("");
  auto added = write("erin", "Erin bought a telescope for stargazing");
  auto gone = run<Result<Record>>([&]() { return mem_->remove(project_, recs[3].id); });
  ASSERT_TRUE(gone.ok());
  std::optional<std::string> text = "Erin moved to Lisbon and surfs at dawn";
  std::optional<std::string> no_md;
  auto upd = run<Result<Record>>([&]() { return mem_->update(project_, recs[5].id, text, no_md); });
  ASSERT_TRUE(upd.ok()) << upd.status().to_string();
  reopen(dir_ / "indexes");  // warms up from the stale file
  auto tele = search(of_user("erin"), "telescope stargazing", 1);
  ASSERT_EQ(tele.size(), 1u);
  EXPECT_EQ(tele[0].id, added.id);
  auto surf = search(of_user("erin"), "Lisbon surfs dawn", 1);
  ASSERT_EQ(surf.size(), 1u);
  EXPECT_EQ(surf[0].id, recs[5].id);
  for (const auto& r : search(of_user("erin"), "Erin log entry 3 about sailing", 20)) EXPECT_NE(r.id, recs[3].id);
}

}  // namespace
}  // namespace cn::memory
