// The clock seam: the system clock, and a manual one for tests.
#include "base/clock.hpp"

#include <chrono>
#include <ctime>

namespace cn {

namespace {
class SystemClock final : public Clock {
 public:
  int64_t now_seconds() const override {
    using namespace std::chrono;
    return duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
  }
  int64_t now_millis() const override {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  }
};
}  // namespace

Clock& Clock::system() {
  static SystemClock* clock = new SystemClock();
  return *clock;
}

std::string utc_string(int64_t seconds, const char* fmt) {
  std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  size_t n = std::strftime(buf, sizeof buf, fmt, &tm);
  return std::string(buf, n);
}

}  // namespace cn
