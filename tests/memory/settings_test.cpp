// A turn's memory settings (memory/settings.hpp) and a run's nested budget (domain/budget.hpp).
#include "memory/settings.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "domain/budget.hpp"

namespace cn {
namespace {

namespace json = boost::json;

memory::Settings parse_ok(std::string_view text) {
  memory::Settings s;
  Status st = memory::parse_settings(json::parse(text), "memory", s);
  EXPECT_TRUE(st.ok()) << text << ": " << st.message();
  return s;
}

TEST(MemorySettings, ShorthandsAndObjects) {
  EXPECT_EQ(parse_ok("\"auto\""), memory::Settings{});
  EXPECT_EQ(parse_ok("true"), memory::Settings{});
  EXPECT_FALSE(parse_ok("\"off\"").enabled);
  EXPECT_FALSE(parse_ok("false").enabled);
  auto s = parse_ok(R"({"inject": false, "strategies": {"facts": "agent", "preferences": false, "summary": "off"}})");
  EXPECT_TRUE(s.enabled);
  EXPECT_FALSE(s.inject);
  EXPECT_TRUE(s.learn);
  EXPECT_EQ(s.strategies.facts, "agent");
  EXPECT_EQ(s.strategies.preferences, "off");
  EXPECT_EQ(s.strategies.summary, "off");
}

TEST(MemorySettings, CanonicalFormRoundTrips) {
  EXPECT_EQ(memory::settings_json(memory::Settings{}), json::value(true));
  EXPECT_EQ(memory::settings_json(parse_ok("\"off\"")), json::value(false));
  auto s = parse_ok(R"({"learn": false, "strategies": {"facts": "session"}})");
  memory::Settings back;
  ASSERT_TRUE(memory::parse_settings(memory::settings_json(s), "memory", back).ok());
  EXPECT_EQ(back, s);
}

TEST(MemorySettings, ErrorsNameTheKey) {
  for (auto [text, param] : {std::pair{R"({"strategies": {"facts": "planet"}})", "memory.strategies.facts"},
                             std::pair{R"({"strategies": {"moods": "user"}})", "memory.strategies.moods"},
                             std::pair{R"({"inject": 1})", "memory.inject"}, std::pair{R"({"x": 1})", "memory.x"},
                             std::pair{R"("sometimes")", "memory"}, std::pair{"[1]", "memory"},
                             std::pair{R"({"strategies": []})", "memory.strategies"}}) {
    memory::Settings s;
    Status st = memory::parse_settings(json::parse(text), "memory", s);
    EXPECT_EQ(st.code(), Code::invalid_argument) << text;
    EXPECT_EQ(st.param(), param) << text;
  }
}

TEST(Budget, ChildSpendsFromItsParentAndEndsByTheEarlierDeadline) {
  auto now = std::chrono::steady_clock::now();
  auto team = std::make_shared<Budget>(100, now + std::chrono::seconds(10));
  auto child = std::make_shared<Budget>(std::nullopt, now + std::chrono::seconds(60), team);
  EXPECT_EQ(child->deadline(), team->deadline());
  child->spend(60);
  EXPECT_EQ(team->spent(), 60);
  EXPECT_FALSE(child->exhausted());
  team->spend(40);
  EXPECT_TRUE(child->exhausted());  // the team's tokens are gone, though the child has no limit
  auto tight = std::make_shared<Budget>(10, now + std::chrono::seconds(1), std::make_shared<Budget>(std::nullopt, now + std::chrono::seconds(5)));
  EXPECT_EQ(tight->deadline(), now + std::chrono::seconds(1));
  tight->spend(10);
  EXPECT_TRUE(tight->exhausted());
}

}  // namespace
}  // namespace cn
