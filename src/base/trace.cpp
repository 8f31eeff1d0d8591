// W3C trace context, span ids and timing, and the trace id that log lines carry.
#include "base/trace.hpp"

#include <sodium.h>

#include <chrono>

namespace cn {

namespace {

std::string random_hex(size_t bytes) {
  unsigned char buf[16];
  std::string out;
  do {
    randombytes_buf(buf, bytes);
    out.clear();
    static constexpr char kHex[] = "0123456789abcdef";
    for (size_t i = 0; i < bytes; ++i) {
      out += kHex[buf[i] >> 4];
      out += kHex[buf[i] & 15];
    }
  } while (out.find_first_not_of('0') == std::string::npos);  // all-zero ids are invalid
  return out;
}

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool lower_hex(std::string_view s) {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return s.find_first_not_of('0') != std::string_view::npos;
}

thread_local std::string t_log_trace;

}  // namespace

std::string SpanContext::traceparent() const { return "00-" + trace_id + "-" + span_id + "-01"; }

std::optional<SpanContext> SpanContext::parse(std::string_view v) {
  // version "-" trace-id "-" parent-id "-" flags; version ff is invalid; later versions may
  // append fields after the flags.
  if (v.size() < 55 || v[2] != '-' || v[35] != '-' || v[52] != '-') return std::nullopt;
  if (v.size() > 55 && (v.substr(0, 2) == "00" || v[55] != '-')) return std::nullopt;
  std::string_view version = v.substr(0, 2), trace = v.substr(3, 32), span = v.substr(36, 16), flags = v.substr(53, 2);
  auto hex = [](std::string_view s) { return s.find_first_not_of("0123456789abcdef") == std::string_view::npos; };
  if (!hex(version) || version == "ff" || !hex(flags) || !lower_hex(trace) || !lower_hex(span)) return std::nullopt;
  return SpanContext{std::string(trace), std::string(span)};
}

Span Span::start(std::string name, const SpanContext& parent, Kind kind) {
  Span s;
  s.name = std::move(name);
  s.kind = kind;
  s.ctx.trace_id = parent.valid() ? parent.trace_id : random_hex(16);
  s.ctx.span_id = random_hex(8);
  if (parent.valid()) s.parent_span_id = parent.span_id;
  s.start_ns = now_ns();
  return s;
}

void Span::end() { end_ns = now_ns(); }

const std::string& log_trace_id() { return t_log_trace; }

LogTrace::LogTrace(const std::string& trace_id) : previous_(std::move(t_log_trace)) { t_log_trace = trace_id; }

LogTrace::~LogTrace() { t_log_trace = std::move(previous_); }

}  // namespace cn
