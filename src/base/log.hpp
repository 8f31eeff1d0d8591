// Logging set-up. Components log through spdlog's default logger; messages carry the request id
// where there is one. Secrets (keys, tokens, upstream credentials) are never passed to a logger.
#pragma once

#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string_view>

namespace cn {

// Configures the default logger: level from `level` ("debug", "info", "warn", "error", "off"),
// JSON-ish single-line pattern when `json` is true. Call once at start-up, before threads start.
// Unless stderr is a terminal, lines go through a NonBlockingSink (base/log_sink.hpp): logging
// never waits for stderr's reader; past 4 MiB waiting, lines are dropped and counted.
void init_logging(std::string_view level, bool json);

// A repeated log line, written at most once per interval with the number of times it happened
// since the last one written ("accept failed: Too many open files (x1234 in 1 s)"), so that a
// failure repeating in a tight loop cannot fill the disk with its log. Thread-safe.
class LogThrottle {
 public:
  explicit LogThrottle(std::chrono::milliseconds interval = std::chrono::seconds(1)) : interval_(interval) {}
  // Counts one occurrence; returns how many to report (this one included) when a line is due
  // now, or 0 when the line should be skipped.
  uint64_t tick();

 private:
  const std::chrono::milliseconds interval_;
  std::mutex mu_;
  std::chrono::steady_clock::time_point last_{};  // guarded by mu_
  uint64_t count_ = 0;                             // guarded by mu_
};

// Redacts a credential for display: keeps the first 6 characters and the length.
std::string redact(std::string_view secret);

}  // namespace cn
