// Online evaluation: a share of an agent's completed runs is graded, off the serving path, by an
// eval's testing criteria (as a stored-responses run would grade them), and each agent version
// keeps a rolling pass rate over its last `window` graded runs.
//
// Per agent: {eval_id, sampling_rate (0..1), window (default 50), min_pass_rate?}. A turn's commit
// only draws the sample (record(), on the store's writer: a map lookup and a random number); the
// grading waits for the turn's outcome to be stored, then runs on a thread of its own at a lower
// CPU priority (nice 10), so that serving threads win the CPU over it. Each score is
// stored (online_eval_scores), so the windows survive a restart. When a version's window holds
// at least 10 scores and its pass rate falls below min_pass_rate, the notifier is told once
// (webhooks: agent.eval.below_threshold), and again only after the rate has recovered. At most
// kMaxPending gradings wait at once: beyond, samples are skipped (and counted), so a burst of
// turns cannot grow the backlog without bound.
//
// Thread-safety: every member is safe from any thread.
#pragma once

#include <boost/asio/io_context.hpp>

#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include "evals/evals.hpp"
#include "runtime/observer.hpp"

namespace cn::evals {

struct OnlineConfig {
  std::string project, agent, eval_id;
  double sampling_rate = 0;
  int window = 50;
  std::optional<double> min_pass_rate;
  int64_t created_at = 0;
};

// A version's rolling window.
struct VersionScore {
  int64_t version = 0;
  std::deque<bool> passed;  // newest last, at most the window
  int64_t graded = 0;       // every graded run of this version
  bool below = false;       // told as below the threshold, not yet recovered
  double pass_rate() const;
};

class OnlineEvals final : public runtime::TurnLedger {
 public:
  // Told when a version falls below its agent's min_pass_rate: (project, agent, event data).
  using Notifier = std::function<void(const std::string& project, const std::string& agent, boost::json::object data)>;
  OnlineEvals(store::Executor& store, runtime::Runtime& rt, Evals& evals);
  ~OnlineEvals() override;
  static std::vector<store::Migration> migrations();
  Status load();  // start-up: configurations and each version's window
  void set_notifier(Notifier n) { notify_ = std::move(n); }
  void stop();

  // PUT /v1/agents/{name}/online_eval: 400 naming the field; the eval must exist.
  boost::asio::awaitable<Result<OnlineConfig>> put(std::string project, std::string agent, boost::json::object body);
  std::optional<OnlineConfig> get(const std::string& project, const std::string& agent) const;
  boost::asio::awaitable<Status> remove(std::string project, std::string agent);
  // The configuration and each version's scores, as the API shows them.
  boost::json::object json_of(const OnlineConfig& c) const;
  // Every agent version's pass rate and graded count, for /metrics: (project, agent, version).
  struct Gauge {
    std::string project, agent;
    int64_t version;
    double pass_rate;
    int64_t graded;
  };
  std::vector<Gauge> gauges() const;
  // Samples skipped because kMaxPending gradings were waiting.
  int64_t skipped() const { return skipped_.load(); }
  static constexpr int kMaxPending = 1000;

  Status record(store::Database& db, const runtime::TurnRecord& r) override;

 private:
  boost::asio::awaitable<void> grade(OnlineConfig c, std::string response_id);

  boost::asio::io_context io_;  // the grading thread's
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::thread thread_;
  store::Executor& store_;
  runtime::Runtime& rt_;
  Evals& evals_;
  Notifier notify_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> pending_{0};
  std::atomic<int64_t> skipped_{0};
  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, OnlineConfig> configs_;             // guarded by mu_
  std::map<std::tuple<std::string, std::string, int64_t>, VersionScore> scores_;   // guarded by mu_
  std::mt19937_64 rng_{std::random_device{}()};                                   // guarded by mu_
};

}  // namespace cn::evals
