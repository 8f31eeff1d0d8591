// The built-in memory tools (request tools: [{"type": "memory"}]): memory_search and
// memory_write, run on the server for the turn's end user and recorded as memory_call items.
//
// Scope: a call reads the acting user's records visible to the turn's agent and session
// (memory::visible) and writes into the user's (and agent's) namespace; it never reaches another
// user. The source holds a Memory that must outlive it.
#pragma once

#include "memory/memory.hpp"
#include "tools/tool.hpp"

namespace cn::tools {

class MemoryToolSource final : public ToolSource {
 public:
  explicit MemoryToolSource(memory::Memory& memory);
  bool provides(std::string_view type) const override { return type == "memory"; }
  // Refuses a turn with no end user or with "memory": "off".
  Status add_tools(const ToolRequest& req, ToolSet& out) override;

 private:
  std::shared_ptr<Tool> search_, write_;
};

}  // namespace cn::tools
