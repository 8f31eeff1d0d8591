// Internal to runtime/: the state behind Runtime and the members its files share.
//
// Runtime::Impl is split by responsibility across files, in the order of a turn's life:
//   runtime.cpp        create(): checks references, takes the line, assembles, spawns the run
//   lines.cpp          concurrency lines: one turn at a time per conversation or chain tip
//   chain_cache.cpp    the response tree's hot cache (immutable nodes shared by branches)
//   conversations.cpp  the conversation cache and the conversation routes
//   context.cpp        what the model sees (history, memory, truncation); free function
//   run_loop.cpp       execute(): model calls, server-side tools, the outcome
//   tool_calls.cpp     one step's server-side calls: policy, journal, concurrency, deadlines
//   journal.cpp        the durable record of a tool-running turn (parameters, calls)
//   commit.cpp         finish(): the turn's final state, its group-committed write, publication
//   steering.cpp       steering input: accepted durably, taken at a boundary, a successor started
//   background.cpp     background turns and crash recovery (resuming journaled runs)
//   responses.cpp      reading, streaming, cancelling and deleting stored responses
//   remote_runs.cpp    many nodes: run events shipped to the store, runs followed from other nodes
//   line_claims.cpp    many nodes: concurrency lines claimed in the shared store
//   retention.cpp      expiry, shutdown and stats
//
// Locking: `mu` guards the maps below; a Run's own state is guarded by Run::mu_; a
// conversation's by ConvState::mu. Never take `mu` while holding a Run's or a conversation's
// mutex (the order is mu, then Run::mu_ or ConvState::mu).
#pragma once

#include <boost/asio.hpp>

#include <deque>
#include <atomic>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "runtime/journal.hpp"
#include "runtime/repo.hpp"
#include "runtime/run_state.hpp"
#include "runtime/runtime.hpp"
#include "store/async.hpp"
#include "tools/tool.hpp"

namespace cn::runtime {

class OutputSink;
namespace net = boost::asio;
using store::read_async;
using store::write_async;

// An immutable node of the response tree: one stored turn and a pointer to its parent. The
// context of a turn is the path from the root; nodes are shared by every branch below them.
struct ChainNode {
  ChainNode() = default;
  ChainNode(const ChainNode&) = delete;
  ~ChainNode() {
    if (meter) meter->fetch_sub(bytes, std::memory_order_relaxed);
  }
  std::string id;
  std::string owner;  // the end user the turn belongs to ("" = the project)
  std::shared_ptr<const ChainNode> parent;
  std::vector<ItemPtr> inputs, outputs;
  int64_t created_at = 0;
  int64_t tokens = 0;       // this node's items only
  int64_t path_tokens = 0;  // this node's and every ancestor's (the context it continues)
  // The memory this node holds, counted in `meter` (the runtime's chain bytes) while it lives,
  // whoever holds it: the cache, a child node, or a turn in flight.
  int64_t bytes = 0;
  std::shared_ptr<std::atomic<int64_t>> meter;
};

// A compaction item and the tokens its summary cost.
struct Compacted {
  ItemPtr item;
  Usage usage;
};

// A run's stream events as the JSON array stored in its row (`last`, when given, appended).
std::string events_array(const std::vector<std::string>& events, const std::string& last = {});

// Sets n's token counts from its items and its parent (which must be set).
void count_tokens(ChainNode& n);
using NodePtr = std::shared_ptr<const ChainNode>;

// A conversation's hot state. Items are kept in seq order.
struct ConvState {
  ~ConvState() {
    if (meter) meter->fetch_sub(bytes, std::memory_order_relaxed);
  }
  std::string project, id;
  std::string owner;  // the end user the conversation belongs to ("" = the project)
  int64_t created_at = 0;
  std::mutex mu;
  std::string metadata;            // guarded by mu
  std::vector<ConvItemRow> items;  // guarded by mu
  int64_t next_seq = 0;            // guarded by mu
  bool deleted = false;            // guarded by mu
  int64_t bytes = 0;               // guarded by mu; counted in `meter` while the state lives
  std::shared_ptr<std::atomic<int64_t>> meter;
  uint64_t last_used = 0;          // guarded by Impl::mu (the cache's LRU clock)
  std::chrono::steady_clock::time_point used_at{};  // guarded by Impl::mu (for idle expiry)
};
using ConvPtr = std::shared_ptr<ConvState>;

// A turn waiting for its line (conversation or chain tip).
struct LineWaiter {
  std::shared_ptr<Run> run;
  bool granted = false;
  bool abandoned = false;
  std::function<void()> wake;
};

struct Line {
  std::shared_ptr<Run> current;
  bool claimed = false;  // `current` also holds the line in the shared store (line_claims.cpp)
  std::deque<std::shared_ptr<LineWaiter>> waiting;
};

// One turn on its way through the runtime.
struct Turn {
  std::shared_ptr<CreateParams> params;
  std::vector<ItemPtr> inputs;
  std::vector<std::string> line_keys;  // held lines, released when the turn ends
  NodePtr parent;                      // the chain node it continues
  ConvPtr conv;                        // the conversation it appends to
  std::vector<ItemPtr> context;        // what the model sees (assembled)
  std::shared_ptr<void> ticket;        // admission's, held until the turn ends
  std::optional<std::vector<std::string>> memories_used;
  int64_t context_tokens = 0;          // `context` in the model's tokens (tokens/counter.hpp)
  bool count_only = false;             // assembled to be counted (input_tokens), never run
  tools::ToolSet tools;                // server-side tools the model may call
  // The tool definitions sent to the model, as assembled (before any server is listed).
  std::string tools_json;
  // Server-side calls: how many ran (max_tool_calls), the next call's position in the run, and
  // (for a run resumed after a crash) the journaled calls of the interrupted attempt.
  int64_t calls_made = 0;
  int64_t next_call_seq = 0;
  std::vector<JournaledCall> replay;
  bool journaled = false;  // the run has journal rows to remove when it ends
  // mcp_approval_response inputs with the mcp_approval_request (in the history) each answers.
  struct Approval {
    ItemPtr request, response;
  };
  std::vector<Approval> approvals;
};

// How a run ended, before it is stored.
struct RunOutcome {
  std::string status = "completed";
  std::optional<std::pair<std::string, std::string>> error;  // code, message
  std::optional<std::string> incomplete;
  Status failure;
  Usage usage;
};

inline std::string key_of(const std::string& project, const std::string& id) { return project + "\x1f" + id; }
inline Status not_found_response(const std::string& id) {
  return Status(Code::not_found, "Response with id '" + id + "' not found.");
}
inline Status not_found_conversation(const std::string& id) {
  return Status(Code::not_found, "Conversation with id '" + id + "' not found.");
}
// One page of `all` (oldest first) in the order and from the cursor `q` asks for.
Result<ItemPage> paginate(std::vector<ItemPtr> all, const ListQuery& q);
std::string conversation_json(const std::string& id, int64_t created_at, const std::string& metadata);

struct Runtime::Impl {
  net::io_context& io;
  store::Executor& store;
  model::Registry& models;
  RuntimeOptions opts;
  Clock& clock;
  memory::Memory* memory;
  std::vector<std::shared_ptr<tools::ToolSource>> tool_sources;

  mutable std::mutex mu;
  std::unordered_map<std::string, std::shared_ptr<Run>> live;  // guarded by mu
  struct RecentRun {
    std::shared_ptr<Run> run;
    int64_t bytes;  // its events and output, counted in recent_bytes
    std::chrono::steady_clock::time_point kept_at;
  };
  std::deque<RecentRun> recent;                                // guarded by mu
  std::unordered_map<std::string, Line> lines;                 // guarded by mu
  // The chain cache, least recently used first in `node_lru`.
  struct CachedNode {
    NodePtr node;
    std::list<std::string>::iterator lru;
    std::chrono::steady_clock::time_point used_at;
  };
  std::unordered_map<std::string, CachedNode> nodes;           // guarded by mu
  std::list<std::string> node_lru;                             // guarded by mu
  std::unordered_map<std::string, ConvPtr> convs;              // guarded by mu
  uint64_t conv_clock = 0;                                     // guarded by mu
  // Finished runs kept for replay: `recent` oldest first, their bytes, and runs evicted from
  // it whose events are being written to the store (still served from here meanwhile).
  int64_t recent_bytes = 0;                                    // guarded by mu
  std::unordered_map<std::string, std::shared_ptr<Run>> spilling;  // guarded by mu
  // Bytes of chain nodes and conversation states alive (decremented by their destructors).
  std::shared_ptr<std::atomic<int64_t>> chain_meter = std::make_shared<std::atomic<int64_t>>(0);
  std::shared_ptr<std::atomic<int64_t>> conv_meter = std::make_shared<std::atomic<int64_t>>(0);
  size_t active = 0;                                           // guarded by mu
  // Steering input of runs that stopped for client tool output or approval, by key_of(project,
  // response id): prepended to the next turn that continues that response.
  std::unordered_map<std::string, std::vector<SteerInput>> waiting_steers;  // guarded by mu
  // Runs of other nodes followed from here (remote_runs.cpp), by response id.
  struct Mirror {
    explicit Mirror(net::strand<net::io_context::executor_type> s) : strand(s), timer(strand) {}
    net::strand<net::io_context::executor_type> strand;
    net::steady_timer timer;  // on `strand`: the wait between refreshes, cut short by an announcement
    bool pending = false;     // on `strand`: an announcement came while refreshing
    bool finish_from_store = false;
    std::weak_ptr<Run> run;   // alive while someone follows it
    std::shared_ptr<Run> keep;  // until the follower coroutine starts
    std::string node;         // the node that ran it when following started
  };
  std::unordered_map<std::string, std::shared_ptr<Mirror>> mirrors;  // guarded by mu
  Runtime* self = nullptr;  // for successors, which start as any turn does
  bool shutting_down = false;                                  // guarded by mu
  uint64_t hits = 0, misses = 0;                               // guarded by mu

  Impl(net::io_context& i, store::Executor& s, model::Registry& m, RuntimeOptions o, memory::Memory* mem,
       Clock& c);

  // chain_cache.cpp
  // Counts a new node's bytes in the chain meter (before it is shared).
  void meter_node(ChainNode& n) const;
  void cache_node(const std::string& project, NodePtr n);
  // Marks a cached node (or conversation) as just used: the most recently used, and not idle.
  void touch_locked(CachedNode& c);
  void touch_locked(ConvState& c);
  // Drops least recently used nodes while the chain bytes exceed their budget (caller holds mu).
  void trim_nodes_locked();
  // Keeps a finished run for replay within the events budget; evicted runs that were streamed
  // have their events written to the store first (caller holds mu).
  void keep_recent_locked(std::shared_ptr<Run> run);
  // Drops the oldest run kept for replay, writing a streamed run's events to the store first
  // (caller holds mu; `recent` is not empty).
  void evict_recent_locked();
  // A cached node visible in `scope`, or null.
  NodePtr cached_node(const Scope& scope, const std::string& id);
  // The node of a stored response visible in `scope`, from the cache or loaded (with uncached
  // ancestors) from disk.
  awaitable<Result<NodePtr>> load_node(Scope scope, std::string id);
  // The live run `id` when it is visible in `scope` (caller holds mu).
  std::shared_ptr<Run> live_run_locked(const Scope& scope, const std::string& id) const;
  static std::vector<ItemPtr> path_items(const NodePtr& tip);

  // compaction.cpp
  // A compaction item summarizing `items` for `project`, made by `model` (or the built-in
  // summary), and what making it cost.
  awaitable<Result<struct Compacted>> summarize(const std::string& project, const std::string& model,
                                                const std::vector<ItemPtr>& items);
  // Replaces what the turn continues in `mr.context` by a compaction item, recorded as an output
  // item of the run (its tokens added to `usage`); on failure the context is left whole.
  awaitable<void> compact_context(Run& run, Turn& t, OutputSink& sink, model::ModelRequest& mr, Usage& usage);

  // references.cpp
  // Replaces each item_reference in `items` with a copy of the stored item it names, visible in
  // `scope` (400 naming `param[i].id` when there is none).
  awaitable<Status> resolve_references(const Scope& scope, std::vector<Item>& items, std::string_view param);
  // Gives `items` ids owned by `owner` (a response or conversation id), numbered from
  // `first_index`, so that references to them resolve (base/ids.hpp: owned_id).
  static void own_items(std::vector<Item>& items, const std::string& owner, size_t first_index);
  // A response's input items are numbered from here (its output items from 0).
  static constexpr size_t kFirstInputIndex = 1u << 20;

  // conversations.cpp
  awaitable<Result<ConvPtr>> load_conv(Scope scope, std::string id);
  // Bounds the conversation cache (caller holds mu).
  void trim_convs_locked();
  static void conv_insert_sorted(ConvState& c, int64_t first_seq, const std::vector<ItemPtr>& items);
  // Counts a new conversation state in the conversation meter (before it is shared).
  void meter_conv(ConvState& c) const { c.meter = conv_meter; }

  // steering.cpp
  // What a run does with the steering input it took at its end.
  struct SteerPlan {
    std::vector<SteerInput> taken;
    enum { none, successor, wait_for_client, fail } action = none;
    std::string fail_code, fail_message;
    std::string required_input;  // wait_for_client: what the client must answer (JSON array)
  };
  // Whether steering input waits for the run (it stops at its next safe boundary).
  static bool steer_requested(Run& run);
  // Closes the run to steering and decides what becomes of what it took, from how it ends;
  // called before finish(). `awaited` lists the client tool outputs and approvals it waits for.
  static SteerPlan close_steering(Run& run, const RunOutcome& o, std::string awaited);
  // After finish(): starts the successor, or queues the input for the next turn, or fails it;
  // records each submission's outcome and publishes the run's notices.
  awaitable<void> settle_steering(std::shared_ptr<Run> run, std::shared_ptr<Turn> t, SteerPlan plan);
  // Steering input waiting for the turn that continues `previous` (taken: the caller commits
  // it to `successor_id` with commit_steers, or puts it back with return_steers).
  std::vector<SteerInput> take_waiting_steers(const std::string& project, const std::string& previous);
  void return_steers(const std::string& project, const std::string& previous, std::vector<SteerInput> steers);
  awaitable<void> commit_steers(std::string project, std::vector<std::string> ids, std::string successor_id);
  static std::vector<store::Migration> steer_migrations();
  // Steering input a continuing turn took from waiting_steers: committed to the turn once it
  // starts, or put back when the turn does not start (the destructor).
  struct SteerClaim {
    SteerClaim(Impl& im, std::string project, std::string previous);
    ~SteerClaim();
    SteerClaim(const SteerClaim&) = delete;
    SteerClaim& operator=(const SteerClaim&) = delete;
    awaitable<void> commit(std::string successor_id);
    Impl& im;
    std::string project, previous;
    std::vector<SteerInput> steers;
  };
  // background.cpp: fails or resumes the unfinished turns `rows` returns (inside one write):
  // journaled tool loops resume, the rest are marked failed with `why`. Blocking.
  Status recover_rows(std::function<Result<std::vector<ResponseRow>>(store::Database&)> rows, bool fail_steers,
                      const char* why);
  // recover() and takeover: steering input left queued by a process that stopped is failed
  // (caller's store thread): of the runs of `node` on a shared store, else all of it.
  static Status fail_queued_steers(store::Database& db, const std::optional<std::string>& node);
  // Why `run` takes no more steering input now, or OK (caller holds run.mu_).
  static Status steer_refusal(const Run& run);
  // Many nodes: steering input for a run executing on another node is offered to that node
  // (a row in status 'offered' and a "steer:<project> <id> <steer id>" announcement); the
  // owner accepts it (status 'queued') or refuses it ('failed'), and the offering node answers
  // with that. No answer within a few seconds (the owner died): the offer fails, 503.
  awaitable<Result<SteerAck>> offer_steer(Scope scope, std::string id, std::string owner, std::string input_json);
  void on_steer_offer(std::string_view rest);
  awaitable<void> answer_offer(std::shared_ptr<Run> run, std::string project, std::string sid);

  // responses.cpp: drops what this node keeps of a deleted response (its cached node, its run
  // kept for replay).
  void forget(const std::string& project, const std::string& id);

  // remote_runs.cpp: the events of runs followed across nodes (RuntimeOptions::notifier).
  static std::vector<store::Migration> feed_migrations();
  // Makes a new run ship its events to the shared store (no-op on one node, or unrecorded runs).
  void install_ship(const std::shared_ptr<Run>& run);
  void ship_events(const std::shared_ptr<Run>& run);
  // The run's events are kept in its row from now on: its shipped rows go (no-op on one node).
  void drop_shipped(const std::string& id);
  // Shipped events of `id` from sequence number `from` on, without gaps (store thread).
  static std::vector<std::string> shipped_events(store::Database& db, const std::string& id, int64_t from);
  // A mirror of the response `row`, in progress on `node`, for followers visible in `scope`.
  std::shared_ptr<Run> mirror(const Scope& scope, const ResponseRow& row, const std::string& node);
  awaitable<void> follow_mirror(std::shared_ptr<Mirror> m, Scope scope, std::string key);
  void on_shipped(std::string_view id);
  void on_cancel(std::string_view key);
  // Asks the node running background response `id` to cancel it; returns once announced.
  awaitable<Status> announce_cancel(std::string project, std::string id);
  void listen(store::Notifier& n);

  // line_claims.cpp: lines held across nodes (RuntimeOptions::notifier).
  static std::vector<store::Migration> claim_migrations();
  // Claims `key` for `run` in the shared store, as acquire() does on this node (the caller
  // holds the local line).
  awaitable<Status> claim_line(const std::string& key, Concurrency mode, std::shared_ptr<Run> run);
  void release_claim(const std::string& key, const std::string& response_id);
  // Deletes the store claims of `t`'s lines now, durably, before the turn's end is told to anyone:
  // a client's next turn, sent to any node once it has this answer, finds the line free. The
  // lines stay held on this node until release_turn().
  awaitable<void> release_claims_now(Turn& t);
  void on_line_released(std::string_view key);
  void on_interrupt(std::string_view rest);
  // recover(): the claims this node's previous process left (store thread).
  static Status drop_own_claims(store::Database& db);
  // Turns of this node waiting for a line another node holds, by line (woken on its release).
  std::unordered_map<std::string, std::vector<std::function<void()>>> line_waiters;  // guarded by mu

  // lines.cpp
  static Status busy_status();
  // Takes the line `key` for `run`: at once when free; otherwise refuses (reject), waits in
  // arrival order (enqueue), or cancels the holder and waits first in line (interrupt).
  awaitable<Status> acquire(const std::string& key, Concurrency mode, std::shared_ptr<Run> run);
  // acquire() on this node only.
  awaitable<Status> acquire_here(const std::string& key, Concurrency mode, std::shared_ptr<Run> run);
  void release(const std::string& key);
  void request_cancel(const std::shared_ptr<Run>& run, const std::string& reason);

  // runtime.cpp
  // The server-side tools the request asked for, resolved through the tool sources.
  Status resolve_tools(Turn& t);
  // `entries` (server-side tool entries) resolved into `out`, for a turn acting as `agent`.
  Status resolve_tools(const CreateParams& p, const std::vector<boost::json::object>& entries, const std::string& agent,
                       tools::ToolSet& out);
  // A new run's state from its parameters.
  static void init_state(Run::State& st, const CreateParams& p, int64_t created_at);
  // Pairs the turn's mcp_approval_response inputs with the requests they answer (400 when one
  // answers nothing in `history`, or something already answered).
  static Status match_approvals(Turn& t, const std::vector<ItemPtr>& history);
  // Resolves the history and assembles the context once the turn holds its lines.
  awaitable<Status> assemble(Turn& t);
  // A turn assembled only to be read (input_tokens, compact): its owner settled, references
  // resolved, tools and context as create() would make them; no line is taken, nothing runs.
  awaitable<Result<std::shared_ptr<Turn>>> assemble_only(CreateParams p);
  void release_turn(Turn& t);
  void end_active(const std::shared_ptr<Run>& run);

  // run_loop.cpp: executes a turn that holds its lines and has its context; ends by finish().
  awaitable<void> execute(std::shared_ptr<Run> run, std::shared_ptr<Turn> t);
  // Lists the turn's tool servers (a listing in `context` is reused), recording new listings.
  awaitable<void> list_servers(Turn& t, OutputSink& sink, const std::vector<ItemPtr>& context, tools::CallContext ctx,
                               std::chrono::steady_clock::time_point run_deadline);

  // tool_calls.cpp: runs the output items `idxs` (server-side calls) concurrently and completes
  // them in the run's output; returns when all have answered or passed their deadline.
  awaitable<void> run_server_calls(std::shared_ptr<Run> run, std::shared_ptr<Turn> t, OutputSink& sink,
                                   tools::CallContext ctx, std::vector<int> idxs,
                                   std::chrono::steady_clock::time_point run_deadline);
  // Records a call's start or end in the run journal (waits until it is durable).
  awaitable<void> journal_call(std::string project, std::string response, JournaledCall c);
  awaitable<tools::Outcome> one_call(std::shared_ptr<Turn> t, tools::CallContext ctx, int64_t seq, std::string name,
                                     std::string args);

  // commit.cpp: stores the outcome, publishes the terminal event, releases the lines.
  awaitable<void> finish(std::shared_ptr<Run> run, std::shared_ptr<Turn> t, RunOutcome outcome);
  // The terminal stream event of a run in state `st`, numbered after its last event.
  static std::string terminal_event(const std::string& id, const Run::State& st);

  // background.cpp: waits for the line, assembles, executes; failures become a failed response.
  awaitable<void> background(std::shared_ptr<Run> run, std::shared_ptr<Turn> t, Concurrency mode,
                             std::string line_key);
  // Starts again a journaled run a previous process left unfinished (or marks it failed when
  // it cannot be: its parameters no longer resolve).
  void resume(Resumable r);
};

}  // namespace cn::runtime
