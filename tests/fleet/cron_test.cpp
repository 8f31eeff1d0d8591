// Cron expressions: parsing, and the next matching minute.
#include "fleet/cron.hpp"

#include <gtest/gtest.h>

using cn::fleet::Cron;

namespace {
// 2026-12-05 07:48:30 UTC, a Saturday.
constexpr int64_t kNow = 1796456910;
int64_t next(const char* expr, int64_t after = kNow) {
  auto c = Cron::parse(expr);
  EXPECT_TRUE(c.ok()) << expr << ": " << c.status().message();
  return c.ok() ? c->next(after).value_or(-1) : -1;
}
}  // namespace

TEST(Cron, EveryMinuteIsTheNextWholeMinute) { EXPECT_EQ(next("* * * * *"), kNow - 30 + 60); }

TEST(Cron, StepsRangesAndLists) {
  EXPECT_EQ(next("*/15 * * * *"), kNow - 30 - 48 * 60 + 60 * 60);  // 08:00
  EXPECT_EQ(next("50-55 7 * * *"), kNow - 30 + 2 * 60);               // 07:50
  EXPECT_EQ(next("0 9,18 * * *"), kNow - 30 - 48 * 60 + 60 * 60 + 3600);  // 09:00
}

TEST(Cron, DaysOfWeekAndMonths) {
  // Next Monday 09:00 (2026-12-07).
  EXPECT_EQ(next("0 9 * * 1"), 1796634000);
  // Sunday as 0 and as 7.
  EXPECT_EQ(next("0 0 * * 0"), next("0 0 * * 7"));
  // January 1st, midnight.
  EXPECT_EQ(next("0 0 1 1 *"), 1798761600);
  // Impossible dates have no next time.
  auto feb30 = Cron::parse("0 0 30 2 *");
  ASSERT_TRUE(feb30.ok());
  EXPECT_FALSE(feb30->next(kNow).has_value());
}

TEST(Cron, MalformedExpressionsNameTheField) {
  for (const char* bad : {"", "* * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *", "* * * * 8", "*/0 * * * *",
                          "a * * * *", "5-1 * * * *", "1,,2 * * * *", "* * * * * *"})
    EXPECT_FALSE(Cron::parse(bad).ok()) << bad;
}
