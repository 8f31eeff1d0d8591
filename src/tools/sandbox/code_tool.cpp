// The code_interpreter tool (see code_tool.hpp): the model's code to the sandbox, its logs back.
#include "tools/sandbox/code_tool.hpp"

#include <boost/json.hpp>

#include "base/ids.hpp"

namespace cn::tools::sandbox {

namespace json = boost::json;

namespace {

class CodeTool final : public Tool {
 public:
  CodeTool(std::shared_ptr<Sandbox> sb, std::string container, std::string project)
      : sb_(std::move(sb)), container_(std::move(container)), project_(std::move(project)) {}
  const std::string& name() const override { return name_; }
  json::object definition() const override {
    return {{"type", "function"},
            {"name", name_},
            {"description", "Runs code in a sandbox with a persistent working directory (/work) and no network. "
                            "Use print() to show results."},
            {"parameters", json::object{{"type", "object"},
                                        {"properties", json::object{{"code", json::object{{"type", "string"}}},
                                                                    {"language", json::object{{"type", "string"}, {"enum", json::array{"python", "shell"}}}}}},
                                        {"required", json::array{"code"}}}},
            {"strict", false}};
  }
  bool idempotent() const override { return false; }
  ItemType item_type() const override { return ItemType::code_interpreter_call; }
  std::string item_label() const override { return container_; }
  awaitable<Outcome> execute(const CallContext& ctx, std::string arguments) override {
    boost::system::error_code ec;
    auto v = json::parse(arguments, ec);
    if (ec || !v.is_object()) co_return error_outcome("arguments must be a JSON object with 'code'");
    auto* code = v.as_object().if_contains("code");
    if (!code || !code->is_string()) co_return error_outcome("'code' must be a string");
    std::string language = "python";
    if (auto* l = v.as_object().if_contains("language"); l && l->is_string()) language = std::string(l->as_string());
    std::string text(code->as_string());
    // One directory per project and container: another project's container id reaches nothing.
    std::string dir = project_ + "-" + container_;
    auto r = co_await sb_->run(language, std::move(text), dir, project_, ctx.cancel, ctx.deadline);
    if (!r.ok()) co_return error_outcome(r.status().message());
    std::string logs = r->output;
    if (r->truncated) logs += "\n[output cut at the sandbox's limit]";
    if (r->timed_out) logs += "\n[killed: the code ran past its time limit]";
    else if (r->exit_code < 0)
      logs += "\n[killed by signal " + std::to_string(-r->exit_code) +
              ": a limit on CPU time, memory or processes was reached]";
    else if (r->exit_code != 0) logs += "\n[exit code " + std::to_string(r->exit_code) + "]";
    co_return Outcome{std::move(logs)};
  }

 private:
  std::shared_ptr<Sandbox> sb_;
  const std::string container_, project_;
  const std::string name_ = "code_interpreter";
};

}  // namespace

Status CodeToolSource::add_tools(const ToolRequest& req, ToolSet& out) {
  if (!sandbox_ || !sandbox_->available())
    return Status(Code::invalid_argument, "The code sandbox is not installed on this server (bubblewrap).", "tools",
                  "unsupported_parameter");
  std::string container;
  if (auto* c = req.config.if_contains("container"); c && !c->is_null()) {
    if (c->is_string()) {
      if (!valid_id_syntax(c->as_string(), 64))
        return invalid_param("tools.container", "Invalid 'tools.container': expected an id of 1 to 64 letters, digits, '_' or '-'.");
      container = std::string(c->as_string());
    } else if (!c->is_object()) {
      return invalid_param("tools.container", "Invalid 'tools.container': expected a container id or {\"type\": \"auto\"}.");
    }
  }
  if (container.empty()) {
    const std::string& conv = req.conversation_id;
    container = !conv.empty() ? "cntr_" + conv : new_id("cntr");
  }
  return out.add(std::make_shared<CodeTool>(sandbox_, container, req.project_id));
}

}  // namespace cn::tools::sandbox
