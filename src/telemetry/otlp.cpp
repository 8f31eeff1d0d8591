// OTLP/HTTP JSON trace export: the span queue, the batch encoder and the sender loop.
#include "telemetry/otlp.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include "base/log.hpp"

namespace cn::telemetry {

namespace net = boost::asio;
namespace json = boost::json;

namespace {

json::object any_value(const SpanValue& v) {
  json::object o;
  if (auto* s = std::get_if<std::string>(&v)) {
    o["stringValue"] = *s;
  } else if (auto* i = std::get_if<int64_t>(&v)) {
    o["intValue"] = std::to_string(*i);  // int64 is a string in OTLP/JSON
  } else if (auto* d = std::get_if<double>(&v)) {
    o["doubleValue"] = *d;
  } else if (auto* b = std::get_if<bool>(&v)) {
    o["boolValue"] = *b;
  } else {
    json::array values;
    for (const auto& s : std::get<std::vector<std::string>>(v)) values.push_back(json::object{{"stringValue", s}});
    o["arrayValue"] = json::object{{"values", std::move(values)}};
  }
  return o;
}

json::array attributes(const std::vector<std::pair<std::string, SpanValue>>& attrs) {
  json::array out;
  for (const auto& [k, v] : attrs) out.push_back(json::object{{"key", k}, {"value", any_value(v)}});
  return out;
}

}  // namespace

OtlpExporter::OtlpExporter(http::Client& client, OtlpOptions opts) : client_(client), opts_(std::move(opts)) {}

void OtlpExporter::record(Span span) {
  std::lock_guard lk(mu_);
  if (queue_.size() >= opts_.max_queue) {
    dropped_.fetch_add(1);
    return;
  }
  queue_.push_back(std::move(span));
}

std::string OtlpExporter::encode(const std::vector<Span>& spans, const std::string& service_name,
                                 const std::string& service_version) {
  json::array out;
  for (const auto& s : spans) {
    json::object o{{"traceId", s.ctx.trace_id},
                   {"spanId", s.ctx.span_id},
                   {"name", s.name},
                   {"kind", static_cast<int>(s.kind)},
                   {"startTimeUnixNano", std::to_string(s.start_ns)},
                   {"endTimeUnixNano", std::to_string(s.end_ns)},
                   {"attributes", attributes(s.attributes)}};
    if (!s.parent_span_id.empty()) o["parentSpanId"] = s.parent_span_id;
    if (!s.links.empty()) {
      json::array links;
      for (const auto& l : s.links) links.push_back(json::object{{"traceId", l.trace_id}, {"spanId", l.span_id}});
      o["links"] = std::move(links);
    }
    // Status codes: 0 unset, 1 ok, 2 error.
    o["status"] = s.error ? json::object{{"code", 2}, {"message", s.error_message}} : json::object{{"code", 1}};
    out.push_back(std::move(o));
  }
  std::vector<std::pair<std::string, SpanValue>> resource{{"service.name", service_name}};
  if (!service_version.empty()) resource.emplace_back("service.version", service_version);
  json::object scope{{"name", "continuum"}};
  if (!service_version.empty()) scope["version"] = service_version;
  json::object body{
      {"resourceSpans",
       json::array{json::object{{"resource", json::object{{"attributes", attributes(resource)}}},
                                {"scopeSpans", json::array{json::object{{"scope", std::move(scope)}, {"spans", std::move(out)}}}}}}}};
  return json::serialize(body);
}

void OtlpExporter::start(net::io_context& io) { net::co_spawn(io, send_loop(), net::detached); }

net::awaitable<bool> OtlpExporter::send_some() {
  std::vector<Span> batch;
  {
    std::lock_guard lk(mu_);
    while (!queue_.empty() && batch.size() < opts_.batch) {
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
  }
  if (batch.empty()) co_return false;
  http::ClientRequest req;
  req.url = opts_.endpoint;
  req.headers = opts_.headers;
  req.headers.emplace_back("content-type", "application/json");
  req.body = encode(batch, opts_.service_name, opts_.service_version);
  req.timeout = std::chrono::milliseconds(10'000);
  req.max_body = 64 * 1024;
  auto res = co_await client_.call(std::move(req));
  std::string problem;
  if (!res.ok()) problem = res.status().message();
  else if (res->status / 100 != 2) problem = "HTTP " + std::to_string(res->status);
  if (problem.empty()) {
    exported_.fetch_add(batch.size());
  } else {
    dropped_.fetch_add(batch.size());
    auto now = std::chrono::steady_clock::now();
    if (now - last_warning_ > std::chrono::minutes(1)) {
      last_warning_ = now;
      spdlog::warn("trace export to {} failed ({}); {} spans dropped", opts_.endpoint, problem, batch.size());
    }
    co_return false;  // try again at the next interval
  }
  co_return true;
}

net::awaitable<void> OtlpExporter::send_loop() {
  auto ex = co_await net::this_coro::executor;
  net::steady_timer timer(ex);
  while (!stopping_) {
    timer.expires_after(opts_.interval);
    co_await timer.async_wait(net::as_tuple(net::use_awaitable));
    while (!stopping_) {
      bool more = co_await send_some();
      if (!more) break;
    }
  }
}

net::awaitable<void> OtlpExporter::flush_and_stop() {
  stopping_ = true;
  for (;;) {
    bool more = co_await send_some();
    if (!more) break;
  }
}

}  // namespace cn::telemetry
