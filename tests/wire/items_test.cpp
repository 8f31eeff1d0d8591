#include <gtest/gtest.h>

#include "wire/items.hpp"

namespace cn::wire {

TEST(ParseInput, StringBecomesUserMessage) {
  auto r = parse_input(json::value("hi"), "input");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].role, "user");
  EXPECT_EQ((*r)[0].text(), "hi");
  auto w = json::parse((*r)[0].wire).as_object();
  EXPECT_EQ(w.at("type"), "message");
  EXPECT_EQ(w.at("content").as_array()[0].as_object().at("type"), "input_text");
}

TEST(ParseInput, ErrorsNameTheExactPath) {
  struct Case {
    const char* json;
    const char* param;
  } cases[] = {
      {R"([{"role":"user"}])", "input[0].content"},
      {R"([{"role":"robot","content":"x"}])", "input[0].role"},
      {R"([{"role":"assistant","content":[{"type":"input_text","text":"x"}]}])", "input[0].content[0].type"},
      {R"([{"type":"function_call_output","output":"x"}])", "input[0].call_id"},
      {R"([{"type":"function_call","call_id":"c","name":"f","arguments":{}}])", "input[0].arguments"},
      {R"([{"type":"item_reference"}])", "input[0].id"},
      {R"([{"type":"compaction"}])", "input[0].encrypted_content"},
      {R"([1])", "input[0]"},
      {R"(5)", "input"},
  };
  for (const auto& c : cases) {
    auto r = parse_input(json::parse(c.json), "input");
    ASSERT_FALSE(r.ok()) << c.json;
    EXPECT_EQ(r.status().param(), c.param) << c.json;
    EXPECT_EQ(r.status().code(), Code::invalid_argument);
  }
}

TEST(ParseInput, RoundTripsThroughStoredForm) {
  auto r = parse_input(json::parse(R"([
    {"role":"user","content":[{"type":"input_text","text":"a"},{"type":"input_image","image_url":"data:x","detail":"low"}]},
    {"type":"function_call","call_id":"call_1","name":"f","arguments":"{}"},
    {"type":"function_call_output","call_id":"call_1","output":"42"}])"), "input");
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  for (const auto& it : *r) {
    auto back = item_from_wire(it.wire);
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(back->wire, it.wire);
    EXPECT_EQ(back->text(), it.text());
    EXPECT_EQ(back->call_id, it.call_id);
  }
  // The image part is kept as sent.
  EXPECT_NE((*r)[0].wire.find("\"image_url\":\"data:x\""), std::string::npos);
}

}  // namespace cn::wire
