// The agent registry as the runtime and the fleet's tools need it: the profile of a handoff
// target (runtime::Team), child runs of agents called as tools (fleet::ChildRunner) and the
// background turns of schedules (fleet::TurnStarter). Both
// fold the agent's latest version into a request exactly as "model": "agent:NAME" would, and
// validate it with the same parser as a POST /v1/responses body.
//
// Thread-safety: safe from any thread once attach() has run (before the server serves).
#pragma once

#include "evals/evals.hpp"

#include "fleet/agent_tool.hpp"
#include "fleet/schedules.hpp"
#include "fleet/registry.hpp"
#include "identity/rate_limit.hpp"
#include "runtime/runtime.hpp"

namespace cn::api {

// Sets the run limits of agent version `v` on a parsed request (max_total_tokens, max_run_time).
void apply_agent_limits(const fleet::AgentVersion& v, runtime::CreateParams& p);

class RegistryTeam final : public runtime::Team, public fleet::ChildRunner, public fleet::TurnStarter, public evals::AgentSampler {
 public:
  explicit RegistryTeam(fleet::AgentRegistry& agents) : agents_(agents) {}
  // The runtime child runs are started on, and the limiter whose daily token quota scheduled
  // turns are admitted by and charged to (may be null); call before recovery and serving.
  void attach(runtime::Runtime* rt, identity::RateLimiter* limiter = nullptr) {
    rt_ = rt;
    limiter_ = limiter;
  }

  Result<runtime::AgentProfile> profile(const std::string& project, const std::string& agent) override;
  // A child turn for the parent's project and end user, as the callee, recording the parent's
  // response id; returns once it has ended.
  boost::asio::awaitable<Result<fleet::ChildAnswer>> run_child(const tools::CallContext& parent,
                                                               std::shared_ptr<const fleet::AgentVersion> agent,
                                                               std::string input) override;
  // A background turn as `agent_ref` for `user` ("" = the project), for schedules.
  boost::asio::awaitable<Result<std::string>> start_agent_turn(std::string project, std::string user, std::string agent_ref,
                                                               std::string input, boost::json::object metadata) override;
  // One turn as `ref` (NAME@ALIAS or NAME@vN) for the project, not stored, for eval runs: its
  // output text (its tokens are charged to the project's quota and added to `usage`).
  boost::asio::awaitable<Result<std::string>> sample_agent(std::string project, std::string ref, std::string input, Usage* usage) override;

 private:
  fleet::AgentRegistry& agents_;
  runtime::Runtime* rt_ = nullptr;
  identity::RateLimiter* limiter_ = nullptr;
};

}  // namespace cn::api
