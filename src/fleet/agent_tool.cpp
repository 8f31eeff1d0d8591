// AgentToolSource (see agent_tool.hpp): one agent called by another as a tool, in a child run.
#include "fleet/agent_tool.hpp"

#include <boost/json.hpp>

#include "base/ids.hpp"

namespace cn::fleet {

namespace json = boost::json;

namespace {

class AgentTool final : public tools::Tool {
 public:
  AgentTool(AgentRegistry& agents, std::shared_ptr<ChildRunner> runner, std::string agent, std::string name, std::string description)
      : agents_(agents), runner_(std::move(runner)), agent_(std::move(agent)), name_(std::move(name)), description_(std::move(description)) {}
  const std::string& name() const override { return name_; }
  json::object definition() const override {
    json::object props{{"input", json::object{{"type", "string"}, {"description", "What to ask the agent: everything it needs to know."}}}};
    return {{"type", "function"},
            {"name", name_},
            {"description", description_},
            {"parameters", json::object{{"type", "object"}, {"properties", std::move(props)}, {"required", json::array{"input"}}}},
            {"strict", false}};
  }
  bool idempotent() const override { return false; }  // the callee may call tools of its own
  ItemType item_type() const override { return ItemType::agent_call; }
  std::string item_label() const override { return agent_; }

  tools::awaitable<tools::Outcome> execute(const tools::CallContext& ctx, std::string arguments) override {
    boost::system::error_code ec;
    auto args = json::parse(arguments.empty() ? std::string("{}") : arguments, ec);
    const json::value* input = !ec && args.is_object() ? args.as_object().if_contains("input") : nullptr;
    if (!input || !input->is_string() || input->as_string().empty()) co_return tools::error_outcome("'input' must be a non-empty string");
    if (ctx.agent_depth + 1 > kMaxAgentDepth)
      co_return tools::error_outcome("Agents may call agents at most " + std::to_string(kMaxAgentDepth) + " deep; '" + agent_ + "' was not called.");
    auto v = agents_.resolve(ctx.project_id, agent_);
    if (!v.ok()) co_return tools::error_outcome("No agent named '" + agent_ + "' exists.");
    std::string text(input->as_string());
    auto answer = co_await runner_->run_child(ctx, *v, std::move(text));
    if (!answer.ok()) co_return tools::error_outcome("The agent '" + agent_ + "' could not run: " + answer.status().message());
    json::object out{{"agent", agent_}, {"response_id", answer->response_id}, {"status", answer->status}, {"output", answer->output_text}};
    co_return tools::Outcome{json::serialize(out), answer->status != "completed"};
  }

 private:
  AgentRegistry& agents_;
  std::shared_ptr<ChildRunner> runner_;
  const std::string agent_, name_, description_;
};

}  // namespace

Status AgentToolSource::add_tools(const tools::ToolRequest& req, tools::ToolSet& out) {
  auto str = [&](const char* k) {
    auto* v = req.config.if_contains(k);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
  };
  std::string agent = str("agent");
  if (!valid_id_syntax(agent, 64)) return invalid_param("tools", "Invalid 'agent' tool: 'agent' must name an agent.");
  std::string name = str("name");
  if (name.empty()) name = "ask_" + agent;
  if (!valid_id_syntax(name, 64) || name.starts_with("transfer_to_"))
    return invalid_param("tools", "Invalid 'agent' tool: 'name' must be 1 to 64 letters, digits, '_' or '-' (not transfer_to_...).");
  std::string description = str("description");
  if (description.empty()) {
    description = "Asks the agent '" + agent + "' and returns its answer";
    if (auto v = agents_.resolve(req.project_id, agent); v.ok() && !(*v)->def.description.empty())
      description += ". " + (*v)->def.description;
  }
  return out.add(std::make_shared<AgentTool>(agents_, runner_, std::move(agent), std::move(name), std::move(description)));
}

}  // namespace cn::fleet
