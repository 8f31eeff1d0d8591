// Authenticator: a bearer credential in, a verified principal out.
//
// A bearer value shaped like a JWT (three base64url parts separated by dots) is verified as an
// end user's OIDC token when OIDC is configured; any other value is looked up as an API key. A
// failure says why (missing, unknown or revoked key; an expired token, wrong audience or
// issuer, bad signature, unknown signing key) and never echoes the credential.
//
// Thread-safety: authenticate() is safe from any thread and any coroutine.
#pragma once

#include <memory>
#include <mutex>
#include <unordered_set>
#include <string_view>

#include "identity/agents.hpp"
#include "identity/audit.hpp"
#include "identity/keys.hpp"
#include "identity/principal.hpp"
#include "identity/rate_limit.hpp"

namespace cn::identity {

class OidcVerifier;

class Authenticator {
 public:
  // `keys` (and `audit`, which may be null) must outlive the authenticator; `oidc` may be null
  // (tokens are then refused).
  Authenticator(Keys& keys, std::shared_ptr<OidcVerifier> oidc = nullptr, Audit* audit = nullptr)
      : keys_(keys), oidc_(std::move(oidc)), audit_(audit) {}

  awaitable<Result<Principal>> authenticate(std::string_view bearer);
  Keys& keys() { return keys_; }
  Audit* audit() { return audit_; }
  // Rate limits checked by api::authorize (may be null: none). Set before serving.
  void set_limiter(RateLimiter* l) { limiter_ = l; }
  RateLimiter* limiter() { return limiter_; }
  // Projects named by tokens must exist (may be null: not checked). Set before serving.
  void set_tenants(Tenants* t) { tenants_ = t; }
  // Registered agents (may be null). Set before serving.
  void set_agents(Agents* a) { agents_ = a; }
  Agents* agents() { return agents_; }
  bool oidc_enabled() const { return oidc_ != nullptr; }

  // True when `v` has the shape of a JWT (header.payload.signature, base64url).
  static bool looks_like_jwt(std::string_view v);

 private:
  Keys& keys_;
  std::shared_ptr<OidcVerifier> oidc_;
  Audit* audit_;
  RateLimiter* limiter_ = nullptr;
  Agents* agents_ = nullptr;
  Tenants* tenants_ = nullptr;
  std::mutex mu_;
  std::unordered_set<std::string> known_projects_;  // guarded by mu_ (projects are never deleted)
};

}  // namespace cn::identity
