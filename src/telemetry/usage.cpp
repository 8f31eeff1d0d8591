// UsageLedger (see usage.hpp): the usage_daily table, its upsert with each turn, and queries.
#include "telemetry/usage.hpp"

#include <ctime>

#include "base/clock.hpp"
#include "store/async.hpp"

namespace cn::telemetry {

std::vector<store::Migration> UsageLedger::migrations() {
  return {{"usage", 1, R"sql(
CREATE TABLE usage_daily (
  project_id TEXT NOT NULL,
  day TEXT NOT NULL,
  agent TEXT NOT NULL,
  user_id TEXT NOT NULL,
  model TEXT NOT NULL,
  runs INTEGER NOT NULL,
  failed_runs INTEGER NOT NULL,
  input_tokens INTEGER NOT NULL,
  output_tokens INTEGER NOT NULL,
  cached_tokens INTEGER NOT NULL,
  PRIMARY KEY (project_id, day, agent, user_id, model)
) WITHOUT ROWID;
)sql"}};
}

std::string UsageLedger::day_of(int64_t seconds) { return utc_string(seconds, "%Y-%m-%d"); }

Status UsageLedger::record(store::Database& db, const runtime::TurnRecord& r) {
  auto& st = db.stmt(
      "INSERT INTO usage_daily(project_id, day, agent, user_id, model, runs, failed_runs, input_tokens, output_tokens, cached_tokens)"
      " VALUES (?1,?2,?3,?4,?5,1,?6,?7,?8,?9) ON CONFLICT(project_id, day, agent, user_id, model) DO UPDATE SET"
      " runs = usage_daily.runs + 1, failed_runs = usage_daily.failed_runs + excluded.failed_runs,"
      " input_tokens = usage_daily.input_tokens + excluded.input_tokens,"
      " output_tokens = usage_daily.output_tokens + excluded.output_tokens,"
      " cached_tokens = usage_daily.cached_tokens + excluded.cached_tokens");
  return st.bind(1, r.project).bind(2, day_of(r.at)).bind(3, r.agent).bind(4, r.user).bind(5, r.model)
      .bind(6, static_cast<int64_t>(r.status == "failed" ? 1 : 0)).bind(7, r.usage.input_tokens).bind(8, r.usage.output_tokens)
      .bind(9, r.usage.cached_tokens).run();
}

boost::asio::awaitable<Result<std::vector<UsageRow>>> UsageLedger::query(UsageQuery q) {
  auto rows = std::make_shared<std::vector<UsageRow>>();
  std::function<Status(store::Database&)> fn = [q, rows](store::Database& db) {
    std::string sql =
        "SELECT day, agent, user_id, model, runs, failed_runs, input_tokens, output_tokens, cached_tokens FROM usage_daily"
        " WHERE project_id=?1 AND day >= ?2 AND day <= ?3";
    if (q.agent) sql += " AND agent=?4";
    if (q.user) sql += " AND user_id=?5";
    auto& s = db.stmt(sql);
    s.bind(1, q.project).bind(2, q.from_day).bind(3, q.to_day);
    if (q.agent) s.bind(4, *q.agent);
    if (q.user) s.bind(5, *q.user);
    while (s.step())
      rows->push_back(UsageRow{s.text(0), s.text(1), s.text(2), s.text(3), s.int64(4), s.int64(5), s.int64(6), s.int64(7), s.int64(8)});
    Status st = s.status();
    s.reset();
    return st;
  };
  Status st = co_await store::read_async(store_, std::move(fn));
  if (!st.ok()) co_return st;
  // Cost per stored row (it has one model), then sums by the grouping asked for.
  std::map<std::tuple<std::string, std::string, std::string, std::string>, UsageRow> groups;
  for (auto& r : *rows) {
    auto price = prices_.find(r.model);
    if (price == prices_.end()) {
      r.priced = false;
    } else {
      const Price& p = price->second;
      double cached_price = p.cached_input_per_million >= 0 ? p.cached_input_per_million : p.input_per_million;
      int64_t fresh = std::max<int64_t>(0, r.input_tokens - r.cached_tokens);
      r.cost = (static_cast<double>(fresh) * p.input_per_million + static_cast<double>(r.cached_tokens) * cached_price +
                static_cast<double>(r.output_tokens) * p.output_per_million) / 1e6;
    }
    auto keep = [&](const char* k, const std::string& v) { return q.group_by.count(k) ? v : std::string(); };
    auto key = std::make_tuple(keep("day", r.day), keep("agent", r.agent), keep("user", r.user), keep("model", r.model));
    auto [it, fresh_group] = groups.try_emplace(key, UsageRow{std::get<0>(key), std::get<1>(key), std::get<2>(key), std::get<3>(key)});
    UsageRow& g = it->second;
    g.runs += r.runs;
    g.failed_runs += r.failed_runs;
    g.input_tokens += r.input_tokens;
    g.output_tokens += r.output_tokens;
    g.cached_tokens += r.cached_tokens;
    g.cost += r.cost;
    g.priced = g.priced && r.priced;
  }
  std::vector<UsageRow> out;
  for (auto& [k, v] : groups) out.push_back(std::move(v));
  co_return out;
}

std::string UsageLedger::csv(const std::vector<UsageRow>& rows, const std::set<std::string>& group_by) {
  auto quote = [](const std::string& v) {
    if (v.find_first_of(",\"\r\n") == std::string::npos) return v;
    std::string out = "\"";
    for (char c : v) out += c == '"' ? std::string("\"\"") : std::string(1, c);
    return out + "\"";
  };
  static const char* columns[] = {"day", "agent", "user", "model"};
  std::string out;
  for (const char* c : columns)
    if (group_by.count(c)) out += std::string(c) + ",";
  out += "runs,failed_runs,input_tokens,output_tokens,cached_tokens,cost_usd\r\n";
  for (const auto& r : rows) {
    const std::string* vals[] = {&r.day, &r.agent, &r.user, &r.model};
    for (int i = 0; i < 4; ++i)
      if (group_by.count(columns[i])) out += quote(*vals[i]) + ",";
    char cost[32];
    std::snprintf(cost, sizeof cost, "%.6f", r.cost);
    out += std::to_string(r.runs) + "," + std::to_string(r.failed_runs) + "," + std::to_string(r.input_tokens) + "," +
           std::to_string(r.output_tokens) + "," + std::to_string(r.cached_tokens) + "," + (r.priced ? std::string(cost) : "") + "\r\n";
  }
  return out;
}

}  // namespace cn::telemetry
