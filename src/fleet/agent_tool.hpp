// Agents as tools: an agent's definition may list {"type": "agent", "agent": "researcher"} among
// its tools; the model then sees a function (`ask_researcher` unless `name` says otherwise) that
// runs one turn as that agent, with its own context (the input the model gives, not the
// caller's conversation), as a child run: a stored response of its own, for the same end user,
// that records `parent_response_id`. The call is an agent_call item whose output names the
// child's response. Depth is bounded (kMaxAgentDepth): a callee deeper than that fails as a call.
//
// Thread-safety: the source and its tools are shared between runs.
#pragma once

#include <boost/asio/awaitable.hpp>

#include "fleet/registry.hpp"
#include "tools/tool.hpp"

namespace cn::fleet {

inline constexpr int kMaxAgentDepth = 3;

struct ChildAnswer {
  std::string response_id, status, output_text;
};

// Runs a child turn (api/ implements it over the runtime).
class ChildRunner {
 public:
  virtual ~ChildRunner() = default;
  virtual boost::asio::awaitable<Result<ChildAnswer>> run_child(const tools::CallContext& parent,
                                                                std::shared_ptr<const AgentVersion> agent, std::string input) = 0;
};

class AgentToolSource final : public tools::ToolSource {
 public:
  AgentToolSource(AgentRegistry& agents, std::shared_ptr<ChildRunner> runner) : agents_(agents), runner_(std::move(runner)) {}
  bool provides(std::string_view type) const override { return type == "agent"; }
  Status add_tools(const tools::ToolRequest& req, tools::ToolSet& out) override;

 private:
  AgentRegistry& agents_;
  std::shared_ptr<ChildRunner> runner_;
};

}  // namespace cn::fleet
