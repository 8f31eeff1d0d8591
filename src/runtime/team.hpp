// Teams of agents, as the run loop sees them. When a turn's agent hands the conversation to
// another agent (a completed agent_handoff call), the run goes on as that agent: the next model
// call uses its model, instructions and tools, and its calls act as it (policies, vault). The
// runtime knows agents only through this interface; fleet/ and api/ implement it.
//
// Thread-safety: profile() is called from run strands concurrently; implementations must be
// thread-safe and must not block (lookups in memory).
#pragma once

#include <boost/json/object.hpp>

#include <optional>
#include <string>
#include <vector>

#include "base/status.hpp"

namespace cn::runtime {

// What a turn runs as, once an agent takes it over.
struct AgentProfile {
  std::string agent;  // the agent's name: the acting agent of its calls
  int64_t version = 0;
  std::string model;
  std::optional<std::string> instructions;
  std::vector<boost::json::object> server_tools;  // as CreateParams::server_tools
  std::string tools_json;                          // the client function tools (Chat form), or ""
  std::optional<int64_t> max_output_tokens;
  std::optional<double> temperature;
};

class Team {
 public:
  virtual ~Team() = default;
  // The current version of `agent` in `project`, as a profile; not_found when there is none.
  virtual Result<AgentProfile> profile(const std::string& project, const std::string& agent) = 0;
};

}  // namespace cn::runtime
