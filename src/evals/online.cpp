// Online evaluation (see online.hpp): per-agent configurations, the sample drawn at commit, the
// grading off the serving path, and the rolling windows per agent version.
#include "evals/online.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <future>

#include "base/clock.hpp"
#include "base/log.hpp"
#include "evals/impl.hpp"

namespace cn::evals {

namespace {

constexpr int kMinScoresForAlert = 10;

json::value parse(const std::string& text) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  return ec ? json::value(nullptr) : v;
}

json::object config_json(const OnlineConfig& c) {
  return json::object{{"agent", c.agent}, {"eval_id", c.eval_id}, {"sampling_rate", c.sampling_rate}, {"window", c.window},
                      {"min_pass_rate", c.min_pass_rate ? json::value(*c.min_pass_rate) : json::value(nullptr)}, {"created_at", c.created_at}};
}

OnlineConfig config_from(const std::string& project, const json::object& o) {
  OnlineConfig c;
  c.project = project;
  c.agent = std::string(o.at("agent").as_string());
  c.eval_id = std::string(o.at("eval_id").as_string());
  c.sampling_rate = o.at("sampling_rate").to_number<double>();
  c.window = static_cast<int>(o.at("window").to_number<int64_t>());
  if (auto* m = o.if_contains("min_pass_rate"); m && m->is_number()) c.min_pass_rate = m->to_number<double>();
  c.created_at = o.at("created_at").to_number<int64_t>();
  return c;
}

}  // namespace

double VersionScore::pass_rate() const {
  if (passed.empty()) return 0;
  return static_cast<double>(std::count(passed.begin(), passed.end(), true)) / static_cast<double>(passed.size());
}

OnlineEvals::OnlineEvals(store::Executor& store, runtime::Runtime& rt, Evals& evals)
    : work_(io_.get_executor()), store_(store), rt_(rt), evals_(evals) {
  thread_ = std::thread([this] {
    // A lower priority for this thread alone (Linux: nice is per thread).
    if (setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), 10) != 0) spdlog::debug("online evaluation: the thread stays at normal priority");
    io_.run();
  });
}

OnlineEvals::~OnlineEvals() { stop(); }

void OnlineEvals::stop() {
  stopping_ = true;
  work_.reset();
  io_.stop();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

std::vector<store::Migration> OnlineEvals::migrations() {
  return {{"online_evals", 1, R"sql(
CREATE TABLE online_evals (
  project_id TEXT NOT NULL,
  agent TEXT NOT NULL,
  body TEXT NOT NULL,
  PRIMARY KEY (project_id, agent)
) WITHOUT ROWID;
CREATE TABLE online_eval_scores (
  project_id TEXT NOT NULL,
  agent TEXT NOT NULL,
  version INTEGER NOT NULL,
  response_id TEXT NOT NULL,
  passed INTEGER NOT NULL,
  at INTEGER NOT NULL,
  PRIMARY KEY (project_id, agent, version, response_id)
) WITHOUT ROWID;
)sql"}};
}

Status OnlineEvals::load() {
  std::promise<Status> done;
  std::vector<OnlineConfig> configs;
  std::vector<std::tuple<std::string, std::string, int64_t, bool>> scores;
  store_.submit(
      [&](store::Database& db) -> Status {
        auto& q = db.stmt("SELECT project_id, body FROM online_evals");
        while (q.step()) {
          auto v = parse(q.text(1));
          if (v.is_object()) configs.push_back(config_from(q.text(0), v.as_object()));
        }
        Status st = q.status();
        q.reset();
        if (!st.ok()) return st;
        auto& s = db.stmt("SELECT project_id, agent, version, passed FROM online_eval_scores ORDER BY at");
        while (s.step()) scores.emplace_back(s.text(0), s.text(1), s.int64(2), s.int64(3) != 0);
        st = s.status();
        s.reset();
        return st;
      },
      [&done](Status st) { done.set_value(std::move(st)); });
  Status st = done.get_future().get();
  if (!st.ok()) return st;
  std::lock_guard lk(mu_);
  for (auto& c : configs) configs_[{c.project, c.agent}] = c;
  for (auto& [project, agent, version, passed] : scores) {
    auto& vs = scores_[{project, agent, version}];
    vs.version = version;
    vs.passed.push_back(passed);
    ++vs.graded;
    auto it = configs_.find({project, agent});
    size_t window = it == configs_.end() ? 50 : static_cast<size_t>(it->second.window);
    while (vs.passed.size() > window) vs.passed.pop_front();
  }
  return {};
}

boost::asio::awaitable<Result<OnlineConfig>> OnlineEvals::put(std::string project, std::string agent, json::object body) {
  for (const auto& [k, v] : body)
    if (k != "eval_id" && k != "sampling_rate" && k != "window" && k != "min_pass_rate")
      co_return invalid_param(std::string(k), "Unknown parameter: '" + std::string(k) + "'.", "unknown_parameter");
  auto* id = body.if_contains("eval_id");
  if (!id || !id->is_string()) co_return invalid_param("eval_id", "Missing required parameter: 'eval_id'.", "missing_required_parameter");
  auto eval = co_await evals_.get(project, std::string(id->as_string()));
  if (!eval.ok()) co_return eval.status();
  auto* rate = body.if_contains("sampling_rate");
  if (!rate || !rate->is_number() || rate->to_number<double>() < 0 || rate->to_number<double>() > 1)
    co_return invalid_param("sampling_rate", "Invalid 'sampling_rate': expected a number from 0 to 1 (the share of completed runs graded).");
  OnlineConfig c;
  c.project = project;
  c.agent = agent;
  c.eval_id = std::string(id->as_string());
  c.sampling_rate = rate->to_number<double>();
  if (auto* w = body.if_contains("window"); w && !w->is_null()) {
    if (!w->is_int64() || w->as_int64() < 1 || w->as_int64() > 10'000)
      co_return invalid_param("window", "Invalid 'window': expected an integer from 1 to 10000 (graded runs per version).");
    c.window = static_cast<int>(w->as_int64());
  }
  if (auto* m = body.if_contains("min_pass_rate"); m && !m->is_null()) {
    if (!m->is_number() || m->to_number<double>() < 0 || m->to_number<double>() > 1)
      co_return invalid_param("min_pass_rate", "Invalid 'min_pass_rate': expected a number from 0 to 1.");
    c.min_pass_rate = m->to_number<double>();
  }
  c.created_at = Clock::system().now_seconds();
  std::string text = json::serialize(config_json(c));
  std::function<Status(store::Database&)> w = [project, agent, text](store::Database& db) {
    return db.stmt("INSERT OR REPLACE INTO online_evals(project_id, agent, body) VALUES (?1,?2,?3)").bind(1, project).bind(2, agent).bind(3, text).run();
  };
  if (Status st = co_await write_async(store_, std::move(w)); !st.ok()) co_return st;
  std::lock_guard lk(mu_);
  configs_[{project, agent}] = c;
  co_return c;
}

std::optional<OnlineConfig> OnlineEvals::get(const std::string& project, const std::string& agent) const {
  std::lock_guard lk(mu_);
  auto it = configs_.find({project, agent});
  if (it == configs_.end()) return std::nullopt;
  return it->second;
}

boost::asio::awaitable<Status> OnlineEvals::remove(std::string project, std::string agent) {
  if (!get(project, agent)) co_return Status(Code::not_found, "Agent '" + agent + "' has no online evaluation.");
  std::function<Status(store::Database&)> del = [project, agent](store::Database& db) {
    return db.stmt("DELETE FROM online_evals WHERE project_id=?1 AND agent=?2").bind(1, project).bind(2, agent).run();
  };
  if (Status st = co_await write_async(store_, std::move(del)); !st.ok()) co_return st;
  std::lock_guard lk(mu_);
  configs_.erase({project, agent});
  co_return Status();
}

json::object OnlineEvals::json_of(const OnlineConfig& c) const {
  json::object o = config_json(c);
  o["object"] = "agent.online_eval";
  json::array versions;
  std::lock_guard lk(mu_);
  for (auto it = scores_.lower_bound({c.project, c.agent, 0}); it != scores_.end() && std::get<0>(it->first) == c.project &&
                                                               std::get<1>(it->first) == c.agent;
       ++it) {
    const auto& v = it->second;
    versions.push_back(json::object{{"version", v.version}, {"graded", v.graded}, {"window", static_cast<int64_t>(v.passed.size())},
                                    {"pass_rate", v.pass_rate()}, {"below_threshold", v.below}});
  }
  o["versions"] = std::move(versions);
  return o;
}

std::vector<OnlineEvals::Gauge> OnlineEvals::gauges() const {
  std::vector<Gauge> out;
  std::lock_guard lk(mu_);
  for (const auto& [k, v] : scores_) out.push_back({std::get<0>(k), std::get<1>(k), v.version, v.pass_rate(), v.graded});
  return out;
}

Status OnlineEvals::record(store::Database&, const runtime::TurnRecord& r) {
  if (r.status != "completed" || r.agent.empty() || stopping_) return {};
  OnlineConfig c;
  {
    std::lock_guard lk(mu_);
    auto it = configs_.find({r.project, r.agent});
    if (it == configs_.end() || it->second.sampling_rate <= 0) return {};
    if (std::uniform_real_distribution<double>(0, 1)(rng_) >= it->second.sampling_rate) return {};
    c = it->second;
  }
  if (pending_.fetch_add(1) >= kMaxPending) {
    pending_.fetch_sub(1);
    if (skipped_.fetch_add(1) % 1000 == 0) spdlog::warn("online evaluation is behind: {} samples skipped so far", skipped_.load());
    return {};
  }
  // Off the serving path: the grading starts once this commit is done.
  net::co_spawn(io_, grade(std::move(c), r.response_id), net::detached);
  return {};
}

boost::asio::awaitable<void> OnlineEvals::grade(OnlineConfig c, std::string response_id) {
  struct Done {
    std::atomic<int>& n;
    ~Done() { n.fetch_sub(1); }
  } done{pending_};
  Scope scope;
  scope.project = c.project;
  // The turn's outcome is stored before its run is done.
  auto run = co_await rt_.stream_source(scope, response_id);
  if (run.ok()) co_await (*run)->wait_done();
  auto graded = co_await evals_.grade_stored(scope, c.eval_id, response_id);
  if (!graded.ok()) {
    spdlog::warn("online evaluation of response {} ({}): {}", response_id, c.agent, graded.status().message());
    co_return;
  }
  int64_t version = 0;
  if (auto* a = graded->if_contains("agent"); a && a->is_object())
    if (auto* v = a->as_object().if_contains("version"); v && v->is_int64()) version = v->as_int64();
  bool passed = graded->at("status") == "pass";
  std::string project = c.project, agent = c.agent;
  int64_t at = Clock::system().now_seconds();
  std::function<Status(store::Database&)> put = [project, agent, version, response_id, passed, at](store::Database& db) {
    return db.stmt("INSERT OR REPLACE INTO online_eval_scores(project_id, agent, version, response_id, passed, at) VALUES (?1,?2,?3,?4,?5,?6)")
        .bind(1, project).bind(2, agent).bind(3, version).bind(4, response_id).bind(5, passed ? 1 : 0).bind(6, at).run();
  };
  if (Status st = co_await write_async(store_, std::move(put)); !st.ok())
    spdlog::warn("storing the online score of response {}: {}", response_id, st.message());
  std::optional<json::object> alert;
  {
    std::lock_guard lk(mu_);
    auto& vs = scores_[{project, agent, version}];
    vs.version = version;
    vs.passed.push_back(passed);
    ++vs.graded;
    while (vs.passed.size() > static_cast<size_t>(c.window)) vs.passed.pop_front();
    double rate = vs.pass_rate();
    if (c.min_pass_rate && static_cast<int>(vs.passed.size()) >= std::min(kMinScoresForAlert, c.window)) {
      if (rate < *c.min_pass_rate && !vs.below) {
        vs.below = true;
        alert = json::object{{"agent", agent}, {"version", version}, {"eval_id", c.eval_id}, {"pass_rate", rate},
                             {"min_pass_rate", *c.min_pass_rate}, {"window", static_cast<int64_t>(vs.passed.size())},
                             {"last_response_id", response_id}};
      } else if (rate >= *c.min_pass_rate) {
        vs.below = false;
      }
    }
  }
  if (alert && notify_) notify_(project, agent, std::move(*alert));
}

}  // namespace cn::evals
