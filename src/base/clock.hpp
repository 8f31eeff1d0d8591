// Time seam. Production code asks a Clock; tests may use ManualClock.
#pragma once

#include <atomic>
#include <string>
#include <cstdint>

namespace cn {

class Clock {
 public:
  virtual ~Clock() = default;
  // Seconds since the Unix epoch (OpenAI's created_at unit).
  virtual int64_t now_seconds() const = 0;
  // Milliseconds since the Unix epoch.
  virtual int64_t now_millis() const = 0;

  // The process-wide system clock. Thread-safe; never destroyed.
  static Clock& system();
};

// A clock that moves only when told. Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t millis = 1'700'000'000'000) : millis_(millis) {}
  int64_t now_seconds() const override { return millis_.load() / 1000; }
  int64_t now_millis() const override { return millis_.load(); }
  void advance_millis(int64_t d) { millis_ += d; }

 private:
  std::atomic<int64_t> millis_;
};

// `seconds` since the epoch formatted in UTC with strftime's `fmt` (e.g. "%Y-%m-%d").
std::string utc_string(int64_t seconds, const char* fmt);

}  // namespace cn
