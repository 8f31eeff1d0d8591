// Usage routes: GET /v1/usage — tokens and estimated cost of the caller's project, by day,
// agent, end user and model, as JSON or CSV (admin scope).
#include <boost/asio.hpp>

#include <regex>
#include <sstream>

#include "api/route_prelude.hpp"
#include "telemetry/usage.hpp"

namespace cn::api {

namespace {

constexpr int64_t kDay = 86400;

bool valid_day(std::string_view d) {
  static const std::regex re(R"(\d{4}-\d{2}-\d{2})");
  return std::regex_match(d.begin(), d.end(), re);
}

awaitable<Response> get_usage(telemetry::UsageLedger& ledger, identity::Authenticator& auth, Request& req) {
  auto who = co_await authorize(req, auth, identity::kAdmin);
  if (!who.ok()) co_return error_response(who.status());
  telemetry::UsageQuery q;
  q.project = who->project_id;
  int64_t now = static_cast<int64_t>(std::time(nullptr));
  q.to_day = telemetry::UsageLedger::day_of(now);
  q.from_day = telemetry::UsageLedger::day_of(now - 30 * kDay);
  for (auto [name, dst] : {std::pair{"start", &q.from_day}, {"end", &q.to_day}})
    if (auto v = req.query_param(name)) {
      if (!valid_day(*v)) co_return error_response(invalid_param(name, std::string("Invalid '") + name + "': expected a date, YYYY-MM-DD."));
      *dst = std::string(*v);
    }
  if (q.from_day > q.to_day) co_return error_response(invalid_param("start", "Invalid 'start': after 'end'."));
  std::string group = std::string(req.query_param("group_by").value_or("day"));
  std::stringstream parts(group);
  for (std::string g; std::getline(parts, g, ',');) {
    if (g != "day" && g != "agent" && g != "user" && g != "model")
      co_return error_response(invalid_param("group_by", "Invalid 'group_by': a comma-separated list of day, agent, user and model."));
    q.group_by.insert(g);
  }
  if (auto a = req.query_param("agent")) q.agent = std::string(*a);
  if (auto u = req.query_param("user")) q.user = std::string(*u);
  std::string format = std::string(req.query_param("format").value_or("json"));
  if (format != "json" && format != "csv") co_return error_response(invalid_param("format", "Invalid 'format': 'json' or 'csv'."));
  std::set<std::string> group_by = q.group_by;
  auto rows = co_await ledger.query(std::move(q));
  if (!rows.ok()) co_return error_response(rows.status());
  if (format == "csv") {
    Response r;
    r.status = 200;
    r.content_type = "text/csv; charset=utf-8";
    r.body = telemetry::UsageLedger::csv(*rows, group_by);
    r.headers.emplace_back("Content-Disposition", "attachment; filename=\"usage.csv\"");
    co_return r;
  }
  json::array data;
  for (const auto& r : *rows) {
    json::object o;
    if (group_by.count("day")) o["day"] = r.day;
    if (group_by.count("agent")) o["agent"] = r.agent;
    if (group_by.count("user")) o["user"] = r.user;
    if (group_by.count("model")) o["model"] = r.model;
    o["runs"] = r.runs;
    o["failed_runs"] = r.failed_runs;
    o["input_tokens"] = r.input_tokens;
    o["output_tokens"] = r.output_tokens;
    o["cached_tokens"] = r.cached_tokens;
    o["cost_usd"] = r.priced ? json::value(r.cost) : json::value(nullptr);
    data.push_back(std::move(o));
  }
  co_return Response::json(200, json::serialize(json::object{{"object", "list"}, {"data", std::move(data)}, {"has_more", false}}));
}

}  // namespace

void install_usage(http::Router& router, telemetry::UsageLedger& ledger, identity::Authenticator& auth) {
  router.add("GET", "/v1/usage", [&ledger, &auth](Request& req, Stream&) { return get_usage(ledger, auth, req); });
}

}  // namespace cn::api
