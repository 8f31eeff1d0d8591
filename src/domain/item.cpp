// Item helpers: type names, text and token estimates of a conversation item.
#include "domain/item.hpp"

namespace cn {

std::string_view item_type_name(ItemType t) {
  switch (t) {
    case ItemType::message: return "message";
    case ItemType::function_call: return "function_call";
    case ItemType::function_call_output: return "function_call_output";
    case ItemType::reasoning: return "reasoning";
    case ItemType::memory_call: return "memory_call";
    case ItemType::mcp_list_tools: return "mcp_list_tools";
    case ItemType::mcp_call: return "mcp_call";
    case ItemType::mcp_approval_request: return "mcp_approval_request";
    case ItemType::mcp_approval_response: return "mcp_approval_response";
    case ItemType::code_interpreter_call: return "code_interpreter_call";
    case ItemType::agent_handoff: return "agent_handoff";
    case ItemType::agent_call: return "agent_call";
    case ItemType::item_reference: return "item_reference";
    case ItemType::compaction: return "compaction";
  }
  return "message";
}

std::string Item::text() const {
  switch (type) {
    case ItemType::function_call: return name + " " + arguments;
    case ItemType::function_call_output: return output;
    case ItemType::memory_call:
    case ItemType::agent_handoff:
    case ItemType::agent_call: return name + " " + arguments + " " + output;
    case ItemType::mcp_call: return name + " " + arguments + " " + (error.empty() ? output : error);
    case ItemType::code_interpreter_call: return arguments + " " + output;
    case ItemType::compaction: return output;
    case ItemType::mcp_list_tools:
    case ItemType::mcp_approval_request:
    case ItemType::mcp_approval_response: return {};  // not sent to the model as text
    default: break;
  }
  std::string out;
  for (const auto& p : content) {
    if (!out.empty() && !p.text.empty()) out += '\n';
    out += p.text;
  }
  return out;
}

size_t Item::approx_bytes() const {
  size_t n = sizeof(Item) + id.capacity() + role.capacity() + status.capacity() + call_id.capacity() +
             name.capacity() + arguments.capacity() + output.capacity() + server_label.capacity() +
             error.capacity() + approval_request_id.capacity() + reason.capacity() + wire.capacity() +
             chat.capacity();
  for (const auto& p : content) n += sizeof(ContentPart) + p.type.capacity() + p.text.capacity();
  return n;
}

int64_t Item::token_estimate() const {
  size_t bytes = 0;
  for (const auto& p : content) bytes += p.text.size();
  if (type == ItemType::mcp_list_tools || type == ItemType::mcp_approval_request ||
      type == ItemType::mcp_approval_response)
    return 4;  // not part of the model's context (the listing is sent as tool definitions)
  if (type == ItemType::compaction) return static_cast<int64_t>(output.size() / 4) + 4;  // the summary, not its sealed form
  bytes += call_id.size() + name.size() + arguments.size() + output.size() + error.size();
  return static_cast<int64_t>(bytes / 4) + 4;
}

}  // namespace cn
