// An agent definition: the document one version of an agent is. Model, instructions, tools
// (any entry a Responses request's `tools` may hold: function, mcp, code_interpreter, memory,
// registered tool servers by label), the agents it may hand to, its memory settings (on or off,
// inject, learn, strategies and their scopes), its own policy set, limits (tool calls, output tokens, total tokens
// and time for a whole run) and metadata. Validated here so that every version stored can run: a bad document is a 400 that
// names the field, before anything is stored.
//
// Thread-safety: plain values and pure functions.
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include <optional>
#include <string>
#include <vector>

#include "base/status.hpp"
#include "memory/settings.hpp"
#include "policy/policy.hpp"

namespace cn::fleet {

struct AgentDefinition {
  std::string name;  // 1-64 letters, digits, '_' or '-'
  std::string description;
  std::string model;         // the model the agent's turns call (never "agent:...")
  std::string instructions;  // placed before a request's own instructions
  boost::json::array tools;  // Responses `tools` entries
  std::vector<std::string> handoffs;  // agents it may hand the conversation to
  memory::Settings memory;            // long-term memory for its turns: on/off, inject, learn, strategies
  std::optional<int64_t> max_tool_calls, max_output_tokens;
  // Limits on a whole run as this agent, its handoffs and child runs included (CreateParams).
  std::optional<int64_t> max_total_tokens, max_run_seconds;
  std::optional<double> temperature;
  // The agent's own policy set (Cedar text, "" = none), compiled: its server-side calls run only
  // when the project's set (if any) and this one both allow them.
  std::string policies;
  std::shared_ptr<const policy::PolicySet> policy_set;
  boost::json::array skills;     // {id, name, description, tags?}: what the agent offers (A2A)
  boost::json::object metadata;  // strings; never interpreted
};

// Parses a document ({"name", "model", ...}); unknown fields are refused.
Result<AgentDefinition> parse_definition(const boost::json::object& doc);
// The canonical document (fields in a fixed order, defaults explicit): equal definitions
// serialize alike, so an unchanged manifest makes no new version.
boost::json::object definition_json(const AgentDefinition& d);

// The tool name a handoff to `agent` is offered under (as OpenAI's Agents SDK names it).
std::string handoff_tool_name(const std::string& agent);

}  // namespace cn::fleet
