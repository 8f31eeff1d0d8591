// API keys: their lifecycle (create, list, rotate with an overlap window, revoke, expire) and
// their verification.
//
// A key is "ck_" + 48 base62 characters, shown once when created. Only a keyed hash is stored
// (BLAKE2b keyed with the installation's hash secret, which lives outside the database): a copy
// of the database does not let anyone test guesses offline, and a key is never recoverable.
// Lists show a key's first 7 and last 4 characters. Keys made before keyed hashing (SHA-256)
// keep working.
//
// Every key belongs to a project (and its tenant). It carries scopes, and separately the right
// to act as any end user of its project (act_as_user). A global admin key also manages tenants,
// projects and every project's keys; the bootstrap key is one.
//
// Thread-safety: authenticate() and the awaitable members are safe from any thread; revocation
// and expiry take effect on the next authenticate() on every thread. load(), bootstrap() and
// create_blocking() block and are for start-up and the CLI.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/clock.hpp"
#include "base/status.hpp"
#include "identity/principal.hpp"
#include "store/executor.hpp"

namespace cn::identity {

template <typename T>
using awaitable = boost::asio::awaitable<T>;

struct KeyInfo {
  std::string id, tenant_id, project_id, name;
  std::string prefix, last4;  // the only parts of the key ever shown again
  uint32_t scopes = 0;
  bool act_as_user = false, global_admin = false;
  int64_t created_at = 0;
  std::optional<int64_t> expires_at, revoked_at;  // unix seconds
  std::optional<std::string> rotated_from;        // the key this one replaced
};

struct NewKey {
  std::string project_id = kDefaultProject;
  std::string name;
  uint32_t scopes = kAllScopes & ~kAdmin;
  bool act_as_user = false;
  bool global_admin = false;
  std::optional<int64_t> expires_at;
  std::optional<std::string> rotated_from;
};

struct CreatedKey {
  KeyInfo info;
  std::string plaintext;  // returned once; never stored
};

class Keys {
 public:
  // `hash_secret`: 32 bytes that key the stored hashes (see app/: a file in the data directory).
  Keys(store::Executor& store, std::string hash_secret, Clock& clock = Clock::system());
  static std::vector<store::Migration> migrations();

  // Loads every live key into memory. Blocks.
  Status load();
  // With `env_key`: makes sure that key exists as a global admin key (idempotent). Without: when
  // no key exists yet, creates one and returns its plaintext (to be printed once). Blocks.
  Result<std::optional<std::string>> bootstrap(const std::optional<std::string>& env_key);
  // Creates a key (its project must exist, see Tenants). Blocks; for the CLI.
  Result<CreatedKey> create_blocking(const NewKey& k);

  awaitable<Result<CreatedKey>> create(NewKey k);
  // Keys of `project` (every project when empty), newest first; revoked ones included.
  awaitable<Result<std::vector<KeyInfo>>> list(std::string project);
  // `project` empty: any project (global admin). Unknown or other projects' ids are not_found.
  awaitable<Result<KeyInfo>> get(std::string project, std::string id);
  awaitable<Result<KeyInfo>> revoke(std::string project, std::string id);
  // A new key with the same project, scopes and rights; the old one expires `overlap_seconds`
  // from now (0: at once).
  awaitable<Result<CreatedKey>> rotate(std::string project, std::string id, int64_t overlap_seconds);

  // The principal of a bearer key, or nullopt (unknown, revoked or expired). Never blocks on I/O.
  std::optional<Principal> authenticate(std::string_view token) const;
  // Re-reads the keys table (keys created by the CLI while the server runs); at most once a
  // second, whatever the number of callers.
  awaitable<void> refresh();
  // Re-reads the keys table now, apart from refresh()'s once-a-second budget (many nodes: each
  // reads it every heartbeat, so that revocations on other nodes take effect).
  awaitable<void> reload();
  size_t size() const;

 private:
  struct Live {
    KeyInfo info;
  };
  std::string keyed_hash(std::string_view token) const;
  Status apply_rows(store::Database& db);
  Result<CreatedKey> make(const NewKey& k);
  void remember(const KeyInfo& info, const std::string& hash, bool legacy);

  store::Executor& store_;
  const std::string secret_;
  Clock& clock_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Live> by_hash_;    // guarded by mu_ (keyed hashes)
  std::unordered_map<std::string, Live> by_sha256_;  // guarded by mu_ (keys from before)
  int64_t last_refresh_ms_ = 0;                      // guarded by mu_
};

// The project and the tenant it belongs to: tenants contain projects.
struct ProjectInfo {
  std::string id, tenant_id, name;
  int64_t created_at = 0;
};
struct TenantInfo {
  std::string id, name;
  int64_t created_at = 0;
};

// Tenants and projects. Thread-safety: as Keys.
class Tenants {
 public:
  explicit Tenants(store::Executor& store, Clock& clock = Clock::system()) : store_(store), clock_(clock) {}

  awaitable<Result<TenantInfo>> create_tenant(std::string name);
  awaitable<Result<std::vector<TenantInfo>>> tenants();
  awaitable<Result<ProjectInfo>> create_project(std::string tenant_id, std::string name, std::string id = {});
  awaitable<Result<std::vector<ProjectInfo>>> projects(std::string tenant_id);
  awaitable<Result<ProjectInfo>> project(std::string id);
  // For the CLI: makes sure `id` exists (in the default tenant when new). Blocks.
  Status ensure_project_blocking(const std::string& id);

 private:
  store::Executor& store_;
  Clock& clock_;
};

}  // namespace cn::identity
