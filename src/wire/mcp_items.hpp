// Internal to wire/: the JSON forms of OpenAI's remote-MCP items (mcp_list_tools, mcp_call,
// mcp_approval_request, mcp_approval_response), used by items.cpp for parsing, the stored
// resource and the Chat Completions form.
#pragma once

#include <string>

#include "domain/item.hpp"
#include "wire/json.hpp"

namespace cn::wire {

// Whether `type` names an MCP item type; sets `out`.
bool mcp_item_type(std::string_view type, ItemType& out);
// Validates the fields of an MCP item of `item.type` in `o` (an input item at `path`).
Status parse_mcp_fields(const json::object& o, const std::string& path, Item& item);
// Adds the item's fields to its resource object (which has id and type).
void mcp_resource(const Item& item, json::object& o);
// The Chat Completions form: an mcp_call is the assistant's tool call and the tool's answer;
// the other MCP items are not sent to the model ("").
std::string mcp_chat_form(const Item& item);

}  // namespace cn::wire
