// The run loop's server-side tools, through the Tool interface only: a call runs on the server
// with the turn's scope, its result is recorded and fed back to the model, a tool that outlives
// its deadline does not hold the run, and a tool type no source provides is a 400.
#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <boost/json.hpp>

#include <filesystem>

#include "runtime/runtime.hpp"
#include "wire/items.hpp"

namespace cn::runtime {
namespace {

namespace net = boost::asio;
namespace json = boost::json;

// Answers with what it was called with and who for.
class EchoTool final : public tools::Tool {
 public:
  const std::string& name() const override { return name_; }
  json::object definition() const override {
    return {{"type", "function"}, {"name", name_}, {"parameters", json::object{{"type", "object"}}}};
  }
  bool idempotent() const override { return true; }
  ItemType item_type() const override { return ItemType::memory_call; }
  net::awaitable<tools::Outcome> execute(const tools::CallContext& ctx, std::string args) override {
    ++calls;
    co_return tools::Outcome{json::serialize(json::object{{"args", args}, {"user", ctx.user_id}, {"project", ctx.project_id}})};
  }
  int calls = 0;

 private:
  const std::string name_ = "echo";
};

// Sleeps far past any deadline a test sets.
class SleepyTool final : public tools::Tool {
 public:
  const std::string& name() const override { return name_; }
  json::object definition() const override {
    return {{"type", "function"}, {"name", name_}, {"parameters", json::object{{"type", "object"}}}};
  }
  bool idempotent() const override { return false; }
  ItemType item_type() const override { return ItemType::memory_call; }
  net::awaitable<tools::Outcome> execute(const tools::CallContext&, std::string) override {
    net::steady_timer t(co_await net::this_coro::executor, std::chrono::seconds(3));
    co_await t.async_wait(net::as_tuple(net::use_awaitable));
    co_return tools::Outcome{"\"too late\""};
  }

 private:
  const std::string name_ = "sleepy";
};

class TestSource final : public tools::ToolSource {
 public:
  bool provides(std::string_view type) const override { return type == "test"; }
  Status add_tools(const tools::ToolRequest& req, tools::ToolSet& out) override {
    if (req.user_id.empty()) return invalid_param("tools", "test tools need a user");
    if (Status s = out.add(echo); !s.ok()) return s;
    return out.add(sleepy);
  }
  std::shared_ptr<EchoTool> echo = std::make_shared<EchoTool>();
  std::shared_ptr<SleepyTool> sleepy = std::make_shared<SleepyTool>();
};

class ToolLoopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("cn_tools_" + std::to_string(::getpid()) + "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto s = store::Executor::start({(dir_ / "db").string()}, Runtime::migrations());
    ASSERT_TRUE(s.ok()) << s.status().to_string();
    store_ = std::move(*s);
    models_.set_local(model::make_local_provider());
    RuntimeOptions o;
    o.tool_timeout = std::chrono::milliseconds(100);
    o.tool_sources.push_back(source_);
    rt_ = std::make_unique<Runtime>(io_, *store_, models_, o);
  }
  void TearDown() override {
    rt_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  CreateParams turn(const std::string& text) {
    CreateParams p;
    p.scope.project = "proj_t";
    p.model = "continuum-local";
    p.input = *wire::parse_input(json::value(text), "input");
    p.server_tools = {json::object{{"type", "test"}}};
    p.memory_user = "uma";
    return p;
  }
  // Runs a turn to its end; the Response JSON, or the error.
  Result<json::object> complete(CreateParams p) {
    std::optional<Result<json::object>> out;
    net::co_spawn(net::make_strand(io_), [&]() -> net::awaitable<void> {
      auto r = co_await rt_->create(std::move(p));
      if (!r.ok()) {
        out.emplace(r.status());
        co_return;
      }
      co_await (*r)->wait_done();
      out.emplace(json::parse((*r)->snapshot()).as_object());
    }, net::detached);
    io_.restart();
    io_.run();
    return std::move(*out);
  }

  net::io_context io_;
  std::filesystem::path dir_;
  std::unique_ptr<store::Executor> store_;
  model::Registry models_;
  std::shared_ptr<TestSource> source_ = std::make_shared<TestSource>();
  std::unique_ptr<Runtime> rt_;
};

TEST_F(ToolLoopTest, ServerToolRunsInTheLoopWithTheTurnsScope) {
  auto r = complete(turn("please call echo now"));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(source_->echo->calls, 1);
  const auto& out = r->at("output").as_array();
  ASSERT_EQ(out.size(), 2u) << json::serialize(*r);
  EXPECT_EQ(out[0].at("name").as_string(), "echo");
  auto result = json::parse(out[0].at("output").as_string()).as_object();
  EXPECT_EQ(result.at("user").as_string(), "uma");
  EXPECT_EQ(result.at("project").as_string(), "proj_t");
  EXPECT_NE(std::string(result.at("args").as_string()).find("please call echo now"), std::string::npos);
  // The model was called again (with the call and its result) and answered in text.
  EXPECT_EQ(out[1].at("type").as_string(), "message");
  EXPECT_NE(json::serialize(out[1]).find("(continuum-local)"), std::string::npos);
}

TEST_F(ToolLoopTest, ALateToolDoesNotHoldTheRun) {
  auto r = complete(turn("please call sleepy now"));
  ASSERT_TRUE(r.ok()) << r.status().message();
  // The loop gave up at the 100 ms deadline and went on; the sleeping call finished later in
  // the background (io_.run() waits for it), and its answer was dropped.
  const auto& out = r->at("output").as_array();
  ASSERT_GE(out.size(), 1u);
  EXPECT_NE(std::string(out[0].at("output").as_string()).find("did not answer within its deadline"), std::string::npos)
      << json::serialize(*r);
  EXPECT_EQ(r->at("status").as_string(), "completed");
}

TEST_F(ToolLoopTest, UnknownToolTypesAndMissingScopeAre400s) {
  auto p = turn("hi");
  p.server_tools = {json::object{{"type", "nope"}}};
  auto r = complete(std::move(p));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().param(), "tools");
  auto q = turn("hi");
  q.memory_user.clear();
  auto s = complete(std::move(q));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().message(), "test tools need a user");
}

TEST(ToolSet, RefusesDuplicateNamesAndAppendsDefinitions) {
  tools::ToolSet set;
  ASSERT_TRUE(set.add(std::make_shared<EchoTool>()).ok());
  EXPECT_FALSE(set.add(std::make_shared<EchoTool>()).ok());
  EXPECT_NE(set.find("echo"), nullptr);
  EXPECT_EQ(set.find("other"), nullptr);
  auto tools = json::parse(set.with_definitions(R"([{"type":"function","name":"client_fn"}])")).as_array();
  ASSERT_EQ(tools.size(), 2u);
  EXPECT_EQ(tools[1].at("name").as_string(), "echo");
}

}  // namespace
}  // namespace cn::runtime
