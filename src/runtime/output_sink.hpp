// OutputSink: turns a model's streamed deltas into a run's output items and stream events.
//
// Text and reasoning deltas grow the open message or reasoning item; a tool call opens a
// function_call item, or, when the name is one of the turn's server-side tools, an item of that
// tool's type (e.g. memory_call) that the run's loop executes and completes. Every change is
// published as an OpenAI Responses stream event (when the run records events).
//
// Threads: owned by one run and called only on that run's strand. It takes the run's mutex for
// each change; followers are woken by flush(), outside the lock.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "model/provider.hpp"
#include "runtime/run_state.hpp"
#include "tools/tool.hpp"

namespace cn::runtime {

class OutputSink final : public model::ModelSink {
 public:
  // `tools` (may be null) are the turn's server-side tools; it must outlive the sink.
  OutputSink(Run& run, const tools::ToolSet* tools) : run_(run), tools_(tools) {}

  void reasoning_delta(std::string_view t) override;
  void text_delta(std::string_view t) override;
  void text_logprobs(std::string_view entries_json) override;
  void tool_call_begin(int index, std::string call_id, std::string name) override;
  void tool_call_delta(int index, std::string_view args) override;
  bool started() const override { return started_; }

  // A new model call of the same run starts: tool-call indices restart from 0.
  void next_step();
  // Server-side calls the model made in the last step and nobody executed yet (output indices).
  std::vector<int> pending_server_calls();
  // Whether the last step called a client function tool or asked for an approval (the run then
  // ends for the client to answer).
  bool has_client_calls();
  // What a client must answer before the run can go on: an entry per open client tool call
  // ({type: "function_call_output", call_id, name}) and approval request ({type:
  // "mcp_approval_response", approval_request_id}), as a JSON array ("[]": none).
  std::string required_input();
  // The agent the last completed handoff among output items [from, end) hands to ("" = none).
  std::string handoff_since(size_t from);
  // A server-side call starts running (mcp_call: its arguments are final, it is in progress).
  void start_server_call(int idx);
  // Records a server-side call's result and closes its item (an error fails an mcp_call).
  void complete_server_call(int idx, std::string output, bool error = false);
  // An mcp_call the client approved in an earlier turn, to be run now; returns its index.
  int approved_call(const Item& request, const std::string& approval_id, const std::string& declined);
  // A server is being listed: opens its mcp_list_tools item; then completes it with the tools
  // (a JSON array text) or an error.
  int begin_listing(const std::string& label);
  void complete_listing(int idx, std::string tools_json, std::string error);
  // Closes every open item with `status` ("completed" or "incomplete").
  void finish(const std::string& status);
  // Records a compaction made before the model call as a finished output item
  // (response.compaction.compacting, then the item's added and done events).
  void compaction(const Item& c);
  // Wakes followers if anything changed since the last flush; call outside the run's lock.
  void flush();

 private:
  int open_of(ItemType t);
  int push(OutItem o);
  int begin(ItemType t, std::string id);
  // The id of the next output item: owned by the run (base/ids.hpp: owned_id), so that an
  // item_reference to it resolves. Caller holds the run's lock.
  std::string item_id(std::string_view prefix) const;
  void close_text_items(const std::string& status = "completed");
  void wake() { pending_wake_ = true; }

  std::string pending_logprobs_;  // the entries of the next text delta (JSON array)
  Run& run_;
  const tools::ToolSet* tools_;
  std::map<int, int> calls_;  // the model's tool-call index -> output index
  bool started_ = false;
  bool pending_wake_ = false;
};

// An OutputSink adapter that flushes after every callback, for providers that call back on the
// run's own coroutine.
class FlushingSink final : public model::ModelSink {
 public:
  explicit FlushingSink(OutputSink& s) : s_(s) {}
  void reasoning_delta(std::string_view t) override { first(); s_.reasoning_delta(t); s_.flush(); }
  void text_delta(std::string_view t) override { first(); s_.text_delta(t); s_.flush(); }
  void text_logprobs(std::string_view e) override { s_.text_logprobs(e); }
  void tool_call_begin(int i, std::string c, std::string n) override {
    first();
    s_.tool_call_begin(i, std::move(c), std::move(n));
    s_.flush();
  }
  void tool_call_delta(int i, std::string_view a) override { first(); s_.tool_call_delta(i, a); s_.flush(); }
  bool started() const override { return s_.started(); }

  // When the model's first delta of the current call came (empty: none yet); reset per call.
  std::optional<std::chrono::steady_clock::time_point> first_event() const { return first_; }
  void new_call() { first_.reset(); }

 private:
  void first() {
    if (!first_) first_ = std::chrono::steady_clock::now();
  }
  OutputSink& s_;
  std::optional<std::chrono::steady_clock::time_point> first_;
};

}  // namespace cn::runtime
