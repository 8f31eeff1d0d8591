// Evaluations (OpenAI's Evals API over Continuum's own store): evals (a data source config and
// testing criteria, graders.hpp), their runs, and each run's output items.
//
// A run grades a list of items: given in the request (source file_content, each with an
// optional sample), sampled from a model through an input_messages template (data source
// `completions` or `responses` with `model`), or the project's stored responses selected by
// filters (source {"type": "responses", ...}: graded in place, no model is called). Runs execute
// in the background, several items at once (Options::parallel); each graded item is stored
// before it is counted, so a run a restart interrupted resumes with the items it had not
// graded (load()). An item whose sampling or grader fails is counted as errored; the run goes
// on.
//
// Thread-safety: every member is safe from any thread; runs execute on the io_context given to
// the constructor. Objects are the project's: every call takes the project, and another
// project's ids are not found.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "domain/scope.hpp"
#include "evals/graders.hpp"
#include "model/provider.hpp"
#include "runtime/runtime.hpp"
#include "store/executor.hpp"
#include "tools/sandbox/sandbox.hpp"

namespace cn::evals {

// Answers as an agent, for runs that sample `agent:NAME@ALIAS` (api/ implements it over the
// runtime and the agent registry). `ref` is "NAME@ALIAS" or "NAME@vN".
class AgentSampler {
 public:
  virtual ~AgentSampler() = default;
  // The agent's answer (its output text) to `input`, one turn that is not stored; its tokens are
  // added to `usage`.
  virtual boost::asio::awaitable<Result<std::string>> sample_agent(std::string project, std::string ref, std::string input, Usage* usage) = 0;
};

// A promotion gate: moving `alias` of `agent` to another version needs that version to score, on
// the gate's eval and data source (sampled as each version), no worse than the version the alias
// names now, less `tolerance`, and at least `min_score` (the share of items that pass).
struct Gate {
  std::string project, agent, alias, eval_id;
  json::object data_source;  // a run's data source; its model is set to each version
  double tolerance = 0, min_score = 0;
  int64_t created_at = 0;
};
json::object gate_json(const Gate& g);

// The comparison behind a gated alias move.
struct GateResult {
  bool passed = false;
  json::object comparison;  // {candidate: {version, run_id, score, result_counts}, current: {...}, tolerance, min_score}
};

struct Options {
  size_t max_items = 10'000;  // items per run
  int parallel = 4;           // items graded at once per run
};

// A page of a list (the API's {"object": "list", "data", "first_id", "last_id", "has_more"}).
struct Page {
  json::array data;
  bool has_more = false;
};

struct PageQuery {
  std::optional<std::string> after;
  int limit = 20;
  bool desc = false;
};

class Evals {
 public:
  // Python graders run in `sandbox` (null: they are refused).
  // Memory graders read `memory` (null: they are errors).
  Evals(boost::asio::io_context& io, store::Executor& store, model::Registry& models, runtime::Runtime& rt, Options opts = {},
        std::shared_ptr<tools::sandbox::Sandbox> sandbox = nullptr, memory::Memory* memory = nullptr);
  ~Evals();
  static std::vector<store::Migration> migrations();
  // Resumes runs a previous process left queued or in progress (on many nodes, those this node
  // ran: a node keeps its id across restarts). Call once at start-up.
  Status load();
  // Stops taking items; runs in progress stay in_progress in the store and resume at next load().
  void stop();

  // Evals. Bodies are the API's; answers are the objects as JSON text.
  boost::asio::awaitable<Result<std::string>> create(std::string project, json::object body);
  boost::asio::awaitable<Result<std::string>> get(std::string project, std::string id);
  boost::asio::awaitable<Result<std::string>> update(std::string project, std::string id, json::object body);
  boost::asio::awaitable<Result<Page>> list(std::string project, PageQuery q);
  boost::asio::awaitable<Result<std::string>> remove(std::string project, std::string id);

  // Runs. `scope` is whose stored responses a responses source may read.
  boost::asio::awaitable<Result<std::string>> create_run(Scope scope, std::string eval_id, json::object body);
  boost::asio::awaitable<Result<std::string>> get_run(std::string project, std::string eval_id, std::string run_id);
  boost::asio::awaitable<Result<Page>> list_runs(std::string project, std::string eval_id, PageQuery q, std::optional<std::string> status);
  boost::asio::awaitable<Result<std::string>> cancel_run(std::string project, std::string eval_id, std::string run_id);
  boost::asio::awaitable<Result<std::string>> delete_run(std::string project, std::string eval_id, std::string run_id);
  boost::asio::awaitable<Result<Page>> list_items(std::string project, std::string eval_id, std::string run_id, PageQuery q,
                                                  std::optional<std::string> status);
  boost::asio::awaitable<Result<std::string>> get_item(std::string project, std::string eval_id, std::string run_id, std::string item_id);

  // Grades one stored response by an eval's criteria, as a stored-responses run would (online
  // evaluation): {"status": "pass" | "fail" | "error", "results", "agent"}.
  boost::asio::awaitable<Result<json::object>> grade_stored(Scope scope, std::string eval_id, std::string response_id);

  // Runs may sample agents (`agent:NAME@ALIAS` as the data source's model) once one is set.
  void set_agent_sampler(std::shared_ptr<AgentSampler> s) { sampler_ = std::move(s); }

  // Promotion gates (gate.cpp). PUT {eval_id, data_source, tolerance?, min_score?}: 400 naming
  // the field; the eval must exist.
  boost::asio::awaitable<Result<Gate>> put_gate(std::string project, std::string agent, std::string alias, json::object body);
  std::optional<Gate> gate(const std::string& project, const std::string& agent, const std::string& alias) const;
  boost::asio::awaitable<Status> delete_gate(std::string project, std::string agent, std::string alias);
  Status load_gates();  // blocks (start-up, and when another node changed a gate)
  // Runs the gate's eval as `candidate` and as `current` (agent versions), side by side, and
  // compares their scores. Waits for both runs.
  boost::asio::awaitable<Result<GateResult>> check_gate(Gate g, int64_t candidate, std::optional<int64_t> current);

  // Internal to evals/ (impl.hpp): a run in progress, and one item of a run.
  struct Live;
  struct Entry;

 private:
  boost::asio::awaitable<void> execute(std::shared_ptr<Live> live);
  boost::asio::awaitable<void> work(std::shared_ptr<Live> live, std::shared_ptr<std::vector<Entry>> entries, std::shared_ptr<size_t> next);
  boost::asio::awaitable<void> grade_one(std::shared_ptr<Live> live, const Entry& e, int64_t idx);
  boost::asio::awaitable<Status> save_run(Live& live);
  void start(std::shared_ptr<Live> live);

  boost::asio::io_context& io_;
  store::Executor& store_;
  model::Registry& models_;
  runtime::Runtime& rt_;
  Options opts_;
  std::shared_ptr<Judge> judge_;
  std::shared_ptr<AgentSampler> sampler_;
  std::map<std::string, Gate> gates_;  // guarded by mu_; by project, agent and alias
  std::atomic<bool> stopping_{false};
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Live>> live_;  // guarded by mu_; by project + run id
};

}  // namespace cn::evals
