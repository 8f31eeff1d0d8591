// The runtime: runs, the item log, chains, conversations, and their durability.
//
// A run is independent of the HTTP request that asked for it. It assembles context (the chain's
// item path from a hot cache, or the conversation's items), calls the model, publishes stream
// events into its own bounded log as they arrive, commits the turn (input and output items,
// the response, conversation links) in the store's next group commit, and only then publishes
// its terminal event. Callers wait for the end, follow the events, or walk away (background).
//
// Thread-safety: every public member is safe from any thread and from any coroutine. The
// runtime must outlive every Run handle it gives out and every coroutine it starts; stop it
// with shutdown() before destroying it.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/object.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.hpp"
#include "base/status.hpp"
#include "domain/item.hpp"
#include "tokens/counter.hpp"
#include "domain/budget.hpp"
#include "domain/scope.hpp"
#include "memory/memory.hpp"
#include "memory/settings.hpp"
#include "model/provider.hpp"
#include "store/executor.hpp"
#include "tools/tool.hpp"
#include "base/trace.hpp"
#include "runtime/observer.hpp"
#include "runtime/team.hpp"

namespace cn::store {
class Notifier;
}

namespace cn::runtime {

template <typename T>
using awaitable = boost::asio::awaitable<T>;

// What to do when a turn arrives while another turn runs on the same conversation or chain tip.
enum class Concurrency { reject, enqueue, interrupt };

// A validated POST /v1/responses, in domain terms. Built by api/.
struct CreateParams {
  // Who the turn is for: its project and, when the request acts for one, its end user. A turn
  // that continues a response or conversation of an end user without naming one acts for that
  // user (the object's owner).
  Scope scope;
  std::string model;
  std::optional<std::string> instructions;
  std::vector<Item> input;
  std::optional<std::string> previous_response_id;
  std::optional<std::string> conversation_id;
  bool store = true;
  bool stream = false;
  bool background = false;
  // false ("generate": false): the turn stores its input as a response with no output and calls
  // no model and no tool; it can be continued (previous_response_id) like any other.
  bool generate = true;
  // context_management [{"type": "compaction", "compact_threshold": N}]: when the context would
  // be over N tokens, what the turn continues is compacted before the model is called.
  std::optional<int64_t> compact_threshold;
  Concurrency concurrency = Concurrency::reject;
  bool truncation_auto = false;
  // Model parameters (see model::ModelRequest).
  std::string tools_json, tool_choice_json, text_format_json, user;
  std::optional<bool> parallel_tool_calls;
  std::optional<int64_t> max_output_tokens;
  std::optional<double> temperature, top_p;
  // include: ["message.output_text.logprobs"], and how many alternatives each token shows.
  bool logprobs = false;
  int top_logprobs = 0;
  // Long-term memory: the end user (safety_identifier, user, or X-Continuum-User) and whether
  // memory is read and written for this turn ("memory": "off" disables both).
  std::string memory_user;
  std::string memory_agent;  // X-Continuum-Agent: the agent the turn runs as ("" = none)
  bool memory_on = true;
  // Whether records are placed into its context, whether it is learned from, and the
  // strategies extraction runs for it ("memory" as an object; memory/settings.hpp).
  memory::Settings memory_settings;
  // Server-side tools the request asked for (tools entries whose type is not "function", e.g.
  // {"type": "memory"} or {"type": "mcp", ...}), resolved through RuntimeOptions::tool_sources.
  std::vector<boost::json::object> server_tools;
  // The credential the request came with and its token's claims (JSON text), for policies.
  std::string credential_id, claims_json;
  // Most server-side tool calls the turn may run (max_tool_calls); later calls fail.
  std::optional<int64_t> max_tool_calls;
  // A child run of an agent called as a tool: how deep (0: a client's turn).
  int agent_depth = 0;
  // Where the run's span joins a trace: the request's W3C traceparent header, or the agent
  // call's span for a child run ("" or malformed: the run starts a trace).
  std::string traceparent;
  // Called once with the turn's usage when it ends and is stored (quotas).
  std::function<void(const Usage&)> on_usage;
  // The limits of the agent the turn runs as: tokens (input + output over all its model calls
  // and those of the child runs it starts) and wall-clock time. Past the tokens, the turn makes
  // no further model call and ends incomplete (reason "max_total_tokens"); past the time, it
  // fails as at the server's run deadline. Unset: only the server's run deadline applies.
  std::optional<int64_t> max_total_tokens;
  std::optional<std::chrono::milliseconds> max_run_time;
  // A child run: the budget and the cancellation of the run that started it. Its own budget
  // nests in the parent's (domain/budget.hpp), and cancelling the parent cancels it.
  std::shared_ptr<Budget> parent_budget;
  std::shared_ptr<http::CancelToken> parent_cancel;
  // Request fields echoed verbatim into the Response object (tools, tool_choice, text, metadata,
  // temperature, top_p, reasoning, truncation, service_tier, user, ...).
  boost::json::object echo;
};

struct ListQuery {
  std::optional<std::string> after;
  int limit = 20;
  bool desc = true;
};

struct ItemPage {
  std::vector<ItemPtr> items;
  bool has_more = false;
};

// One conversation whole, to move it between servers: its owner ("" = the project) and items
// (their wire JSON, in order).
struct ConversationExport {
  std::string id, user_id, metadata;
  int64_t created_at = 0;
  std::vector<std::string> item_wires;
};

// Response or conversation objects, as the API shows them.
struct ResponsePage {
  std::vector<boost::json::object> data;
  bool has_more = false;
};

class Runtime;

// A run's public face: its events and its state. Handles are shared; the run goes on whether or
// not anyone holds one.
class Run {
 public:
  const std::string& id() const { return id_; }
  const std::string& project_id() const { return project_; }
  // The end user the run acts for ("" = the project). Set before the run is published.
  const std::string& owner() const { return owner_; }
  bool background() const { return background_; }

  // Stream events with sequence_number > `after` (each a complete JSON object with "type"), and
  // whether the terminal event is among the ones returned so far.
  std::vector<std::string> events_after(int64_t after, bool* done) const;
  // Waits until an event with sequence_number > `after` exists, the run ended (and settled its
  // steering input), or `timeout` passed. Must be awaited on a strand (or a single-threaded executor).
  awaitable<void> wait(int64_t after, std::chrono::milliseconds timeout);
  // Waits until the run has ended and its outcome is durable.
  awaitable<void> wait_done();
  bool done() const;
  // The Response object as it is now.
  std::string snapshot() const;
  // For a run that failed before producing a useful answer: the error to return over plain HTTP.
  Status failure() const;
  // After done(): false while the steering input the run accepted is being settled (wait()
  // wakes when it is); then the notices to deliver after its terminal event (each a complete
  // event: response.steer.pending or response.steer.failed) and the successor response started
  // with that input (null: none).
  bool settled(std::vector<std::string>* notices, std::shared_ptr<Run>* successor) const;

 private:
  const std::string id_, project_;
  const bool background_;
  std::string owner_;

 public:
  // Internal to runtime/ (the runner and the response builder); not for other components.
  struct State;
  Run(std::string id, std::string project, bool background, std::string owner = {});
  // Appends an event (caller holds mu_); wake_all() then notifies followers (without mu_).
  void publish(const std::string& type, boost::json::object ev);
  void wake_all();

  mutable std::mutex mu_;
  std::unique_ptr<State> st_;  // guarded by mu_ (the runner mutates, readers snapshot)
};

// Decides whether a new turn may start (load shedding, a full store). The runtime asks before
// it reads anything or calls a model; admission/ implements it. Thread-safe.
class Admission {
 public:
  virtual ~Admission() = default;
  // A ticket the turn holds until it ends (its input's bytes count against the in-flight
  // budget while it is held), or why the turn is refused: 429 with Retry-After when the
  // server is overloaded, 503 storage_full when `writes` and the storage is full.
  virtual Result<std::shared_ptr<void>> admit(size_t input_bytes, bool writes) = 0;
  // How long a model call through `provider` took to its first event (its queueing and
  // prompt processing): reported after every call that produced one.
  virtual void model_latency(const std::string& provider, std::chrono::microseconds first_event) {
    (void)provider;
    (void)first_event;
  }
};

struct RuntimeOptions {
  size_t max_active_runs = 1024;           // queued + running; beyond: 429
  size_t max_waiting_per_line = 64;        // enqueued turns per conversation/tip
  // Memory budgets in bytes. Beyond one, the least recently used state is dropped and read back
  // from the store when it is needed again.
  size_t chain_cache_nodes = 200'000;      // hot chain nodes kept in memory (also bounded by bytes)
  size_t chain_cache_bytes = 64u << 20;    // the chain cache's nodes (and the ancestors they hold)
  size_t recent_runs = 1024;               // finished runs kept for stream replay (also by bytes)
  size_t run_events_bytes = 32u << 20;     // finished runs' event logs (evicted ones are written to the store)
  size_t conversation_cache_bytes = 32u << 20;  // cached conversations' items
  // Other nodes write the same store (PostgreSQL): a conversation is read from the store for
  // every turn and request (another node may have appended to it), not served from the cache.
  bool shared_store = false;
  // Announcements between the nodes of a shared store (null: one node). Streamed and
  // background runs ship their events to the store for followers on other nodes; a response
  // running elsewhere is followed from here; cancellations reach the node running the run.
  // The runtime registers its handlers in its constructor: start the notifier after.
  std::shared_ptr<store::Notifier> notifier;
  // Asked before each turn that is not a child run (null: every turn is admitted).
  std::shared_ptr<Admission> admission;
  std::chrono::milliseconds run_deadline{600'000};
  std::chrono::milliseconds tool_timeout{60'000};  // per server-side tool call
  int64_t retention_seconds = 0;           // 0: keep forever
  // Where server-side tools come from (tools/tool.hpp); a request naming a type no source
  // provides is a 400.
  std::vector<std::shared_ptr<tools::ToolSource>> tool_sources;
  // Decides each server-side call before it runs (may be null: every call runs).
  std::shared_ptr<tools::Authorizer> authorizer;
  // Agents a turn may hand over to (runtime/team.hpp; null: handoffs fail as calls).
  std::shared_ptr<Team> team;
  // Told about runs, model calls, tool calls and commits (metrics; may be null).
  std::shared_ptr<RunObserver> observer;
  // Given a span per run, agent, model call and tool call (OTLP export; may be null: no spans).
  std::shared_ptr<Tracer> tracer;
  // Record every ended turn with its commit (usage accounting, webhook outbox).
  std::vector<std::shared_ptr<TurnLedger>> ledgers;
  // Counts a turn's context in its model's tokens (window, truncation, input_tokens); null:
  // estimates only.
  std::shared_ptr<const tokens::Counter> token_counter;
};

// Steering input accepted for a running response (Runtime::steer).
struct SteerAck {
  std::string id;            // the steering submission's id (steer_...)
  std::shared_ptr<Run> run;  // the response it steers
};

// Why steering input was refused: Status::api_code() is one of these.
namespace steer_code {
inline constexpr const char* not_found = "response_not_found";
inline constexpr const char* invalid_input = "invalid_input";
inline constexpr const char* not_supported = "steering_not_supported";
inline constexpr const char* too_many = "too_many_pending_steers";
inline constexpr const char* completed = "response_already_completed";
inline constexpr const char* not_active = "response_not_active";
inline constexpr const char* successor_failed = "successor_creation_failed";
}  // namespace steer_code

// What a turn's context would cost (POST /v1/responses/input_tokens).
struct InputTokens {
  int64_t tokens = 0;
  std::string method;  // the encoding ("o200k_base", ...) or "estimate"
};

// What Runtime::drop_idle dropped.
struct IdleDrop {
  size_t nodes = 0, runs = 0, conversations = 0;
  bool any() const { return nodes || runs || conversations; }
};

struct RuntimeStats {
  size_t active_runs = 0;
  size_t cached_nodes = 0;
  int64_t chain_bytes = 0;         // nodes alive because the cache or a turn holds them
  size_t recent_runs = 0;
  int64_t run_events_bytes = 0;    // finished runs' events kept for replay
  int64_t conversation_bytes = 0;  // items of conversations alive in memory
  uint64_t cache_hits = 0, cache_misses = 0;
};

class Runtime {
 public:
  // `memory` may be null (no long-term memory); it must outlive the runtime.
  Runtime(boost::asio::io_context& io, store::Executor& store, model::Registry& models,
          RuntimeOptions opts, memory::Memory* memory = nullptr, Clock& clock = Clock::system());
  ~Runtime();

  static std::vector<store::Migration> migrations();

  // Marks every response a previous process left queued or in progress as failed (with an
  // error saying it was interrupted), except runs in a tool loop (journaled), which are started
  // again: calls that finished are replayed from the journal, a call that was in flight is
  // repeated only when its tool is idempotent. Call once at start-up, after the tool sources
  // exist and before serving.
  Status recover();
  // Many nodes on one store (cluster/membership.hpp): takes over the unfinished runs of `node`,
  // which is gone, as recover() does for this node's own at start-up. Safe to call from several
  // nodes at once: each run is adopted by one. Blocking; not on an I/O thread.
  Status take_over(const std::string& node);
  // The nodes that own unfinished runs. Blocking; not on an I/O thread.
  Result<std::vector<std::string>> run_owners();

  // Starts a turn. Fails (nothing stored) on an unknown previous response or conversation
  // (400/404), a busy line under `reject` (aborted, code conversation_busy), too many runs
  // (resource_exhausted), a context that does not fit with truncation disabled (400), or during
  // shutdown (unavailable). For background turns, returns once the queued state is durable.
  awaitable<Result<std::shared_ptr<Run>>> create(CreateParams p);
  // Counts the context `p` would send the model — history, instructions, tool definitions,
  // memory block, new input, after truncation — without taking its line or calling anything.
  // Fails as create() does on unknown references; a context over the window is still counted.
  awaitable<Result<InputTokens>> count_input(CreateParams p);
  // POST /v1/responses/compact: the context `p` would send, summarized — its user messages and
  // one compaction item, as a response.compaction object (JSON). Stores nothing.
  awaitable<Result<std::string>> compact(CreateParams p);

  // Steering (runtime/steering.cpp). Queues user messages (`input`, their wire JSON array in
  // `input_json`) for the running response `id` visible in `scope`. The input is durable before
  // this returns: the run's followers see response.steer.accepted. At the run's next safe
  // boundary (before a model call that follows server-side tool calls) it ends incomplete with
  // reason "steered"; if it completes first, that is its end. Then a successor response starts
  // with the queued input, the run's settings, and previous_response_id (or conversation) the
  // run. A run that stops for client tool output or approval keeps the input queued for the
  // next turn that continues it (response.steer.pending); a run that fails, is cancelled or is
  // interrupted returns it as failed (response.steer.failed), as does a restart (recover()).
  // Refusals carry a steer_code as their api_code.
  awaitable<Result<SteerAck>> steer(Scope scope, std::string id, std::vector<Item> input, std::string input_json);
  // GET /v1/responses/{id}/steers/{steer_id}: a steering submission as JSON (its status:
  // queued, committed with successor_response_id, or failed with its error and input).
  awaitable<Result<std::string>> get_steer(Scope scope, std::string response_id, std::string steer_id);

  // Responses.
  awaitable<Result<std::string>> get_response(Scope scope, const std::string& id);
  // A live or recently finished run, or the stored event log of a background response.
  awaitable<Result<std::shared_ptr<Run>>> stream_source(Scope scope,
                                                        const std::string& id);
  awaitable<Result<std::string>> delete_response(Scope scope, const std::string& id);
  // The responses `scope` sees, newest first (or oldest first, without the live ones): runs in
  // progress, then stored responses; only those with `status` when set.
  awaitable<Result<ResponsePage>> list_responses(Scope scope, ListQuery q, std::optional<std::string> status);
  awaitable<Result<std::string>> cancel(Scope scope, const std::string& id);
  awaitable<Result<ItemPage>> input_items(Scope scope, const std::string& id,
                                          ListQuery q);

  // Conversations. Metadata is a JSON object text.
  awaitable<Result<std::string>> create_conversation(Scope scope,
                                                     std::string metadata, std::vector<Item> items);
  awaitable<Result<std::string>> get_conversation(Scope scope, const std::string& id);
  awaitable<Result<ResponsePage>> list_conversations(Scope scope, ListQuery q);
  // Export and import (runtime/portable.cpp). import_conversation keeps `c.id` when `keep_id`
  // (already_exists when taken) or makes a new one; returns the id.
  awaitable<Result<ConversationExport>> export_conversation(std::string project, std::string id);
  awaitable<Result<std::string>> import_conversation(std::string project, ConversationExport c, bool keep_id);
  // The conversations in which `agent` answered, newest first, at most `limit`.
  awaitable<Result<std::vector<std::string>>> agent_conversations(std::string project, std::string agent, int limit);
  awaitable<Result<std::string>> update_conversation(Scope scope,
                                                     const std::string& id, std::string metadata);
  awaitable<Result<std::string>> delete_conversation(Scope scope,
                                                     const std::string& id);
  awaitable<Result<std::vector<ItemPtr>>> add_conversation_items(Scope scope,
                                                                 const std::string& id,
                                                                 std::vector<Item> items);
  awaitable<Result<ItemPage>> list_conversation_items(Scope scope,
                                                      const std::string& id, ListQuery q);
  awaitable<Result<ItemPtr>> get_conversation_item(Scope scope,
                                                   const std::string& conv,
                                                   const std::string& item);
  awaitable<Result<std::string>> delete_conversation_item(Scope scope,
                                                          const std::string& conv,
                                                          const std::string& item);

  // Deletes expired responses and conversations (retention). Returns how many were deleted.
  awaitable<Result<int64_t>> expire_now();

  // Drops the cached state nobody has used since `cutoff`: chain nodes, finished runs kept for
  // replay (a streamed run's events are written to the store first, as when the budget evicts
  // it) and conversations no turn holds. Everything dropped is read back from the store when it
  // is needed again, so a server that has gone idle gives its memory back.
  IdleDrop drop_idle(std::chrono::steady_clock::time_point cutoff);

  // Refuses new turns, waits up to `grace` for running ones, then cancels the rest and waits
  // for their outcome to be stored.
  awaitable<void> shutdown(std::chrono::milliseconds grace);

  RuntimeStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cn::runtime
