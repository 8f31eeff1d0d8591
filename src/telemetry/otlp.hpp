// OpenTelemetry trace export over OTLP/HTTP with JSON bodies (POST <endpoint>, normally
// .../v1/traces): spans the runtime records are queued, batched and sent every `interval`, and
// what is left is flushed at shutdown. A queue that is full drops new spans and counts them; a
// collector that fails or is unreachable costs one warning a minute, never a stalled run.
//
// Thread-safety: record() is safe from any thread and never blocks on I/O; the sender runs on
// the io_context given to start().
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include <atomic>
#include <chrono>
#include <deque>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "base/trace.hpp"
#include "http/client.hpp"

namespace cn::telemetry {

struct OtlpOptions {
  std::string endpoint;  // the full URL spans are POSTed to
  std::vector<std::pair<std::string, std::string>> headers;  // e.g. authorization; never logged
  std::string service_name = "continuum";
  std::string service_version;
  std::chrono::milliseconds interval{1000};
  size_t max_queue = 8192;  // spans waiting to be sent
  size_t batch = 512;       // spans per request
};

class OtlpExporter final : public Tracer {
 public:
  OtlpExporter(http::Client& client, OtlpOptions opts);

  void record(Span span) override;
  void start(boost::asio::io_context& io);
  // Sends everything queued (shutdown), then stops the sender.
  boost::asio::awaitable<void> flush_and_stop();

  uint64_t dropped() const { return dropped_.load(); }
  uint64_t exported() const { return exported_.load(); }

  // The OTLP/JSON body (ExportTraceServiceRequest) for `spans`.
  static std::string encode(const std::vector<Span>& spans, const std::string& service_name,
                            const std::string& service_version);

 private:
  boost::asio::awaitable<void> send_loop();
  boost::asio::awaitable<bool> send_some();  // false when the queue was empty

  http::Client& client_;
  OtlpOptions opts_;
  std::mutex mu_;
  std::deque<Span> queue_;  // guarded by mu_
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> dropped_{0}, exported_{0};
  std::chrono::steady_clock::time_point last_warning_{};
};

}  // namespace cn::telemetry
