// Tracing: W3C trace context (traceparent) and finished spans handed to a Tracer (telemetry/
// exports them over OTLP). The runtime builds spans only when a tracer is set; a Span is a plain
// value owned by whoever times the work, and handed over once, when it ends.
//
// Names and attributes follow OpenTelemetry's GenAI semantic conventions ("invoke_agent NAME",
// "chat MODEL", "execute_tool NAME"; gen_ai.* attributes).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace cn {

// One position in a trace: 32 and 16 lower-case hex digits. Empty = none.
struct SpanContext {
  std::string trace_id, span_id;

  bool valid() const { return trace_id.size() == 32 && span_id.size() == 16; }
  // "00-<trace>-<span>-01".
  std::string traceparent() const;
  // A W3C traceparent header value; nullopt when malformed or all-zero.
  static std::optional<SpanContext> parse(std::string_view traceparent);
};

using SpanValue = std::variant<std::string, int64_t, double, bool, std::vector<std::string>>;

struct Span {
  enum class Kind { internal = 1, server = 2, client = 3 };

  SpanContext ctx;             // this span's trace and id
  std::string parent_span_id;  // "" = a root span
  std::string name;
  Kind kind = Kind::internal;
  int64_t start_ns = 0, end_ns = 0;  // Unix epoch nanoseconds
  std::vector<std::pair<std::string, SpanValue>> attributes;
  std::vector<SpanContext> links;  // related spans elsewhere (the span a handoff came from)
  bool error = false;
  std::string error_message;

  // Starts now, as a child of `parent` (same trace, new span id), or as a new root when
  // `parent` is not valid.
  static Span start(std::string name, const SpanContext& parent, Kind kind = Kind::internal);
  void set(std::string key, SpanValue v) { attributes.emplace_back(std::move(key), std::move(v)); }
  void fail(std::string message) {
    error = true;
    error_message = std::move(message);
  }
  // Stamps the end time. The span is then ready for Tracer::record.
  void end();
};

class Tracer {
 public:
  virtual ~Tracer() = default;
  // Takes a finished span. Thread-safe, never blocks, does no I/O on the caller's thread; a
  // tracer that cannot keep up drops spans (and counts them) rather than growing.
  virtual void record(Span span) = 0;
};

// The trace id the current thread's log lines carry (see LogTrace): "" = none.
const std::string& log_trace_id();

// While alive, log lines written by this thread carry `trace_id` (JSON logs: a "trace_id"
// field; text logs: "trace=<id>"). Scope it around logging calls only, never across a co_await.
class LogTrace {
 public:
  explicit LogTrace(const std::string& trace_id);
  ~LogTrace();
  LogTrace(const LogTrace&) = delete;
  LogTrace& operator=(const LogTrace&) = delete;

 private:
  std::string previous_;
};

}  // namespace cn
