// Cron expressions, the five standard fields (minute hour day-of-month month day-of-week, UTC):
// `*`, numbers, ranges `a-b`, lists `a,b`, steps `*/n` and `a-b/n`; day-of-week 0-7 (0 and 7
// are Sunday). As in cron, when both day fields are restricted a day matching either runs.
//
// Thread-safety: a parsed Cron is an immutable value.
#pragma once

#include <bitset>
#include <cstdint>
#include <optional>
#include <string_view>

#include "base/status.hpp"

namespace cn::fleet {

class Cron {
 public:
  // invalid_argument naming the field that is wrong.
  static Result<Cron> parse(std::string_view text);
  // The first minute strictly after `after` (seconds since the epoch) that matches; nullopt if
  // none within about five years (e.g. February 30th).
  std::optional<int64_t> next(int64_t after) const;

 private:
  std::bitset<60> minute_;
  std::bitset<24> hour_;
  std::bitset<32> dom_;
  std::bitset<13> month_;
  std::bitset<8> dow_;
  bool dom_any_ = true, dow_any_ = true;
};

}  // namespace cn::fleet
