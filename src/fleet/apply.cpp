// apply_agent (see apply.hpp): an agent's definition folded into a Responses request body.
#include "fleet/apply.hpp"

#include <boost/json.hpp>

namespace cn::fleet {

namespace json = boost::json;

Status apply_agent(const AgentVersion& v, json::object& body) {
  const AgentDefinition& d = v.def;
  body["model"] = d.model;
  std::string instructions = d.instructions;
  if (auto* own = body.if_contains("instructions"); own && own->is_string() && !own->as_string().empty())
    instructions += (instructions.empty() ? "" : "\n\n") + std::string(own->as_string());
  if (!instructions.empty()) body["instructions"] = instructions;
  json::array tools = d.tools;
  for (const auto& h : d.handoffs) tools.push_back(json::object{{"type", "agent_handoff"}, {"agent", h}});
  if (auto* own = body.if_contains("tools"); own && !own->is_null()) {
    if (!own->is_array()) return invalid_param("tools", "Invalid 'tools': expected an array.");
    for (const auto& t : own->as_array()) tools.push_back(t);
  }
  if (!tools.empty()) body["tools"] = std::move(tools);
  if (d.max_tool_calls) {
    auto* own = body.if_contains("max_tool_calls");
    bool smaller = own && own->is_int64() && own->as_int64() < *d.max_tool_calls;
    if (!smaller) body["max_tool_calls"] = *d.max_tool_calls;
  }
  if (d.max_output_tokens && !body.contains("max_output_tokens")) body["max_output_tokens"] = *d.max_output_tokens;
  if (d.temperature && !body.contains("temperature")) body["temperature"] = *d.temperature;
  // Memory off in the agent is off; otherwise a request's own setting wins over the agent's.
  auto* own_memory = body.if_contains("memory");
  if (!d.memory.enabled || !own_memory || own_memory->is_null()) {
    if (d.memory != memory::Settings{}) body["memory"] = memory::settings_json(d.memory);
  }
  return {};
}

json::object agent_ref_json(const AgentVersion& v, std::string_view requested) {
  return json::object{{"name", v.name}, {"version", v.version}, {"requested", requested}};
}

}  // namespace cn::fleet
