// The agents of each project, versioned: every POST of a definition whose document differs from
// the latest makes a new immutable version (1, 2, ...); an unchanged one returns the latest.
// Aliases (`prod`, `staging`, ...) name a version and move; rolling back is moving an alias.
//
// A request names an agent as "NAME" (the latest version), "NAME@ALIAS" or "NAME@vN" (version
// N). Versions and aliases live in the store (agent_versions, agent_aliases) and in memory:
// resolving never touches the store.
//
// Thread-safety: every member is safe from any thread; writes are coroutines that finish after
// the store has committed.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.hpp"
#include "fleet/definition.hpp"
#include "store/executor.hpp"

namespace cn::fleet {

struct AgentVersion {
  std::string project_id, name;
  int64_t version = 0;
  AgentDefinition def;
  std::string document;  // the canonical JSON text (definition_json)
  std::string source;    // "api" or "manifest:<file>"
  int64_t created_at = 0;
};

struct AgentSummary {
  std::shared_ptr<const AgentVersion> latest;
  std::map<std::string, int64_t> aliases;
  int64_t versions = 0;
};

class AgentRegistry {
 public:
  explicit AgentRegistry(store::Executor& store, Clock& clock = Clock::system()) : store_(store), clock_(clock) {}
  static std::vector<store::Migration> migrations();
  Status load();  // blocks (start-up)

  // Stores `doc` as the agent's next version unless it equals the latest (then returns that).
  // `created`: whether a version was made. 400 naming the field for a bad document.
  boost::asio::awaitable<Result<std::shared_ptr<const AgentVersion>>> put(std::string project, boost::json::object doc,
                                                                          std::string source, bool* created = nullptr);
  // The same, blocking (start-up: manifests).
  Result<std::shared_ptr<const AgentVersion>> put_blocking(std::string project, boost::json::object doc, std::string source,
                                                           bool* created = nullptr);
  Status set_alias_blocking(std::string project, std::string name, std::string alias, int64_t version);
  // Points `alias` at `version` (which must exist). "latest" is reserved.
  boost::asio::awaitable<Status> set_alias(std::string project, std::string name, std::string alias, int64_t version);
  boost::asio::awaitable<Status> remove_alias(std::string project, std::string name, std::string alias);
  // Removes the agent, every version and alias.
  boost::asio::awaitable<Status> remove(std::string project, std::string name);

  std::vector<AgentSummary> list(const std::string& project) const;
  std::optional<AgentSummary> summary(const std::string& project, const std::string& name) const;
  std::vector<std::shared_ptr<const AgentVersion>> versions(const std::string& project, const std::string& name) const;
  // "NAME", "NAME@ALIAS" or "NAME@vN"; not_found naming what is missing.
  Result<std::shared_ptr<const AgentVersion>> resolve(const std::string& project, std::string_view ref) const;

 private:
  // put()'s parts: the version to store (null: the latest is unchanged, returned in `same`), and
  // its store write; then install() makes it visible.
  Result<std::shared_ptr<AgentVersion>> prepare(std::string project, const boost::json::object& doc, std::string source,
                                                std::shared_ptr<const AgentVersion>* same);
  static store::Executor::WriteFn insert_fn(std::shared_ptr<const AgentVersion> row);
  void install(std::shared_ptr<const AgentVersion> row);
  Status check_alias(const std::string& project, const std::string& name, const std::string& alias, int64_t version) const;
  static store::Executor::WriteFn alias_fn(std::string project, std::string name, std::string alias, int64_t version, int64_t now);

  struct Entry {
    std::map<int64_t, std::shared_ptr<const AgentVersion>> versions;
    std::map<std::string, int64_t> aliases;
    int64_t reserved = 0;  // the highest version number handed out (a failed write leaves a gap)
  };
  store::Executor& store_;
  Clock& clock_;
  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, Entry> agents_;  // guarded by mu_
};

// The JSON form of an agent (its latest version, or `v`) for the API.
boost::json::object agent_json(const AgentVersion& v, const std::map<std::string, int64_t>& aliases);

}  // namespace cn::fleet
