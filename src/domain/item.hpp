// Items: the unit of the append-only log. A message, a function call, its output, a reasoning
// trace. Plain values; the JSON form lives in wire/.
#pragma once

#include <cstdint>
#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace cn {

// memory_call: a built-in memory tool (memory_search, memory_write) the runtime executed itself
// during a run; it carries its call and its output together.
// agent_handoff: a running agent handed the conversation to another agent of its team (the
// model called transfer_to_<agent>); shaped like memory_call, with the agent taken over in
// `server_label`. agent_call: an agent called another as a tool (a child run of its own), shaped
// alike, with the callee in `server_label`.
// mcp_*: OpenAI's remote MCP items. mcp_list_tools (a server's tools, kept so a conversation
// lists a server once), mcp_call (a call the runtime ran on an MCP server, with its output or
// error), mcp_approval_request (a call waiting for a human) and mcp_approval_response (the
// human's answer, sent as input).
enum class ItemType {
  message,
  function_call,
  function_call_output,
  reasoning,
  memory_call,
  mcp_list_tools,
  mcp_call,
  mcp_approval_request,
  mcp_approval_response,
  code_interpreter_call,  // code the runtime ran in its sandbox: arguments {code, language}, output the logs
  agent_handoff,
  agent_call,
  // {"type": "item_reference", "id"}: a stored item named by id. Only request parsing makes one;
  // the runtime replaces it with the item before anything else sees the input.
  item_reference,
  // A compaction: the summary of the items before it, which it replaces in the model's context.
  // `output` holds the summary, `arguments` the sealed form a client sees (encrypted_content),
  // `server_label` the project it was sealed for.
  compaction,
};

// Calls the run executes itself, recorded with their outcome.
inline bool is_server_call(ItemType t) {
  return t == ItemType::memory_call || t == ItemType::mcp_call || t == ItemType::code_interpreter_call ||
         t == ItemType::agent_handoff || t == ItemType::agent_call;
}
// The wire name of a type ("message", "mcp_call", ...).
std::string_view item_type_name(ItemType t);
// memory_call-shaped items that name an agent (in server_label).
inline bool is_agent_item(ItemType t) { return t == ItemType::agent_handoff || t == ItemType::agent_call; }

struct ContentPart {
  std::string type;  // input_text, output_text, refusal, input_image, input_file, reasoning_text
  std::string text;  // the text of text-like parts; empty for images and files
};

// An item's token counts, one slot per encoding (tokens/counter.hpp), -1 until counted. Items
// are shared between threads once built, so the slots are atomic; a copy starts uncounted.
struct TokenCounts {
  static constexpr int kSlots = 4;
  mutable std::atomic<int32_t> slot[kSlots] = {-1, -1, -1, -1};
  TokenCounts() = default;
  TokenCounts(const TokenCounts&) {}
  TokenCounts& operator=(const TokenCounts&) {
    for (auto& s : slot) s.store(-1, std::memory_order_relaxed);
    return *this;
  }
};

struct Item {
  std::string id;
  ItemType type = ItemType::message;
  std::string role;                   // message: user, assistant, system, developer
  std::string status = "completed";
  std::vector<ContentPart> content;   // message and reasoning content
  std::string call_id, name, arguments;  // function_call; call_id also for function_call_output
  std::string output;                 // function_call_output, memory_call and mcp_call, as text;
                                      // mcp_list_tools: its tools as a JSON array text
  std::string server_label;           // mcp_*: the MCP server's label; code_interpreter_call: the container;
                                      // agent_handoff: the agent handed to; agent_call: the callee
  std::string error;                  // mcp_call and mcp_list_tools: what failed ("" = none)
  std::string approval_request_id;    // mcp_call (when approved) and mcp_approval_response
  bool approve = false;               // mcp_approval_response
  std::string reason;                 // mcp_approval_response (optional)
  std::string wire;                   // the item's canonical JSON resource (with id and status)
  // The item as a Chat Completions message (for a function_call: the tool_calls entry), computed
  // once with `wire` so that sending a long history upstream is concatenation, not conversion.
  // Empty for items that are not sent upstream (reasoning).
  std::string chat;
  TokenCounts token_counts;

  // All text of the item joined, used for token estimates and the local model.
  std::string text() const;
  // A rough token count (about four bytes a token, plus a per-item overhead).
  int64_t token_estimate() const;
  // The memory this item holds (its strings' capacities and the object itself): what the
  // runtime's byte budgets count.
  size_t approx_bytes() const;
};

using ItemPtr = std::shared_ptr<const Item>;

struct Usage {
  int64_t input_tokens = 0;
  int64_t cached_tokens = 0;
  int64_t output_tokens = 0;
  int64_t reasoning_tokens = 0;
  int64_t total() const { return input_tokens + output_tokens; }
};

}  // namespace cn
