// Policies: each project's policy set (Cedar text), stored, compiled once per change, and the
// Authorizer that decides every server-side tool call with it.
//
// A project without a policy set allows every call (as before policies existed); once a set is
// attached, a call runs only when a permit applies and no forbid does. A denied call becomes a
// failed call the model sees, and an audit entry ("tool.denied").
//
// Thread-safety: every member is safe from any thread. compiled() and authorize() never block:
// the sets are loaded at start-up (load()) and swapped in memory when they change.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "identity/audit.hpp"
#include "policy/policy.hpp"
#include "store/executor.hpp"
#include "tools/tool.hpp"

namespace cn::policy {

class Policies {
 public:
  explicit Policies(store::Executor& store);
  static std::vector<store::Migration> migrations();
  // Loads every project's set (start-up; blocks).
  Status load();

  // Replaces the project's set (400 naming the line and column of a syntax error).
  boost::asio::awaitable<Status> put(std::string project, std::string text);
  boost::asio::awaitable<Status> remove(std::string project);
  // The project's policy text, if it has a set.
  std::optional<std::string> text(const std::string& project) const;
  std::shared_ptr<const PolicySet> compiled(const std::string& project) const;

 private:
  struct Entry {
    std::string text;
    std::shared_ptr<const PolicySet> set;
  };
  store::Executor& store_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> sets_;  // guarded by mu_
};

// The request a tool call makes (see policy.hpp for its shape).
Request call_request(const tools::CallContext& ctx, const tools::Tool& tool, std::string_view arguments);

// The policy set of the agent a call acts as (its version, 0 = the latest), or null: none.
using AgentPolicies =
    std::function<std::shared_ptr<const PolicySet>(const std::string& project, const std::string& agent, int64_t version)>;

// Decides a call with the project's set, then with the acting agent's own set (agent_policies):
// the call runs only when each set present allows it.
class PolicyAuthorizer final : public tools::Authorizer {
 public:
  PolicyAuthorizer(Policies& policies, identity::Audit* audit, AgentPolicies agent_policies = {})
      : policies_(policies), audit_(audit), agent_policies_(std::move(agent_policies)) {}
  Status authorize(const tools::CallContext& ctx, const tools::Tool& tool, std::string_view arguments) override;

 private:
  Policies& policies_;
  identity::Audit* audit_;
  AgentPolicies agent_policies_;
};

}  // namespace cn::policy
