// HandoffSource (see handoff.hpp): transfer_to_<agent> tools.
#include "fleet/handoff.hpp"

#include <boost/json.hpp>

#include "base/ids.hpp"

namespace cn::fleet {

namespace json = boost::json;

namespace {

class HandoffTool final : public tools::Tool {
 public:
  HandoffTool(AgentRegistry& agents, std::string agent, std::string description)
      : agents_(agents), agent_(std::move(agent)), name_(handoff_tool_name(agent_)), description_(std::move(description)) {}
  const std::string& name() const override { return name_; }
  json::object definition() const override {
    return {{"type", "function"},
            {"name", name_},
            {"description", description_},
            {"parameters", json::object{{"type", "object"}, {"properties", json::object{}}, {"additionalProperties", false}}},
            {"strict", false}};
  }
  bool idempotent() const override { return true; }  // it changes nothing outside the run
  ItemType item_type() const override { return ItemType::agent_handoff; }
  std::string item_label() const override { return agent_; }
  tools::awaitable<tools::Outcome> execute(const tools::CallContext& ctx, std::string) override {
    if (!agents_.resolve(ctx.project_id, agent_).ok())
      co_return tools::error_outcome("No agent named '" + agent_ + "' exists any more; the conversation stays with you.");
    co_return tools::Outcome{json::serialize(json::object{{"assistant", agent_}})};
  }

 private:
  AgentRegistry& agents_;
  const std::string agent_, name_, description_;
};

}  // namespace

Status HandoffSource::add_tools(const tools::ToolRequest& req, tools::ToolSet& out) {
  auto* a = req.config.if_contains("agent");
  if (!a || !a->is_string() || !valid_id_syntax(a->as_string(), 64))
    return invalid_param("tools", "Invalid 'agent_handoff' tool: 'agent' must name an agent.");
  std::string agent(a->as_string());
  std::string description = "Hand the conversation to the agent '" + agent + "'";
  if (auto v = agents_.resolve(req.project_id, agent); v.ok() && !(*v)->def.description.empty())
    description += ": " + (*v)->def.description;
  description += ".";
  return out.add(std::make_shared<HandoffTool>(agents_, std::move(agent), std::move(description)));
}

}  // namespace cn::fleet
