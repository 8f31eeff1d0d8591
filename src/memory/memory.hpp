// Long-term memory: records that users and agents have learned, scoped by namespace, with
// history, provenance and validity times; hybrid retrieval (FTS5 + vectors, fused by reciprocal
// rank); background extraction and consolidation through a durable job queue.
//
// Thread-safety: every public member of Memory is safe from any thread or coroutine. Writes are
// acknowledged after their commit and are visible to the next search (read-your-writes).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.hpp"
#include "base/status.hpp"
#include "domain/item.hpp"
#include "model/provider.hpp"
#include "memory/index.hpp"
#include "memory/settings.hpp"
#include "store/executor.hpp"

namespace cn::memory {

template <typename T>
using awaitable = boost::asio::awaitable<T>;

// Who a record is about. Empty parts are unscoped: a record with only user_id is "this user,
// any agent, any session".
struct Namespace {
  std::string user_id, agent_id, session_id;
};

// The namespace a strategy with `scope` writes, from a turn's namespace: "user" keeps the user
// (any agent, any session), "agent" the user and agent, "session" all three.
Namespace scoped(const Namespace& turn, std::string_view scope);

struct Source {
  std::string type;  // "api", "extraction", "tool"
  std::string response_id, conversation_id;
  std::vector<std::string> item_ids;
};

struct Record {
  std::string id;
  std::string project_id;
  Namespace ns;
  std::string kind;      // fact, preference, summary, note
  std::string text;
  std::string metadata;  // JSON object text
  Source source;
  int64_t created_at = 0, updated_at = 0;
  int64_t valid_from = 0;
  std::optional<int64_t> valid_to;   // set when superseded or deleted
  std::string status;                // active, superseded, deleted
  std::optional<std::string> superseded_by;
  double score = 0;                  // search results only
};

// Whether a turn in `ns` may see record `r`: records of other agents, and session-scoped
// records of other sessions, are not placed into its context nor returned to its tools.
bool visible(const Record& r, const Namespace& ns);

struct HistoryEntry {
  int64_t at = 0;
  std::string event;  // created, updated, superseded, deleted
  std::string text, actor, reason;
  std::optional<std::string> related_id;
};

struct Filter {
  std::optional<std::string> user_id, agent_id, session_id, kind;
  bool include_inactive = false;  // list/search superseded and deleted records too
  std::optional<int64_t> valid_at;  // only records valid at this time (unix seconds)
  std::vector<std::pair<std::string, std::string>> metadata;  // exact string matches
};

struct Job {
  std::string id, kind, status, user_id, last_error;
  int attempts = 0;
  int64_t created_at = 0, updated_at = 0, next_run_at = 0;
  std::string payload;  // JSON
};

struct Options {
  int max_concurrent_jobs = 2;
  int max_attempts = 3;
  std::chrono::milliseconds poll_interval{200};
  size_t injection_top_k = 5;
  int64_t injection_token_budget = 400;
  std::string extraction_model;  // "" = the model of the turn
  // Instructions for the extraction and consolidation calls; "" = the built-in ones. The JSON
  // schemas the answers must follow are fixed.
  std::string extraction_prompt, consolidation_prompt;
  bool extract_facts = true, extract_preferences = true, extract_summary = true;
  // Which namespace each strategy writes (see scoped()).
  std::string facts_scope = "user", preferences_scope = "user", summary_scope = "session";
  std::string index_dir;           // where HNSW indexes are saved at shutdown; "" = never
  VectorIndex::Params index;       // exact below index.hnsw_threshold vectors, HNSW above
  int index_build_threads = 2;     // threads that build one large index
  // Memory the loaded indexes may use together; past it the least recently used are dropped
  // (and reloaded on next use). One index larger than the budget is still kept.
  size_t index_budget_bytes = size_t{2} << 30;
  bool warm_indexes = true;        // load or build the indexes of large namespaces at start-up
  // How often HNSW indexes that changed are saved (besides after a build and at shutdown), so
  // a crash leaves little to catch up; 0 = never. Writers do not wait for a save.
  std::chrono::seconds index_save_interval{600};
  // Other nodes write the same store (PostgreSQL): their changes reach this node's indexes
  // through the records' change feed (feed.cpp), and jobs are claimed by one node each.
  bool shared = false;
};

// One turn to learn from, handed over by the runtime when the turn commits.
struct TurnForExtraction {
  std::string project_id, response_id, conversation_id, model;
  Namespace ns;
  Strategies strategies;  // the turn's own (its agent's); unset parts: Options
  std::vector<ItemPtr> items;  // this turn's input and output
};

class Memory {
 public:
  Memory(boost::asio::io_context& io, store::Executor& store, model::Registry& models, Options opts,
         Clock& clock = Clock::system());
  ~Memory();
  static std::vector<store::Migration> migrations();

  // Re-queues jobs a previous process left running and starts the job workers.
  Status start();
  void stop();

  // Explicit writes and reads. Every call takes the caller's project.
  awaitable<Result<Record>> write(const std::string& project, Namespace ns, std::string kind,
                                  std::string text, std::string metadata, Source source);
  // Writes a record carried from elsewhere (an agent's import): its id (new when empty; an id
  // taken is already_exists), namespace, kind, text, metadata, source and created_at are kept;
  // it starts active, its history "imported".
  awaitable<Result<Record>> import(const std::string& project, Record r);
  awaitable<Result<Record>> get(const std::string& project, const std::string& id);
  awaitable<Result<std::vector<Record>>> list(const std::string& project, Filter f, int limit,
                                              std::optional<std::string> after);
  awaitable<Result<Record>> update(const std::string& project, const std::string& id,
                                   std::optional<std::string> text,
                                   std::optional<std::string> metadata);
  awaitable<Result<Record>> remove(const std::string& project, const std::string& id);
  // A record's history, also after it was deleted. With `user`, another user's record is
  // not_found.
  awaitable<Result<std::vector<HistoryEntry>>> history(const std::string& project,
                                                       const std::string& id,
                                                       std::optional<std::string> user = std::nullopt);
  awaitable<Result<std::vector<Record>>> search(const std::string& project, std::string query,
                                                Filter f, size_t top_k);
  // Erases everything about a user: records, history, index entries, pending jobs.
  awaitable<Result<int64_t>> erase_user(const std::string& project, const std::string& user_id);
  // Newest first; with `user`, only that user's jobs.
  awaitable<Result<std::vector<Job>>> jobs(const std::string& project,
                                           std::optional<std::string> status, int limit,
                                           std::optional<std::string> user = std::nullopt);

  // For the runtime: records relevant to `query` for a turn's user, within the token budget.
  awaitable<Result<std::vector<Record>>> relevant(const std::string& project, const Namespace& ns,
                                                  const std::string& query);
  // For the runtime, inside the turn's commit transaction: enqueues extraction durably.
  Status enqueue_extraction(store::Database& db, const TurnForExtraction& turn);
  // Wakes the job workers (after a commit that enqueued work).
  void notify();
  // Many nodes: another node announced a change to records ("mem:"); applies the feed. Any
  // thread; does not block.
  void on_changed();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};


}  // namespace cn::memory
