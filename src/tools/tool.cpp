// ToolSet: a turn's server-side tools by name, and their definitions for the model.
#include "tools/tool.hpp"

#include <boost/json.hpp>

namespace cn::tools {

namespace json = boost::json;

Status ToolSet::add(std::shared_ptr<Tool> tool) {
  std::string name = tool->name();
  if (!tools_.emplace(name, std::move(tool)).second)
    return invalid_param("tools", "Two server-side tools are named '" + name + "'.");
  return {};
}

std::shared_ptr<Tool> ToolSet::find(std::string_view name) const {
  auto it = tools_.find(name);
  return it == tools_.end() ? nullptr : it->second;
}

std::string ToolSet::with_definitions(const std::string& client_tools_json) const {
  json::array tools;
  if (!client_tools_json.empty()) tools = json::parse(client_tools_json).as_array();
  for (const auto& [name, t] : tools_) tools.push_back(t->definition());
  return json::serialize(tools);
}

Outcome error_outcome(std::string_view message) {
  return {json::serialize(json::object{{"error", message}}), true};
}

}  // namespace cn::tools
