// W3C traceparent parsing and the OTLP/JSON encoding of spans.
#include "base/trace.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "telemetry/otlp.hpp"

namespace cn {
namespace {

TEST(Traceparent, ParsesValidAndRejectsMalformed) {
  auto sc = SpanContext::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  ASSERT_TRUE(sc);
  EXPECT_EQ(sc->trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(sc->span_id, "00f067aa0ba902b7");
  EXPECT_EQ(sc->traceparent(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  // A later version may append fields; version 00 may not.
  EXPECT_TRUE(SpanContext::parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-extra"));
  for (const char* bad : {"", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
                          "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                          "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                          "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
                          "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                          "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01", "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01"})
    EXPECT_FALSE(SpanContext::parse(bad)) << bad;
}

TEST(Span, ChildrenShareTheTraceRootsStartOne) {
  Span root = Span::start("root", SpanContext{});
  EXPECT_TRUE(root.ctx.valid());
  EXPECT_TRUE(root.parent_span_id.empty());
  Span child = Span::start("child", root.ctx);
  EXPECT_EQ(child.ctx.trace_id, root.ctx.trace_id);
  EXPECT_EQ(child.parent_span_id, root.ctx.span_id);
  EXPECT_NE(child.ctx.span_id, root.ctx.span_id);
  EXPECT_NE(Span::start("other", SpanContext{}).ctx.trace_id, root.ctx.trace_id);
}

TEST(Otlp, EncodesSpansAsExportTraceServiceRequestJson) {
  Span s = Span::start("chat m", SpanContext{}, Span::Kind::client);
  s.set("gen_ai.usage.input_tokens", int64_t{12});
  s.set("gen_ai.response.finish_reasons", std::vector<std::string>{"stop"});
  s.set("flag", true);
  s.links.push_back(SpanContext{std::string(32, 'a'), std::string(16, 'b')});
  s.fail("boom \"quoted\"");
  s.end();
  auto v = boost::json::parse(telemetry::OtlpExporter::encode({s}, "svc", "1.2"));
  const auto& rs = v.at("resourceSpans").at(0);
  EXPECT_EQ(rs.at("resource").at("attributes").at(0).at("value").at("stringValue"), "svc");
  const auto& ss = rs.at("scopeSpans").at(0);
  EXPECT_EQ(ss.at("scope").at("version"), "1.2");
  const auto& span = ss.at("spans").at(0);
  EXPECT_EQ(span.at("traceId").as_string(), s.ctx.trace_id);
  EXPECT_EQ(span.at("kind"), 3);
  EXPECT_FALSE(span.as_object().contains("parentSpanId"));
  EXPECT_EQ(span.at("startTimeUnixNano").as_string(), std::to_string(s.start_ns));
  EXPECT_EQ(span.at("attributes").at(0).at("value").at("intValue"), "12");
  EXPECT_EQ(span.at("attributes").at(1).at("value").at("arrayValue").at("values").at(0).at("stringValue"), "stop");
  EXPECT_EQ(span.at("attributes").at(2).at("value").at("boolValue"), true);
  EXPECT_EQ(span.at("links").at(0).at("spanId").as_string(), std::string(16, 'b'));
  EXPECT_EQ(span.at("status").at("code"), 2);
  EXPECT_EQ(span.at("status").at("message"), "boom \"quoted\"");
}

TEST(Otlp, AFullQueueDropsNewSpansAndCountsThem) {
  http::Client client;
  telemetry::OtlpOptions o;
  o.endpoint = "http://127.0.0.1:9/v1/traces";
  o.max_queue = 4;
  telemetry::OtlpExporter exporter(client, o);  // not started: nothing leaves the queue
  for (int i = 0; i < 10; ++i) {
    Span s = Span::start("chat m", SpanContext{}, Span::Kind::client);
    s.end();
    exporter.record(std::move(s));
  }
  EXPECT_EQ(exporter.dropped(), 6u);
  EXPECT_EQ(exporter.exported(), 0u);
}

}  // namespace
}  // namespace cn
