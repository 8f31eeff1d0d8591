// OidcVerifier: end users' OIDC tokens (JWTs) as bearer credentials.
//
// A token is accepted when its signature verifies against the configured JWKS and its claims
// hold: `iss` equals the issuer, `aud` is or contains the audience, `exp` is in the future and
// `nbf` (if present) in the past, each with a small leeway. The user claim (default `sub`) names
// the end user; the project is the project claim when one is configured, else the configured
// project. Such a principal acts as that user only.
//
// The JWKS is a local file or an https URL. It is loaded at start-up, re-read when older than
// its time to live, and re-read when a token names an unknown `kid` (key rotation), at most once
// per `refresh_min_interval` so unknown kids cannot make the server hammer the identity provider.
//
// A verified token is remembered (by a hash of it) until it expires, for at most five minutes,
// so a client that sends the same token on every request pays for one signature check.
//
// Thread-safety: verify() is safe from any thread and coroutine; concurrent refreshes coalesce
// into one.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <functional>
#include <mutex>
#include <unordered_map>
#include <string>
#include <vector>

#include "base/clock.hpp"
#include "identity/jwt.hpp"
#include "identity/principal.hpp"

namespace cn::identity {

struct OidcOptions {
  std::string issuer;
  std::string audience;
  std::string jwks;  // "https://..." or a file path
  std::string user_claim = "sub";
  std::string project_claim;               // "" = every token acts in `project`
  std::string project = kDefaultProject;
  int64_t leeway_seconds = 60;
  std::chrono::milliseconds jwks_ttl{3'600'000};
  std::chrono::milliseconds refresh_min_interval{10'000};
};

class OidcVerifier {
 public:
  // Fetches a URL's body (https GET); used when `jwks` is a URL.
  using Fetch = std::function<boost::asio::awaitable<Result<std::string>>(std::string url)>;

  OidcVerifier(OidcOptions opts, Fetch fetch, Clock& clock = Clock::system());
  // Checks the options; loads the JWKS when it is a file (a URL is fetched on first use). A
  // failure here stops start-up. Blocks; call before serving.
  Status start();

  boost::asio::awaitable<Result<Principal>> verify(std::string token);
  const OidcOptions& options() const { return opts_; }

 private:
  boost::asio::awaitable<Status> refresh(bool forced);
  boost::asio::awaitable<Result<Principal>> verify_uncached(std::string token, int64_t* expires);
  Status load_text(const std::string& text);

  const OidcOptions opts_;
  Fetch fetch_;
  Clock& clock_;
  std::mutex mu_;
  std::vector<Jwk> keys_;        // guarded by mu_
  int64_t loaded_at_ms_ = 0;     // guarded by mu_ (0: never)
  int64_t last_attempt_ms_ = 0;  // guarded by mu_
  struct Verified {
    Principal principal;
    int64_t until_s;
  };
  std::unordered_map<std::string, Verified> verified_;  // guarded by mu_ (token hash -> principal)
};

}  // namespace cn::identity
