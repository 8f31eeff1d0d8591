// The clock seam: the system clock, and a manual one for tests.
#include "base/clock.hpp"

#include <chrono>

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

}  // namespace cn
