// Internal to memory/: the state behind Memory and the helpers its files share.
//
// Memory::Impl is split by responsibility across files:
//   memory.cpp         the public API: write, get, list, update, remove, history, search, erase
//   records.cpp        record rows: columns, provenance, history entries, filters (all record SQL)
//   lexical.cpp        the lexical ranking over FTS5 (informative words, idf scores)
//   search.cpp         hybrid search: vector and lexical rankings fused by reciprocal rank
//   indexes.cpp        per-namespace vector indexes: load, build, rebuild as HNSW, save, budget
//   prompts.cpp        the extraction and consolidation instructions and their JSON schemas
//   jobs.cpp           the durable extraction job queue and its workers
//   consolidation.cpp add / update / supersede / ignore against similar records; summaries
//   schema.cpp         the tables and their migrations
//   feed.cpp           many nodes: the records' change feed applied to this node's indexes
//
// Threads: free functions taking a store::Database run on store executor threads only. Impl's
// coroutines run on the io_context; `mu` guards the sleepers, `idx_mu` the index map.
#pragma once

#include <boost/asio.hpp>
#include <boost/json.hpp>

#include <atomic>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "memory/index.hpp"
#include "memory/memory.hpp"
#include "model/provider.hpp"
#include "store/async.hpp"

namespace cn::memory {

namespace net = boost::asio;
namespace json = boost::json;
using store::read_async;
using store::write_async;

// A change the vector index must follow once the write that made it has committed.
struct IndexChange {
  bool add;
  std::string user_id;
  int64_t seq;
  std::vector<float> vec;
};
using Changes = std::vector<IndexChange>;

// ---- records.cpp -----------------------------------------------------------------------------

// The columns row_of() reads, in order.
extern const char* const kCols;

float dot(const float* a, const float* b, size_t n);

std::string blob_of(const std::vector<float>& v);

json::object source_json(const Source& s);

Source source_of(std::string_view text);

Record row_of(store::Statement& q, int64_t* seq = nullptr);

Status not_found(const std::string& id);

Result<Record> load(store::Database& db, const std::string& project, const std::string& id,
                    int64_t* seq = nullptr);

Status add_history(store::Database& db, const Record& r, const std::string& event,
                   const std::string& actor, const std::string& reason, int64_t at,
                   const std::optional<std::string>& related = std::nullopt);

Status insert_record(store::Database& db, const Record& r, const std::string& reason,
                     const std::vector<float>& vec, Changes* ch);

// Ends a record's validity: superseded (by `by`) or deleted. Its text leaves the lexical index.
Status retire(store::Database& db, Record& r, int64_t seq, const std::string& status,
              const std::optional<std::string>& by, const std::string& actor,
              const std::string& reason, int64_t now, Changes* ch);

Status set_text(store::Database& db, Record& r, int64_t seq, const std::string& text,
                const std::vector<float>& vec, const std::string& actor, const std::string& reason,
                int64_t now, Changes* ch);

// SQL conditions for a filter; binds start at ?2 (?1 is the project).
std::string filter_sql(const Filter& f, std::vector<std::string>& binds, const char* alias = "");

bool matches(const Record& r, const Filter& f);

// ---- lexical.cpp -----------------------------------------------------------------------------

bool stopword(std::string_view w);
// The lexical index (lexical.cpp): a record's words in, a record (or a user's records) out.
Status lexical_add(store::Database& db, int64_t seq, std::string_view text);
Status lexical_remove(store::Database& db, int64_t seq);
Status lexical_remove_user(store::Database& db, const std::string& project, const std::string& user_id);

// The informative words of `text` with their document counts (from fts5vocab), rarest first:
// stopwords and words in more than kMaxDocs records are left out (they rank a large part of the
// store and say little), and the rarest kMaxTerms are kept.
std::vector<std::pair<int64_t, std::string>> informative_terms(store::Database& db, std::string_view text);

bool index_covers(const Filter& f);

// `candidates`, when given, are the vector ranking from the namespace's index (most similar
// first); otherwise the vector ranking is an exact scan of the rows the filter selects.
size_t search_depth(size_t top_k);

// The lexical ranking, best first. Each informative word of the query is looked up in FTS5, and
// a record scores the sum of the inverse document frequencies of the words it contains: BM25
// without its term-frequency and length parts, which barely vary across one-sentence memories,
// and without FTS5's per-row bm25() cost. `members`, when given, is the namespace index of the
// filter's user and decides membership without reading rows; otherwise each candidate's row is
// checked against the filter, best first, until `depth` are found.
Result<std::vector<int64_t>> lexical_ranking(store::Database& db, const std::string& project,
                                             const std::string& query, const Filter& f, size_t depth,
                                             const VectorIndex* members = nullptr);

// ---- search.cpp ------------------------------------------------------------------------------

// `lexical`, when given, is the lexical ranking computed beforehand (possibly in parallel with
// the vector search).
Result<std::vector<Record>> hybrid_search(store::Database& db, const std::string& project,
                                          const std::string& query, const std::vector<float>& qv,
                                          const Filter& f, size_t top_k,
                                          const std::vector<std::pair<float, int64_t>>* candidates = nullptr,
                                          const std::vector<int64_t>* lexical = nullptr);

// ---- prompts.cpp -----------------------------------------------------------------------------

// The JSON schemas the model must follow (strict), and their validation.
json::object extraction_schema();

json::object consolidation_schema();

std::string format_json(const char* name, json::object schema);
extern const char* const kExtractionPrompt;
extern const char* const kConsolidationPrompt;

// Collects a model's text output.
class TextSink final : public model::ModelSink {
 public:
  void reasoning_delta(std::string_view) override {}
  void text_delta(std::string_view t) override { text += t; }
  void tool_call_begin(int, std::string, std::string) override {}
  void tool_call_delta(int, std::string_view) override {}
  bool started() const override { return !text.empty(); }
  std::string text;
};


// ---- feed.cpp ----------------------------------------------------------------------------------

std::vector<store::Migration> feed_migrations();
// Records a change for the other nodes' indexes (record_seq -1: the user's memories were
// erased); nothing on SQLite.
Status feed_change(store::Database& db, const std::string& project, const std::string& user, int64_t record_seq,
                   bool added);

struct Memory::Impl {
  net::io_context& io;
  store::Executor& store;
  model::Registry& models;
  Options opts;
  Clock& clock;
  std::atomic<bool> stopping{false};
  std::mutex mu;
  std::vector<std::shared_ptr<net::steady_timer>> sleepers;  // guarded by mu

  Impl(net::io_context& i, store::Executor& s, model::Registry& m, Options o, Clock& c)
      : io(i), store(s), models(m), opts(std::move(o)), clock(c) {
    // A namespace that outgrows exact search is rebuilt as HNSW in the background (index_for),
    // not converted inside the write that crossed the threshold.
    opts.index.grow_into_hnsw = false;
  }

  // ---- per-namespace vector indexes (one per project and user) --------------------------------

  struct IndexEntry {
    std::shared_ptr<VectorIndex> idx;  // null while loading
    Changes pending;                   // changes that committed while loading
    uint64_t last_used = 0;
    uint64_t generation = 0;           // which load made this entry
    bool rebuilding = false;           // an HNSW replacement is being built (changes go to pending too)
    std::vector<std::shared_ptr<net::steady_timer>> waiters;  // callers waiting for the load
  };
  uint64_t use_clock = 0;        // guarded by idx_mu
  uint64_t load_generation = 0;  // guarded by idx_mu
  // How long a search waits for its namespace's index before scanning rows instead.
  static constexpr std::chrono::seconds kIndexWait{2};
  net::thread_pool builder{1};  // loads and builds indexes off the serving threads

  // Keeps loaded indexes within a memory budget, dropping the least recently used (they are
  // reloaded from the store on next use). Caller holds idx_mu.
  void trim_indexes_locked(const std::string& keep);
  std::mutex idx_mu;
  std::unordered_map<std::string, IndexEntry> indexes;  // guarded by idx_mu

  static std::string ns_key(const std::string& project, const std::string& user) { return project + "\x1f" + user; }
  std::string index_path(const std::string& key) const;

  // Applies, in order, changes that committed while `idx` was being loaded.
  static void replay(VectorIndex& idx, const Changes& pending);

  void apply(const std::string& project, const Changes& changes);

  // The loaded index of a namespace, loading it on first use: from its saved file, brought up to
  // date with the store, or built from the store. Loading runs on the builder thread, so the
  // caller's thread keeps serving; concurrent callers wait for the same load. Returns null when
  // the index is not available within kIndexWait (a large build): the caller then scans rows.
  awaitable<std::shared_ptr<VectorIndex>> index_for(const std::string& project, const std::string& user, size_t dims);

  // Replaces a namespace's exact index by one built from the store (see index_for); changes that
  // commit meanwhile are replayed on it.
  awaitable<void> rebuild(std::string project, std::string user, std::string key, size_t dims, uint64_t generation);

  // Reads a namespace's vectors and makes its index on the builder thread; null on failure or
  // when stopping.
  awaitable<std::shared_ptr<VectorIndex>> load_index(const std::string& project, const std::string& user,
                                                     const std::string& key, size_t dims);

  // Runs `fn` on the builder thread and returns its result to the awaiting coroutine. Not a
  // coroutine itself (see store/async.hpp).
  awaitable<std::shared_ptr<VectorIndex>> on_builder(std::function<std::shared_ptr<VectorIndex>()> fn);

  // At start-up: loads (or rebuilds, when the saved file is missing) the indexes of the largest
  // namespaces, within the memory budget, so their first searches find them ready.
  awaitable<void> warm();

  // Every index_save_interval, saves the HNSW indexes that changed since their last save, one
  // at a time on the builder thread.
  awaitable<void> saver();

  void drop_index(const std::string& project, const std::string& user);

  // feed.cpp (Options::shared): other nodes' changes applied to the indexes held here.
  std::mutex feed_mu;
  int64_t feed_pos = 0;                  // guarded by feed_mu: the highest change applied
  bool feed_ready = false;               // guarded by feed_mu: start_feed() ran
  std::unordered_set<int64_t> feed_seen;  // guarded by feed_mu: applied within the window
  std::deque<int64_t> feed_order;         // guarded by feed_mu: feed_seen, oldest first
  // Applies what other nodes changed since the last call (a reader thread).
  Status catch_up(store::Database& db);
  // The feed's current end, at start-up (changes before it are in what indexes load).
  Status start_feed(store::Database& db);
  // catch_up() from a coroutine; nothing on one node.
  awaitable<void> follow_feed();

  void save_indexes();

  awaitable<Result<std::vector<float>>> embed(const std::string& text);

  // Hybrid search; the vector side comes from the namespace index when a user is given.
  awaitable<Result<std::vector<Record>>> search(const std::string& project, const std::string& query, const Filter& f,
                                                size_t top_k);

  // Calls the model for structured output and parses the JSON object it returns.
  awaitable<Result<json::object>> ask(const std::string& model_name, const char* instructions,
                                      std::string user_text, const char* schema_name, json::object schema);

  // Claims the next due job, or returns nullopt.
  awaitable<std::optional<Job>> claim();

  awaitable<void> finish(const Job& job, const Status& outcome);

  awaitable<void> worker();

  awaitable<Status> run_job(const Job& job);

  // The newest active summary of a session is superseded by the new one.
  awaitable<Status> replace_summary(const std::string& project, const Namespace& ns, std::string text, Source src);

  // Decides add / update / supersede / ignore for one new memory against the most similar
  // existing ones, then applies it in one transaction.
  awaitable<Status> consolidate(const std::string& project, const Namespace& ns, const std::string& kind,
                                const std::string& text, const Source& src, const std::string& model_name);

  void wake();
};

}  // namespace cn::memory
