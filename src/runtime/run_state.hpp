// Internal to runtime/: the mutable state of a Run and the Response-object builder.
#pragma once

#include <boost/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "domain/item.hpp"
#include "http/client.hpp"
#include "runtime/runtime.hpp"

namespace cn::runtime {

namespace json = boost::json;

// One output item while it is being generated.
struct OutItem {
  ItemType type;
  std::string id;
  std::string call_id = {}, name = {};  // function_call
  std::string text = {};      // message text, reasoning text, or call arguments
  std::string output = {};    // memory_call, mcp_call: the tool's result; mcp_list_tools: the tools
  std::string server_label = {};         // mcp_*
  std::string error = {};                // mcp_call, mcp_list_tools: why it failed
  std::string approval_request_id = {};  // mcp_call run after an approval
  std::string logprobs = {};             // message: its tokens' log probabilities (JSON array elements)
  bool open = true;
  std::string status = "in_progress";
};

// Steering input a run accepted: its id, its items (user messages) and their wire JSON array.
struct SteerInput {
  std::string id;
  std::vector<ItemPtr> items;
  std::string input_json;
};

// The stored item of an output item (its final form).
Item to_item(const OutItem& o);

struct Run::State {
  std::string model;
  std::optional<std::string> instructions;
  json::object echo;
  std::optional<std::string> previous_response_id, conversation_id;
  bool store = true;
  int64_t created_at = 0;
  std::optional<int64_t> completed_at;
  std::string status = "in_progress";
  std::optional<std::pair<std::string, std::string>> error;  // code, message
  std::optional<std::string> incomplete_reason;
  std::vector<OutItem> output;
  std::optional<Usage> usage;
  // Stream events are recorded only for runs someone may follow: streamed or background ones.
  bool record_events = true;
  std::vector<std::string> events;
  // Many nodes (remote_runs.cpp): ships new events to the shared store; set before the run is
  // published, never changed (null: not shipped). Events below `shipped` are durable there; one
  // write is in flight while `shipping`.
  std::function<void()> ship;
  int64_t shipped = 0;
  bool shipping = false;
  bool done = false;
  Status failure;
  std::vector<std::function<void()>> waiters;
  std::shared_ptr<http::CancelToken> cancel = std::make_shared<http::CancelToken>();
  std::string cancel_reason;
  // Long-term memories placed into this turn's context; null when memory was not consulted.
  std::optional<std::vector<std::string>> memories_used;  // "", "client", "interrupt", "deadline", "shutdown"
  // Steering (steering.cpp). Whether the run takes steering input at all; the input accepted
  // and not yet taken by the run (each durable before it was accepted); whether the run took
  // it (at its end: no more is accepted); and, after the terminal event, whether what it took
  // is still being settled, the notices for its followers (response.steer.pending / .failed,
  // numbered after the run's events) and the successor started with it.
  bool steerable = false;
  std::vector<SteerInput> steers;
  bool steers_closed = false;
  bool settling = false;
  std::vector<std::string> notices;
  std::shared_ptr<Run> successor;
};

json::object out_item_json(const OutItem& o);
// The Response object for `st`; `with_output` false gives "output": [] (the stored body form).
json::object response_object(const std::string& id, const Run::State& st, bool with_output = true);
json::object usage_json(const Usage& u);
// An output message's log probabilities (OutItem::logprobs) as a JSON array.
json::value logprobs_json(const std::string& entries);
// The event stream of a finished Response, rebuilt from its final object (one delta per part),
// for responses whose original events were not kept.
std::vector<std::string> synthesize_events(const json::object& response);

}  // namespace cn::runtime
