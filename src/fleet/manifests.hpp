// Agents that live in git: a directory of manifests (*.yaml, *.yml, *.json), one agent
// definition each, read at start-up (`--agents DIR` or agents.dir in the configuration). A
// manifest whose document differs from the agent's latest version makes a new version; an
// unchanged one makes none, so restarting is harmless. Besides the definition's fields a
// manifest may give `project` (default: the default project) and `aliases` (names pointed at
// the version the manifest describes).
//
// Thread-safety: call once, before the server serves.
#pragma once

#include <string>

#include "base/status.hpp"
#include "fleet/registry.hpp"

namespace cn::fleet {

// Loads every manifest in `dir`, in file-name order. Returns how many versions were made; any
// bad manifest fails the whole load, naming the file and the field.
Result<int> load_manifests(AgentRegistry& agents, const std::string& dir, const std::string& default_project);

}  // namespace cn::fleet
