// Usage: tokens and estimated cost per project, day (UTC), agent, end user and model. Every
// ended turn is counted in the transaction that stores it (runtime::TurnLedger), so the ledger
// holds exactly what was stored, and survives what the turn survives; a turn with store: false
// is counted by a write of its own. Queried by range and grouping; exported as CSV.
//
// Cost is an estimate from the configured price table (per million tokens, by model; cached
// input tokens at their own price when one is given). Models without a price count tokens and
// report no cost.
//
// Thread-safety: record() runs on the store's writer; query() is safe from any coroutine.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "runtime/observer.hpp"
#include "store/executor.hpp"

namespace cn::telemetry {

struct Price {
  double input_per_million = 0, output_per_million = 0;
  double cached_input_per_million = -1;  // < 0: cached input at the input price
};

struct UsageRow {
  std::string day, agent, user, model;  // "" where not grouped
  int64_t runs = 0, failed_runs = 0, input_tokens = 0, output_tokens = 0, cached_tokens = 0;
  double cost = 0;
  bool priced = true;  // every model in the row has a price
};

struct UsageQuery {
  std::string project;
  std::string from_day, to_day;  // inclusive, YYYY-MM-DD
  std::set<std::string> group_by;  // of day, agent, user, model
  std::optional<std::string> agent, user;
};

class UsageLedger final : public runtime::TurnLedger {
 public:
  UsageLedger(store::Executor& store, std::map<std::string, Price> prices) : store_(store), prices_(std::move(prices)) {}
  static std::vector<store::Migration> migrations();

  Status record(store::Database& db, const runtime::TurnRecord& r) override;

  boost::asio::awaitable<Result<std::vector<UsageRow>>> query(UsageQuery q);

  // RFC 4180 CSV: a header, then one line per row (the grouped columns, then the sums).
  static std::string csv(const std::vector<UsageRow>& rows, const std::set<std::string>& group_by);
  // "YYYY-MM-DD" of a time (UTC).
  static std::string day_of(int64_t seconds);

 private:
  store::Executor& store_;
  const std::map<std::string, Price> prices_;
};

}  // namespace cn::telemetry
