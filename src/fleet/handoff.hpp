// Handoffs as tools: an agent whose definition lists `handoffs` offers the model one
// transfer_to_<agent> function per agent (as OpenAI's Agents SDK does). The call is recorded as
// an agent_handoff item; when it completes, the run loop goes on as that agent (runtime/team.hpp).
// The request form is {"type": "agent_handoff", "agent": "<name>"} (apply.hpp adds them).
//
// Thread-safety: the source and its tools are shared between runs; lookups are in memory.
#pragma once

#include "fleet/registry.hpp"
#include "tools/tool.hpp"

namespace cn::fleet {

class HandoffSource final : public tools::ToolSource {
 public:
  explicit HandoffSource(AgentRegistry& agents) : agents_(agents) {}
  bool provides(std::string_view type) const override { return type == "agent_handoff"; }
  Status add_tools(const tools::ToolRequest& req, tools::ToolSet& out) override;

 private:
  AgentRegistry& agents_;
};

}  // namespace cn::fleet
