// The Responses API's `code_interpreter` tool type, run in Continuum's own sandbox
// (sandbox.hpp): the model sends Python (or shell) code, the run executes it and records a
// code_interpreter_call item with the code, its container and its logs.
//
// Containers: a conversation's turns share one working directory (/work), so files written in
// one turn are there in the next; outside a conversation, "container": "<id>" names one to
// reuse, and {"type": "auto"} makes a new one per response.
#pragma once

#include <memory>

#include "tools/sandbox/sandbox.hpp"
#include "tools/tool.hpp"

namespace cn::tools::sandbox {

class CodeToolSource final : public ToolSource {
 public:
  explicit CodeToolSource(std::shared_ptr<Sandbox> sandbox) : sandbox_(std::move(sandbox)) {}
  bool provides(std::string_view type) const override { return type == "code_interpreter"; }
  // 400 when the sandbox is not installed, or the container field is invalid.
  Status add_tools(const ToolRequest& req, ToolSet& out) override;

 private:
  std::shared_ptr<Sandbox> sandbox_;
};

}  // namespace cn::tools::sandbox
