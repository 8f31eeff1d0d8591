// The runtime against a real SQLite store and the built-in local model, without HTTP.
#include <gtest/gtest.h>

#include <boost/asio.hpp>

#include <filesystem>

#include "identity/keys.hpp"
#include "runtime/runtime.hpp"
#include "wire/items.hpp"

namespace cn::runtime {
namespace {

namespace net = boost::asio;

class RuntimeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("cn_rt_" + std::to_string(::getpid()) + "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    open();
  }
  void TearDown() override {
    rt_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  void open() {
    rt_.reset();
    store_.reset();
    auto s = store::Executor::start({(dir_ / "db").string()}, Runtime::migrations());
    ASSERT_TRUE(s.ok()) << s.status().to_string();
    store_ = std::move(*s);
    models_ = std::make_unique<model::Registry>();
    models_->set_local(model::make_local_provider());
    rt_ = std::make_unique<Runtime>(io_, *store_, *models_, RuntimeOptions{});
    ASSERT_TRUE(rt_->recover().ok());
  }
  // Runs `f` as a coroutine on a strand to completion.
  template <typename T>
  T run(std::function<net::awaitable<T>()> f) {
    std::optional<T> out;
    net::co_spawn(net::make_strand(io_), [&]() -> net::awaitable<void> { out.emplace(co_await f()); },
                  net::detached);
    io_.restart();
    io_.run();
    return std::move(*out);
  }
  CreateParams turn(const std::string& text) {
    CreateParams p;
    p.scope.project = "proj_a";
    p.model = "continuum-local";
    p.input = *wire::parse_input(boost::json::value(text), "input");
    return p;
  }
  Result<std::string> complete(CreateParams p) {
    return run<Result<std::string>>([&]() -> net::awaitable<Result<std::string>> {
      auto r = co_await rt_->create(std::move(p));
      if (!r.ok()) co_return r.status();
      co_await (*r)->wait_done();
      co_return (*r)->id();
    });
  }
  std::string body(const Scope& project, const std::string& id) {
    auto r = run<Result<std::string>>([&]() { return rt_->get_response(project, id); });
    return r.ok() ? *r : "";
  }

  // Awaitable functions keep references to their arguments until awaited: name them.
  const Scope proj_a_{"proj_a", std::nullopt}, proj_b_{"proj_b", std::nullopt};
  const std::string empty_md_ = "{}";
  net::io_context io_;
  std::filesystem::path dir_;
  std::unique_ptr<store::Executor> store_;
  std::unique_ptr<model::Registry> models_;
  std::unique_ptr<Runtime> rt_;
};

TEST_F(RuntimeTest, ChainCarriesContextAcrossRestart) {
  auto a = complete(turn("alpha"));
  ASSERT_TRUE(a.ok());
  auto p = turn("beta");
  p.previous_response_id = *a;
  auto b = complete(std::move(p));
  ASSERT_TRUE(b.ok());
  EXPECT_NE(body(proj_a_, *b).find("3 messages of context"), std::string::npos);

  open();  // a new runtime: the chain now comes from disk
  auto q = turn("gamma");
  q.previous_response_id = *b;
  auto c = complete(std::move(q));
  ASSERT_TRUE(c.ok());
  auto text = body(proj_a_, *c);
  EXPECT_NE(text.find("5 messages of context"), std::string::npos) << text;
  EXPECT_NE(text.find("Your first message was: \\\"alpha\\\""), std::string::npos) << text;
}

TEST_F(RuntimeTest, OtherProjectsSeeNothing) {
  auto a = complete(turn("secret"));
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(run<Result<std::string>>([&]() { return rt_->get_response(proj_a_, *a); }).ok());
  auto other = run<Result<std::string>>([&]() { return rt_->get_response(proj_b_, *a); });
  EXPECT_EQ(other.status().code(), Code::not_found);
  auto p = turn("x");
  p.scope.project = "proj_b";
  p.previous_response_id = *a;
  auto r = complete(std::move(p));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().api_code(), "previous_response_not_found");
}

TEST_F(RuntimeTest, EndUsersSeeOnlyTheirOwnObjects) {
  const Scope alice{"proj_a", "alice"}, bob{"proj_a", "bob"};
  auto p = turn("alice's secret");
  p.scope = alice;
  auto a = complete(std::move(p));
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(run<Result<std::string>>([&]() { return rt_->get_response(alice, *a); }).ok());
  EXPECT_TRUE(run<Result<std::string>>([&]() { return rt_->get_response(proj_a_, *a); }).ok());
  EXPECT_EQ(run<Result<std::string>>([&]() { return rt_->get_response(bob, *a); }).status().code(), Code::not_found);
  // Bob cannot continue, list or delete alice's response.
  auto q = turn("x");
  q.scope = bob;
  q.previous_response_id = *a;
  EXPECT_EQ(complete(std::move(q)).status().api_code(), "previous_response_not_found");
  EXPECT_EQ(run<Result<ItemPage>>([&]() { return rt_->input_items(bob, *a, ListQuery{}); }).status().code(), Code::not_found);
  EXPECT_EQ(run<Result<std::string>>([&]() { return rt_->delete_response(bob, *a); }).status().code(), Code::not_found);
  // The project continues it, and the new turn belongs to alice: bob cannot see it either.
  auto r = turn("continue");
  r.previous_response_id = *a;
  auto b = complete(std::move(r));
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(run<Result<std::string>>([&]() { return rt_->get_response(alice, *b); }).ok());
  EXPECT_EQ(run<Result<std::string>>([&]() { return rt_->get_response(bob, *b); }).status().code(), Code::not_found);
  // Conversations likewise.
  auto conv = run<Result<std::string>>([&]() { return rt_->create_conversation(alice, empty_md_, {}); });
  ASSERT_TRUE(conv.ok());
  auto cid = std::string(boost::json::parse(*conv).at("id").as_string());
  EXPECT_EQ(run<Result<std::string>>([&]() { return rt_->get_conversation(bob, cid); }).status().code(), Code::not_found);
  EXPECT_EQ(run<Result<std::string>>([&]() { return rt_->delete_conversation(bob, cid); }).status().code(), Code::not_found);
  EXPECT_TRUE(run<Result<std::string>>([&]() { return rt_->get_conversation(alice, cid); }).ok());
  auto t = turn("in a conversation");
  t.scope = bob;
  t.conversation_id = cid;
  EXPECT_EQ(complete(std::move(t)).status().code(), Code::not_found);
  // The project's own objects: visible to a key acting for a user, not to a user's own token.
  auto pr = complete(turn("the project's"));
  ASSERT_TRUE(pr.ok());
  const Scope alice_token{"proj_a", "alice", false};
  EXPECT_TRUE(run<Result<std::string>>([&]() { return rt_->get_response(alice, *pr); }).ok());
  EXPECT_EQ(run<Result<std::string>>([&]() { return rt_->get_response(alice_token, *pr); }).status().code(), Code::not_found);
  EXPECT_TRUE(run<Result<std::string>>([&]() { return rt_->get_response(alice_token, *a); }).ok());
}

TEST_F(RuntimeTest, ConversationItemsArePagedInOrder) {
  auto items = *wire::parse_input(boost::json::parse(R"([{"role":"user","content":"one"}])"), "items");
  auto conv = run<Result<std::string>>([&]() { return rt_->create_conversation(proj_a_, empty_md_, std::move(items)); });
  ASSERT_TRUE(conv.ok());
  auto id = std::string(boost::json::parse(*conv).at("id").as_string());
  auto p = turn("two");
  p.conversation_id = id;
  ASSERT_TRUE(complete(std::move(p)).ok());
  ListQuery q;
  q.desc = false;
  q.limit = 2;
  auto page = run<Result<ItemPage>>([&]() { return rt_->list_conversation_items(proj_a_, id, q); });
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->items.size(), 2u);
  EXPECT_EQ(page->items[0]->text(), "one");
  EXPECT_EQ(page->items[1]->text(), "two");
  EXPECT_TRUE(page->has_more);
  q.after = page->items[1]->id;
  auto rest = run<Result<ItemPage>>([&]() { return rt_->list_conversation_items(proj_a_, id, q); });
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->items.size(), 1u);
  EXPECT_EQ(rest->items[0]->role, "assistant");
  EXPECT_FALSE(rest->has_more);
}

TEST_F(RuntimeTest, ContextOverflowIsA400UnlessTruncationIsAuto) {
  models_->set_default_window(100);
  auto big = turn(std::string(600, 'x'));
  auto r = complete(std::move(big));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().api_code(), "context_length_exceeded");
  auto a = complete(turn(std::string(200, 'y')));
  ASSERT_TRUE(a.ok());
  auto p = turn("short");
  p.previous_response_id = *a;
  p.truncation_auto = true;
  auto b = complete(std::move(p));
  ASSERT_TRUE(b.ok()) << b.status().to_string();
  EXPECT_NE(body(proj_a_, *b).find("1 message of context"), std::string::npos);
}

TEST_F(RuntimeTest, IdleStateIsDroppedAndReadBackWhenNeeded) {
  auto pa = turn("alpha");
  pa.stream = true;  // its events are kept for replay
  auto a = complete(std::move(pa));
  ASSERT_TRUE(a.ok());
  auto conv = run<Result<std::string>>([&]() { return rt_->create_conversation(proj_a_, empty_md_, {}); });
  ASSERT_TRUE(conv.ok());
  auto conv_id = boost::json::parse(*conv).at("id").as_string();
  auto pc = turn("in a conversation");
  pc.conversation_id = std::string(conv_id);
  ASSERT_TRUE(complete(std::move(pc)).ok());
  auto before = rt_->stats();
  ASSERT_GE(before.cached_nodes, 1u);
  ASSERT_EQ(before.recent_runs, 1u);
  ASSERT_GT(before.conversation_bytes, 0);

  // Nothing has been idle for an hour.
  EXPECT_FALSE(rt_->drop_idle(std::chrono::steady_clock::now() - std::chrono::hours(1)).any());
  EXPECT_EQ(rt_->stats().cached_nodes, before.cached_nodes);

  auto d = rt_->drop_idle(std::chrono::steady_clock::now() + std::chrono::seconds(1));
  EXPECT_EQ(d.nodes, before.cached_nodes);
  EXPECT_EQ(d.runs, 1u);
  EXPECT_EQ(d.conversations, 1u);
  auto after = rt_->stats();
  EXPECT_EQ(after.cached_nodes, 0u);
  EXPECT_EQ(after.chain_bytes, 0);
  EXPECT_EQ(after.run_events_bytes, 0);
  EXPECT_EQ(after.conversation_bytes, 0);
  store_->release_memory();

  // What was dropped is read back: the chain continues with its context, the streamed run's
  // events replay from the store, the conversation keeps its items.
  auto pb = turn("beta");
  pb.previous_response_id = *a;
  auto b = complete(std::move(pb));
  ASSERT_TRUE(b.ok());
  EXPECT_NE(body(proj_a_, *b).find("3 messages of context"), std::string::npos) << body(proj_a_, *b);
  auto replay = run<Result<std::vector<std::string>>>([&]() -> net::awaitable<Result<std::vector<std::string>>> {
    auto src = co_await rt_->stream_source(proj_a_, *a);
    if (!src.ok()) co_return src.status();
    bool done = false;
    co_return (*src)->events_after(-1, &done);
  });
  ASSERT_TRUE(replay.ok()) << replay.status().to_string();
  ASSERT_FALSE(replay->empty());
  EXPECT_NE(replay->front().find("response.created"), std::string::npos);
  EXPECT_NE(replay->back().find("response.completed"), std::string::npos);
  auto pd = turn("again");
  pd.conversation_id = std::string(conv_id);
  auto dd = complete(std::move(pd));
  ASSERT_TRUE(dd.ok());
  EXPECT_NE(body(proj_a_, *dd).find("3 messages of context"), std::string::npos) << body(proj_a_, *dd);
}

}  // namespace
}  // namespace cn::runtime
