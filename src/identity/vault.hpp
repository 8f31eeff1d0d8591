// Vault: credentials that tools use on someone's behalf (API keys of other services, OAuth 2.0
// tokens), per (project, owner, provider), where the owner is the project itself, an end user
// or an agent.
//
// Envelope encryption with libsodium's XChaCha20-Poly1305: each secret has its own random data
// key; the data key is wrapped by the master key. Both encryptions bind the secret's scope
// (project, owner kind, owner, provider, id) as associated data, so a ciphertext copied into
// another row — another user's, another project's — does not decrypt. Rows remember which
// master key wrapped them: after the master key changes (the previous ones still configured),
// reads keep working and rewrap() moves every row to the current key, in batches, while the
// server serves.
//
// Write-only: after a secret is stored only its metadata is ever returned by this interface's
// listing calls; reveal() is for tools at the moment they run, and every reveal is audited.
//
// Thread-safety: every member is safe from any thread.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <optional>
#include <string>
#include <vector>

#include "base/clock.hpp"
#include "base/status.hpp"
#include "identity/audit.hpp"
#include "store/executor.hpp"

namespace cn::identity {

struct SecretOwner {
  std::string kind = "project";  // "project", "user" or "agent"
  std::string id;                // "" for the project
};

struct SecretInfo {
  std::string id, project_id, provider, kind;  // kind: "api_key" or "oauth2"
  SecretOwner owner;
  std::string metadata = "{}";  // JSON object, never secret
  int64_t created_at = 0, updated_at = 0;
  std::optional<int64_t> expires_at;  // an OAuth access token's expiry
  std::string key_id;                 // the master key that wraps it
};

class Vault {
 public:
  // `master`: 32 bytes; `previous`: master keys used before (to read rows not yet rewrapped).
  Vault(store::Executor& store, std::string master, std::vector<std::string> previous, Audit* audit,
        Clock& clock = Clock::system());
  static std::vector<store::Migration> migrations();
  // "hex or base64 of 32 bytes" -> the key, or invalid_argument.
  static Result<std::string> parse_master_key(std::string_view text);

  // Stores (replacing any secret of the same project, owner and provider) and returns metadata.
  boost::asio::awaitable<Result<SecretInfo>> put(std::string project, SecretOwner owner, std::string provider,
                                                 std::string kind, std::string value, std::string metadata,
                                                 std::optional<int64_t> expires_at = std::nullopt);
  // Metadata. `owner` set: only that owner's secrets.
  boost::asio::awaitable<Result<std::vector<SecretInfo>>> list(std::string project, std::optional<SecretOwner> owner);
  boost::asio::awaitable<Result<SecretInfo>> get(std::string project, std::string id);
  boost::asio::awaitable<Status> remove(std::string project, std::string id);

  // The plaintext of the secret of (project, owner, provider), for a tool call of `run_id`.
  // Audited (vault.read: which run, which secret, for whom).
  boost::asio::awaitable<Result<std::string>> reveal(std::string project, SecretOwner owner, std::string provider,
                                                     std::string run_id, std::string actor);

  // Rewraps up to `batch` rows wrapped by a previous master key; returns how many it rewrapped
  // (0: all rows use the current key). Blocks; call from a background thread or the CLI.
  Result<int64_t> rewrap(int batch = 500);
  const std::string& key_id() const { return key_id_; }

 private:
  struct Sealed {
    std::string ciphertext, nonce, wrapped, wrap_nonce;
  };
  Sealed seal(const std::string& aad, const std::string& value) const;
  Result<std::string> open(const std::string& aad, const std::string& key_id, const Sealed& s) const;
  const std::string* master_for(const std::string& key_id) const;

  store::Executor& store_;
  const std::string master_, key_id_;
  std::vector<std::pair<std::string, std::string>> previous_;  // (key id, key)
  Audit* audit_;
  Clock& clock_;
};

// The associated data that binds a ciphertext to its row.
std::string vault_aad(const std::string& project, const SecretOwner& owner, const std::string& provider,
                      const std::string& id);

}  // namespace cn::identity
