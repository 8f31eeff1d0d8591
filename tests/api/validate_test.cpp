#include <gtest/gtest.h>

#include "api/api.hpp"

namespace cn::api {

namespace json = boost::json;

Status parse(const char* body) { return parse_create(json::parse(body)).status(); }

TEST(ParseCreate, AcceptsAFullRequest) {
  auto r = parse_create(json::parse(R"({
    "model":"m","input":"hi","instructions":"be brief","store":true,"temperature":0.5,
    "tools":[{"type":"function","name":"get_weather","parameters":{"type":"object"}}],
    "tool_choice":{"type":"function","name":"get_weather"},"metadata":{"a":"b"},
    "text":{"format":{"type":"json_schema","name":"x","schema":{"type":"object"},"strict":true}},
    "truncation":"auto","max_output_tokens":100,"concurrency":"enqueue","some_future_field":1})"));
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->model, "m");
  EXPECT_TRUE(r->truncation_auto);
  EXPECT_EQ(r->concurrency, runtime::Concurrency::enqueue);
  EXPECT_EQ(r->echo.at("tools").as_array()[0].as_object().at("strict"), true);
  EXPECT_FALSE(r->text_format_json.empty());
}

TEST(ParseCreate, EachBadFieldIsNamed) {
  struct Case {
    const char* body;
    const char* param;
  } cases[] = {
      {R"({"input":"x"})", "model"},
      {R"({"model":5,"input":"x"})", "model"},
      {R"({"model":"m"})", "input"},
      {R"({"model":"m","input":"x","temperature":3})", "temperature"},
      {R"({"model":"m","input":"x","temperature":"hot"})", "temperature"},
      {R"({"model":"m","input":"x","top_p":-1})", "top_p"},
      {R"({"model":"m","input":"x","store":"yes"})", "store"},
      {R"({"model":"m","input":"x","max_output_tokens":1})", "max_output_tokens"},
      {R"({"model":"m","input":"x","max_output_tokens":1.5})", "max_output_tokens"},
      {R"({"model":"m","input":"x","metadata":{"a":1}})", "metadata.a"},
      {R"({"model":"m","input":"x","tools":[{"type":"web_search"}]})", "tools[0].type"},
      {R"({"model":"m","input":"x","tools":[{"type":"function"}]})", "tools[0].name"},
      {R"({"model":"m","input":"x","tool_choice":"sometimes"})", "tool_choice"},
      {R"({"model":"m","input":"x","tool_choice":{"type":"function","name":"nope"}})", "tool_choice.name"},
      {R"({"model":"m","input":"x","truncation":"smart"})", "truncation"},
      {R"({"model":"m","input":"x","text":{"format":{"type":"json_schema","name":"x"}}})", "text.format.schema"},
      {R"({"model":"m","input":"x","previous_response_id":"a b"})", "previous_response_id"},
      {R"({"model":"m","input":"x","previous_response_id":"resp_1","conversation":"conv_1"})", "conversation"},
      {R"({"model":"m","input":"x","background":true,"store":false})", "background"},
      {R"({"model":"m","input":"x","prompt":{"id":"p"}})", "prompt"},
      {R"({"model":"m","input":"x","top_logprobs":21})", "top_logprobs"},
      {R"({"model":"m","input":"x","generate":1})", "generate"},
      {R"({"model":"m","input":"x","context_management":[{"type":"trim"}]})", "context_management[0].type"},
      {R"({"model":"m","input":"x","concurrency":"whenever"})", "concurrency"},
  };
  for (const auto& c : cases) {
    Status st = parse(c.body);
    ASSERT_FALSE(st.ok()) << c.body;
    EXPECT_EQ(st.param(), c.param) << c.body;
    EXPECT_EQ(http_status_of(st), 400) << c.body;
  }
}

TEST(ErrorResponse, OpenAIShapeAndStatus) {
  auto r = error_response(Status(Code::not_found, "Response with id 'x' not found."));
  EXPECT_EQ(r.status, 404);
  auto v = json::parse(r.body).as_object().at("error").as_object();
  EXPECT_EQ(v.at("message"), "Response with id 'x' not found.");
  EXPECT_EQ(v.at("type"), "invalid_request_error");
  EXPECT_TRUE(v.at("param").is_null());
  auto busy = error_response(Status(Code::resource_exhausted, "busy").with_retry_after(2));
  EXPECT_EQ(busy.status, 429);
  ASSERT_EQ(busy.headers.size(), 1u);
  EXPECT_EQ(busy.headers[0].second, "2");
}

}  // namespace cn::api
