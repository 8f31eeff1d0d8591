// Promotion gates (see evals.hpp: Gate): stored per agent alias, and the side-by-side comparison
// an alias move runs before it is allowed: the gate's eval run once as the candidate version and
// once as the current one, on the same data source.
#include "evals/impl.hpp"

#include <future>

#include "base/clock.hpp"
#include "base/log.hpp"

namespace cn::evals {

namespace {

std::string gate_key(const std::string& project, const std::string& agent, const std::string& alias) {
  return project + "\x1f" + agent + "\x1f" + alias;
}

double number_or(const json::object& o, std::string_view k, double d) {
  auto* v = o.if_contains(k);
  return v && v->is_number() ? v->to_number<double>() : d;
}

// The share of a run's items that passed (0 without items).
double score_of(const json::object& run) {
  const auto& c = run.at("result_counts").as_object();
  int64_t total = c.at("total").as_int64();
  return total ? static_cast<double>(c.at("passed").as_int64()) / static_cast<double>(total) : 0.0;
}

}  // namespace

json::object gate_json(const Gate& g) {
  return json::object{{"object", "agent.gate"}, {"agent", g.agent}, {"alias", g.alias}, {"eval_id", g.eval_id},
                      {"data_source", g.data_source}, {"tolerance", g.tolerance}, {"min_score", g.min_score}, {"created_at", g.created_at}};
}

boost::asio::awaitable<Result<Gate>> Evals::put_gate(std::string project, std::string agent, std::string alias, json::object body) {
  for (const auto& [k, v] : body)
    if (k != "eval_id" && k != "data_source" && k != "tolerance" && k != "min_score")
      co_return invalid_param(std::string(k), "Unknown parameter: '" + std::string(k) + "'.", "unknown_parameter");
  auto* id = body.if_contains("eval_id");
  if (!id || !id->is_string()) co_return invalid_param("eval_id", "Missing required parameter: 'eval_id'.", "missing_required_parameter");
  auto eval = co_await get(project, std::string(id->as_string()));
  if (!eval.ok()) co_return eval.status();
  for (const char* k : {"tolerance", "min_score"})
    if (auto* v = body.if_contains(k); v && !v->is_null() && (!v->is_number() || v->to_number<double>() < 0 || v->to_number<double>() > 1))
      co_return invalid_param(k, std::string("Invalid '") + k + "': expected a number from 0 to 1 (a share of the items).");
  auto* ds = body.if_contains("data_source");
  if (!ds || !ds->is_object()) co_return invalid_param("data_source", "Missing required parameter: 'data_source' (a run's data source).", "missing_required_parameter");
  auto* im = ds->as_object().if_contains("input_messages");
  if (!im || !im->is_object())
    co_return invalid_param("data_source.input_messages", "A gate samples each version: its data source needs 'input_messages'.", "missing_required_parameter");
  // The data source is checked as a run's, with the agent as its model.
  json::object probe = ds->as_object();
  probe["model"] = "agent:" + agent + "@v1";
  if (Status s = check_run_data_source(probe); !s.ok()) co_return s;
  Gate g;
  g.project = project;
  g.agent = agent;
  g.alias = alias;
  g.eval_id = std::string(id->as_string());
  g.data_source = ds->as_object();
  g.data_source.erase("model");
  g.tolerance = number_or(body, "tolerance", 0);
  g.min_score = number_or(body, "min_score", 0);
  g.created_at = Clock::system().now_seconds();
  std::string text = json::serialize(gate_json(g));
  std::function<Status(store::Database&)> put = [project, agent, alias, text](store::Database& db) {
    return db.stmt("INSERT OR REPLACE INTO agent_gates(project_id, agent, alias, body) VALUES (?1,?2,?3,?4)")
        .bind(1, project).bind(2, agent).bind(3, alias).bind(4, text).run();
  };
  put = store::announced("cfg:gates", std::move(put));
  if (Status st = co_await write_async(store_, std::move(put)); !st.ok()) co_return st;
  std::lock_guard lk(mu_);
  gates_[gate_key(project, agent, alias)] = g;
  co_return g;
}

std::optional<Gate> Evals::gate(const std::string& project, const std::string& agent, const std::string& alias) const {
  std::lock_guard lk(mu_);
  auto it = gates_.find(gate_key(project, agent, alias));
  if (it == gates_.end()) return std::nullopt;
  return it->second;
}

boost::asio::awaitable<Status> Evals::delete_gate(std::string project, std::string agent, std::string alias) {
  if (!gate(project, agent, alias)) co_return Status(Code::not_found, "Alias '" + alias + "' of agent '" + agent + "' has no gate.");
  std::function<Status(store::Database&)> del = [project, agent, alias](store::Database& db) {
    return db.stmt("DELETE FROM agent_gates WHERE project_id=?1 AND agent=?2 AND alias=?3").bind(1, project).bind(2, agent).bind(3, alias).run();
  };
  del = store::announced("cfg:gates", std::move(del));
  if (Status st = co_await write_async(store_, std::move(del)); !st.ok()) co_return st;
  std::lock_guard lk(mu_);
  gates_.erase(gate_key(project, agent, alias));
  co_return Status();
}

Status Evals::load_gates() {
  std::promise<Status> done;
  std::vector<Gate> loaded;
  store_.submit(
      [&loaded](store::Database& db) -> Status {
        auto& q = db.stmt("SELECT project_id, body FROM agent_gates");
        while (q.step()) {
          boost::system::error_code ec;
          auto v = json::parse(q.text(1), ec);
          if (ec || !v.is_object()) continue;
          const auto& o = v.as_object();
          Gate g;
          g.project = q.text(0);
          g.agent = std::string(o.at("agent").as_string());
          g.alias = std::string(o.at("alias").as_string());
          g.eval_id = std::string(o.at("eval_id").as_string());
          g.data_source = o.at("data_source").as_object();
          g.tolerance = number_or(o, "tolerance", 0);
          g.min_score = number_or(o, "min_score", 0);
          g.created_at = o.at("created_at").as_int64();
          loaded.push_back(std::move(g));
        }
        Status st = q.status();
        q.reset();
        return st;
      },
      [&done](Status st) { done.set_value(std::move(st)); });
  Status st = done.get_future().get();
  if (!st.ok()) return st;
  decltype(gates_) m;
  for (auto& g : loaded) m[gate_key(g.project, g.agent, g.alias)] = std::move(g);
  std::lock_guard lk(mu_);
  gates_ = std::move(m);  // the whole table: a gate deleted on another node goes too
  return {};
}

boost::asio::awaitable<Result<GateResult>> Evals::check_gate(Gate g, int64_t candidate, std::optional<int64_t> current) {
  if (!sampler_) co_return Status(Code::unavailable, "This server has no agents to sample.");
  Scope scope;
  scope.project = g.project;
  // Both runs start before either is awaited: they run side by side.
  std::vector<std::pair<int64_t, std::string>> runs;
  std::vector<int64_t> versions{candidate};
  if (current) versions.push_back(*current);
  for (int64_t v : versions) {
    json::object ds = g.data_source;
    ds["model"] = "agent:" + g.agent + "@v" + std::to_string(v);
    json::object body{{"name", "gate " + g.agent + "@" + g.alias + ": v" + std::to_string(v)}, {"data_source", std::move(ds)},
                      {"metadata", json::object{{"gate", g.agent + "@" + g.alias}, {"version", std::to_string(v)}}}};
    auto run = co_await create_run(scope, g.eval_id, std::move(body));
    if (!run.ok()) co_return run.status();
    runs.emplace_back(v, std::string(json::parse(*run).as_object().at("id").as_string()));
  }
  auto ex = co_await net::this_coro::executor;
  net::steady_timer timer(ex);
  GateResult out;
  json::object side[2];
  for (size_t i = 0; i < runs.size(); ++i) {
    json::object run;
    for (int waited = 0;; ++waited) {
      auto r = co_await get_run(g.project, g.eval_id, runs[i].second);
      if (!r.ok()) co_return r.status();
      run = json::parse(*r).as_object();
      if (run.at("status") != "queued" && run.at("status") != "in_progress") break;
      if (waited > 6000) co_return Status(Code::deadline_exceeded, "The gate's eval runs did not finish within 10 minutes.");
      timer.expires_after(std::chrono::milliseconds(100));
      co_await timer.async_wait(net::as_tuple(net::use_awaitable));
    }
    side[i] = json::object{{"version", runs[i].first}, {"run_id", runs[i].second}, {"status", run.at("status")},
                           {"score", score_of(run)}, {"result_counts", run.at("result_counts")}};
  }
  double cand = side[0].at("score").as_double();
  bool completed = side[0].at("status") == "completed" && (runs.size() < 2 || side[1].at("status") == "completed");
  double bar = g.min_score;
  if (runs.size() == 2) bar = std::max(bar, side[1].at("score").as_double() - g.tolerance);
  out.passed = completed && cand + 1e-12 >= bar;
  out.comparison = json::object{{"eval_id", g.eval_id}, {"candidate", side[0]}, {"current", runs.size() == 2 ? json::value(side[1]) : json::value(nullptr)},
                                {"tolerance", g.tolerance}, {"min_score", g.min_score}, {"required_score", bar}, {"passed", out.passed}};
  co_return out;
}

}  // namespace cn::evals
