// Running a request as an agent: a POST /v1/responses body whose model is "agent:NAME[@ALIAS]"
// becomes the request that agent's version makes. The agent's model replaces the name; its
// instructions come before the request's own; its tools come before the request's (a request
// may add client function tools); a handoff becomes a {"type": "agent_handoff"} tool; its limits
// bound the request's (max_tool_calls: the smaller; max_output_tokens and temperature: the
// request's when given); memory: the agent's settings unless the request gives its own, and
// off when the agent's is off. Its run limits (max_total_tokens, max_run_seconds) are not body
// fields: api/ sets them on the parsed request.
//
// Thread-safety: a pure function.
#pragma once

#include <boost/json/object.hpp>

#include "base/status.hpp"
#include "fleet/registry.hpp"

namespace cn::fleet {

inline constexpr std::string_view kAgentModelPrefix = "agent:";

// Rewrites `body` (already a JSON object) for agent version `v`.
Status apply_agent(const AgentVersion& v, boost::json::object& body);

// The `agent` object a response made by `v` records.
boost::json::object agent_ref_json(const AgentVersion& v, std::string_view requested);

}  // namespace cn::fleet
