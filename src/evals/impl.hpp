// Internal to evals/: a run in progress, and the SQL its files share.
#pragma once

#include <boost/asio.hpp>

#include <atomic>
#include <map>
#include <set>

#include "evals/evals.hpp"
#include "store/async.hpp"

namespace cn::evals {

namespace net = boost::asio;
using store::read_async;
using store::write_async;

// The run object's counters, recomputed from its graded items' results.
struct Counts {
  int64_t total = 0, passed = 0, failed = 0, errored = 0;
  std::map<std::string, std::pair<int64_t, int64_t>> criteria;  // name -> passed, failed
  std::map<std::string, Usage> models;                          // model -> tokens
  std::map<std::string, int64_t> invocations;                   // model -> calls
};
// A run being executed. Its counts change as items are graded (under mu).
struct Evals::Live {
  std::string project, eval_id, id;
  Scope scope;                    // whose stored responses a responses source reads
  json::object eval;              // the eval object (testing_criteria, data_source_config)
  std::mutex mu;
  json::object run;               // the run object as the API shows it (guarded by mu)
  std::set<int64_t> done;         // item indices graded (guarded by mu)
  Counts counts;                  // of the graded items (guarded by mu)
  std::atomic<bool> cancelled{false};
};

// One item of a run: the item and the sample given with it (null: none).
struct Evals::Entry {
  json::object item;
  json::value sample;
};

// A stored response (its Response object, read in `scope`) as an item and its sample: item {id,
// input (its user messages' text), instructions, model, metadata, agent, created_at}, sample
// {output_text, model, usage, tool_calls, handoffs}.
boost::asio::awaitable<Evals::Entry> stored_entry(runtime::Runtime& rt, Scope scope, json::object response);

// Adds one output item (its JSON) to `c`.
void count_item(Counts& c, const json::object& item);
// Sets result_counts, per_testing_criteria_results and per_model_usage of `run` from `c`, in the
// order of the eval's criteria.
void apply_counts(json::object& run, const Counts& c, const json::object& eval);

// Checks a run's data source (400 naming the field under "data_source").
Status check_run_data_source(const json::object& ds, size_t max_items = 10'000, bool agents = true);

namespace sql {
// The first column of a bound query's first row (nullopt: no row); the statement is reset.
Result<std::optional<std::string>> one_text(store::Statement& q);
// A page of JSON bodies (column 0) from a bound query that asked for `limit` + 1 rows.
Result<Page> page_of(store::Statement& q, int limit);
Result<std::optional<std::string>> eval_body(store::Database& db, const std::string& project, const std::string& id);
Status put_run(store::Database& db, const std::string& project, const std::string& eval_id, const std::string& id,
               int64_t created_at, const std::string& status, const std::string& body, const std::string& user);
Status put_item(store::Database& db, const std::string& project, const std::string& run_id, int64_t idx, const std::string& id,
                const std::string& status, const std::string& body);
}  // namespace sql

}  // namespace cn::evals
