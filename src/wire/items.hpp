// The JSON form of items: parsing client input (validated, ids assigned) and the canonical
// stored/returned resource form.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "domain/item.hpp"
#include "wire/json.hpp"

namespace cn::wire {

// Parses a Responses `input` (a string or an array of input items) into items with fresh ids
// (client-supplied ids of replayed output items are kept). `param` prefixes error params
// ("input", "items"). Fails with invalid_argument naming the exact offending path.
Result<std::vector<Item>> parse_input(const json::value& input, std::string_view param);

// The prefix of ids of items of type `t` ("msg", "fc", ...).
const char* id_prefix(ItemType t);

// Builds an item's canonical resource JSON and stores it in item.wire.
void finalize_wire(Item& item);

// Rebuilds an item from its stored canonical JSON. A stored item that cannot be parsed is a
// corrupted store: internal.
Result<Item> item_from_wire(std::string_view wire);

// Sets the log probabilities (a JSON array) of an output message's text part in its wire form.
void set_output_logprobs(Item& item, std::string_view entries_json);

// Output items produced by the model.
Item make_output_message(std::string id, std::string text, std::string status);
Item make_function_call(std::string id, std::string call_id, std::string name,
                        std::string arguments, std::string status);
Item make_reasoning(std::string id, std::string text);
// `handed_to` set: an agent item of `type` (agent_handoff: the agent taken over; agent_call: the
// callee), shaped alike.
Item make_memory_call(std::string id, std::string call_id, std::string name, std::string arguments,
                      std::string output, std::string handed_to = "",
                      ItemType type = ItemType::agent_handoff);
// An MCP item (mcp_list_tools, mcp_call, mcp_approval_request) from its fields; gives it an id
// when it has none and builds its wire and chat forms.
Item make_mcp_item(Item fields);

}  // namespace cn::wire
