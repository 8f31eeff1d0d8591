// Agents as principals: a workload identity registered in a project (an id, optional scopes and
// allowed tools). A request names the agent it runs as with X-Continuum-Agent; when that agent
// is registered, the request's scopes are narrowed to the agent's and only its allowed tools may
// be used. An agent name nobody registered is still carried (memory namespaces, tool calls) but
// restricts nothing. Agent definitions (versions, teams) build on this later.
//
// Thread-safety: every member is safe from any thread; lookups are in memory.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/clock.hpp"
#include "base/status.hpp"
#include "store/executor.hpp"

namespace cn::identity {

struct AgentInfo {
  std::string project_id, id, name;
  std::optional<uint32_t> scopes;                         // nullopt: the caller's
  std::optional<std::vector<std::string>> allowed_tools;  // nullopt: any; else tool types and function names
  int64_t created_at = 0;
};

class Agents {
 public:
  explicit Agents(store::Executor& store, Clock& clock = Clock::system()) : store_(store), clock_(clock) {}
  static std::vector<store::Migration> migrations();
  Status load();  // blocks; start-up

  boost::asio::awaitable<Result<AgentInfo>> put(AgentInfo a);  // creates or replaces
  boost::asio::awaitable<Status> remove(std::string project, std::string id);
  std::vector<AgentInfo> list(const std::string& project) const;
  std::optional<AgentInfo> find(const std::string& project, const std::string& id) const;

 private:
  store::Executor& store_;
  Clock& clock_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, AgentInfo> by_key_;  // guarded by mu_ (project \x1f id)
};

}  // namespace cn::identity
