// API keys and the principal a request acts as.
//
// Keys are random ("ck_" + 48 base62 characters) and stored only as SHA-256 hashes; a key is
// shown once, when created. Every key belongs to a project; every stored object belongs to the
// project of the key that created it, and every store call takes that project as an argument.
//
// Thread-safety: authenticate() is safe from any thread; load()/bootstrap() are start-up calls.
#pragma once

#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/status.hpp"
#include "store/executor.hpp"

namespace cn::identity {

inline constexpr const char* kDefaultProject = "proj_default";

struct Principal {
  std::string project_id;
  std::string key_id;
};

class Keys {
 public:
  explicit Keys(store::Executor& store) : store_(store) {}
  static std::vector<store::Migration> migrations();

  // Loads every key hash into memory. Blocks; call at start-up.
  Status load();
  // With `env_key`: makes sure that key exists (idempotent). Without: when no key exists yet,
  // creates one and returns its plaintext (to be printed once); otherwise returns nullopt.
  Result<std::optional<std::string>> bootstrap(const std::optional<std::string>& env_key);
  // Creates a key for `project`; returns its plaintext. Blocks.
  Result<std::string> create(const std::string& project, const std::string& name);

  // The principal of a bearer token, or nullopt. Compares hashes, never plaintext.
  std::optional<Principal> authenticate(std::string_view token) const;
  size_t size() const;

 private:
  Status insert(const std::string& id, const std::string& project, const std::string& name,
                const std::string& hash);
  store::Executor& store_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Principal> by_hash_;  // guarded by mu_
};

}  // namespace cn::identity
