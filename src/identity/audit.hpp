// Audit: an append-only, hash-chained log of administrative actions, key use, vault reads,
// identity failures and denied requests.
//
// Each entry's hash is BLAKE2b over the previous entry's hash and the entry's own fields, so
// changing, removing or reordering a stored row breaks the chain from there on; verify() finds
// the first broken entry. Entries are appended by the store's single writer, each in the same
// group commit as other writes, so the chain has no forks.
//
// record() appends and returns once the entry is durable (administrative actions are
// acknowledged after their audit entry is). note() appends without waiting, and is bounded: at
// most `max_notes_per_second` such entries are written (a flood of bad credentials cannot fill
// the disk); the rest are counted in dropped().
//
// Never put a secret (a key, a token, a vault value) into an entry: entries name objects by id.
//
// Thread-safety: every member is safe from any thread.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/clock.hpp"
#include "base/status.hpp"
#include "store/executor.hpp"

namespace cn::identity {

struct AuditEntry {
  int64_t seq = 0;
  int64_t at_ms = 0;
  std::string project_id;  // "" = not a project's (tenants, global)
  std::string actor;       // credential id (key_..., oidc:<user>), or "" when unauthenticated
  std::string action;      // e.g. "key.create", "auth.failed", "request.denied", "vault.read"
  std::string target;      // the object acted on, by id
  std::string detail;      // JSON object text
  std::string hash;
};

class Audit {
 public:
  explicit Audit(store::Executor& store, Clock& clock = Clock::system(), int max_notes_per_second = 200);
  static std::vector<store::Migration> migrations();

  boost::asio::awaitable<Status> record(AuditEntry e);
  Status record_blocking(AuditEntry e);  // the CLI
  void note(AuditEntry e);
  // Notes a key's use at most once a minute per key.
  void note_key_use(const std::string& project, const std::string& key_id);

  // Entries with seq > after, oldest first; `project` "" = every project.
  boost::asio::awaitable<Result<std::vector<AuditEntry>>> list(std::string project, int64_t after, int limit,
                                                                std::string action);
  // Walks the whole chain. Returns the number of entries, or data_loss-like failed_precondition
  // naming the first entry whose hash does not match. Blocks (the CLI and tests).
  static Result<int64_t> verify(store::Database& db);

  uint64_t dropped() const { return dropped_.load(); }

 private:
  static store::Executor::WriteFn append_fn(AuditEntry e);
  store::Executor& store_;
  Clock& clock_;
  const int max_notes_;
  std::mutex mu_;
  int64_t window_s_ = 0;  // guarded by mu_
  int notes_in_window_ = 0;  // guarded by mu_
  std::unordered_map<std::string, int64_t> key_used_minute_;  // guarded by mu_
  std::atomic<uint64_t> dropped_{0};
};

}  // namespace cn::identity
