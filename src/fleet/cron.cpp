// Cron (see cron.hpp): parsing the five fields, and walking forward to the next match.
#include "fleet/cron.hpp"

#include <ctime>
#include <string>
#include <vector>

namespace cn::fleet {

namespace {

// Sets bits lo..hi of `out` as `field` says; false when it is malformed or out of range.
template <size_t N>
bool parse_field(std::string_view field, int lo, int hi, std::bitset<N>& out, bool& any) {
  any = field == "*";
  size_t start = 0;
  while (start <= field.size()) {
    size_t comma = field.find(',', start);
    std::string_view part = field.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    if (part.empty()) return false;
    int step = 1;
    if (size_t slash = part.find('/'); slash != std::string_view::npos) {
      std::string s(part.substr(slash + 1));
      if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos || s.size() > 3) return false;
      step = std::stoi(s);
      if (step < 1) return false;
      part = part.substr(0, slash);
    }
    int a = lo, b = hi;
    if (part != "*") {
      size_t dash = part.find('-');
      std::string first(part.substr(0, dash)), second(dash == std::string_view::npos ? "" : std::string(part.substr(dash + 1)));
      auto number = [](const std::string& s, int& v) {
        if (s.empty() || s.size() > 2 || s.find_first_not_of("0123456789") != std::string::npos) return false;
        v = std::stoi(s);
        return true;
      };
      if (!number(first, a)) return false;
      b = a;
      if (dash != std::string_view::npos && !number(second, b)) return false;
      if (dash == std::string_view::npos && step > 1) b = hi;  // "a/n": from a to the end
    }
    if (a < lo || b > hi || a > b) return false;
    for (int v = a; v <= b; v += step) out.set(static_cast<size_t>(v));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return true;
}

}  // namespace

Result<Cron> Cron::parse(std::string_view text) {
  std::vector<std::string_view> fields;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && text[i] == ' ') ++i;
    size_t j = text.find(' ', i);
    if (j == std::string_view::npos) j = text.size();
    if (j > i) fields.push_back(text.substr(i, j - i));
    i = j;
  }
  if (fields.size() != 5) return invalid_param("cron", "Invalid 'cron': expected five fields (minute hour day-of-month month day-of-week).");
  Cron c;
  bool any = false;
  if (!parse_field(fields[0], 0, 59, c.minute_, any)) return invalid_param("cron", "Invalid 'cron': the minute field (0-59).");
  if (!parse_field(fields[1], 0, 23, c.hour_, any)) return invalid_param("cron", "Invalid 'cron': the hour field (0-23).");
  if (!parse_field(fields[2], 1, 31, c.dom_, c.dom_any_)) return invalid_param("cron", "Invalid 'cron': the day-of-month field (1-31).");
  if (!parse_field(fields[3], 1, 12, c.month_, any)) return invalid_param("cron", "Invalid 'cron': the month field (1-12).");
  if (!parse_field(fields[4], 0, 7, c.dow_, c.dow_any_)) return invalid_param("cron", "Invalid 'cron': the day-of-week field (0-7).");
  if (c.dow_.test(7)) c.dow_.set(0);
  return c;
}

std::optional<int64_t> Cron::next(int64_t after) const {
  int64_t t = (after / 60 + 1) * 60;
  const int64_t limit = after + int64_t{5} * 366 * 86400;
  while (t <= limit) {
    std::time_t tt = static_cast<std::time_t>(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    bool dom = dom_.test(static_cast<size_t>(tm.tm_mday)), dow = dow_.test(static_cast<size_t>(tm.tm_wday));
    bool day = dom_any_ && dow_any_ ? true : dom_any_ ? dow : dow_any_ ? dom : (dom || dow);
    if (!month_.test(static_cast<size_t>(tm.tm_mon + 1)) || !day) {
      t += (24 * 60 - tm.tm_hour * 60 - tm.tm_min) * 60;  // the next day's midnight
      continue;
    }
    if (!hour_.test(static_cast<size_t>(tm.tm_hour))) {
      t += (60 - tm.tm_min) * 60;  // the next hour
      continue;
    }
    if (!minute_.test(static_cast<size_t>(tm.tm_min))) {
      t += 60;
      continue;
    }
    return t;
  }
  return std::nullopt;
}

}  // namespace cn::fleet
