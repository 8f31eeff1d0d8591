// OIDC token verification: the JWKS cache and its refreshes, and the claim checks.
#include "identity/oidc.hpp"

#include <sodium.h>

#include <fstream>
#include <sstream>

#include "base/ids.hpp"
#include "base/log.hpp"

namespace cn::identity {

namespace json = boost::json;

namespace {

Status unauth(std::string msg, std::string code = "invalid_token") {
  return Status(Code::unauthenticated, std::move(msg), "", std::move(code));
}

Result<std::string> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return Status(Code::unavailable, "cannot read JWKS file " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

bool is_url(const std::string& s) { return s.starts_with("https://") || s.starts_with("http://"); }

// A NumericDate claim, or nullopt when absent; `bad` when present but not a number.
std::optional<int64_t> numeric_date(const json::object& c, std::string_view k, bool* bad) {
  auto it = c.find(k);
  if (it == c.end()) return std::nullopt;
  const auto& v = it->value();
  if (v.is_int64()) return v.as_int64();
  if (v.is_uint64()) return static_cast<int64_t>(std::min<uint64_t>(v.as_uint64(), INT64_MAX));
  if (v.is_double()) {  // clamped: converting a double beyond int64's range is undefined
    double d = v.as_double();
    return d >= 9.2e18 ? INT64_MAX : d <= -9.2e18 ? INT64_MIN : static_cast<int64_t>(d);
  }
  *bad = true;
  return std::nullopt;
}

}  // namespace

OidcVerifier::OidcVerifier(OidcOptions opts, Fetch fetch, Clock& clock)
    : opts_(std::move(opts)), fetch_(std::move(fetch)), clock_(clock) {}

Status OidcVerifier::load_text(const std::string& text) {
  auto keys = parse_jwks(text);
  if (!keys.ok()) return keys.status();
  std::lock_guard lk(mu_);
  keys_ = std::move(*keys);
  loaded_at_ms_ = clock_.now_millis();
  return {};
}

Status OidcVerifier::start() {
  if (opts_.issuer.empty()) return Status(Code::invalid_argument, "OIDC needs an issuer (CONTINUUM_OIDC_ISSUER)");
  if (opts_.audience.empty()) return Status(Code::invalid_argument, "OIDC needs an audience (CONTINUUM_OIDC_AUDIENCE)");
  if (opts_.jwks.empty()) return Status(Code::invalid_argument, "OIDC needs a JWKS (CONTINUUM_OIDC_JWKS: an https URL or a file)");
  if (opts_.user_claim.empty()) return Status(Code::invalid_argument, "CONTINUUM_OIDC_USER_CLAIM must not be empty");
  if (opts_.jwks.starts_with("http://"))
    return Status(Code::invalid_argument, "CONTINUUM_OIDC_JWKS must be an https URL or a file path");
  if (!valid_id_syntax(opts_.project)) return Status(Code::invalid_argument, "CONTINUUM_OIDC_PROJECT is not a valid project id");
  if (is_url(opts_.jwks)) return {};
  auto text = read_file(opts_.jwks);
  if (!text.ok()) return text.status();
  if (Status s = load_text(*text); !s.ok()) return Status(Code::invalid_argument, "JWKS file " + opts_.jwks + ": " + s.message());
  return {};
}

boost::asio::awaitable<Status> OidcVerifier::refresh(bool forced) {
  int64_t now = clock_.now_millis();
  {
    std::lock_guard lk(mu_);
    bool stale = loaded_at_ms_ == 0 || now - loaded_at_ms_ >= opts_.jwks_ttl.count();
    if (!forced && !stale) co_return Status();
    if (last_attempt_ms_ != 0 && now - last_attempt_ms_ < opts_.refresh_min_interval.count()) co_return Status();
    last_attempt_ms_ = now;
  }
  Result<std::string> text = Status(Code::internal, "");
  if (is_url(opts_.jwks)) {
    std::string url = opts_.jwks;
    text = co_await fetch_(std::move(url));
  } else {
    text = read_file(opts_.jwks);
  }
  if (!text.ok()) {
    spdlog::warn("OIDC: JWKS refresh from {} failed: {}", opts_.jwks, text.status().message());
    co_return text.status();
  }
  Status st = load_text(*text);
  if (!st.ok()) spdlog::warn("OIDC: JWKS from {} is unusable: {}", opts_.jwks, st.message());
  co_return st;
}

boost::asio::awaitable<Result<Principal>> OidcVerifier::verify(std::string token) {
  unsigned char h[32];
  crypto_generichash(h, sizeof h, reinterpret_cast<const unsigned char*>(token.data()), token.size(), nullptr, 0);
  std::string key(reinterpret_cast<char*>(h), sizeof h);
  int64_t now = clock_.now_seconds();
  {
    std::lock_guard lk(mu_);
    if (auto it = verified_.find(key); it != verified_.end()) {
      if (now < it->second.until_s) co_return it->second.principal;
      verified_.erase(it);
    }
  }
  int64_t expires = 0;
  auto p = co_await verify_uncached(std::move(token), &expires);
  if (p.ok()) {
    std::lock_guard lk(mu_);
    if (verified_.size() >= 10'000) std::erase_if(verified_, [&](const auto& e) { return now >= e.second.until_s; });
    if (verified_.size() < 10'000) verified_[key] = Verified{*p, std::min(expires, now + 300)};
  }
  co_return p;
}

boost::asio::awaitable<Result<Principal>> OidcVerifier::verify_uncached(std::string token, int64_t* expires) {
  auto jwt = decode_jwt(token);
  if (!jwt.ok()) co_return jwt.status();
  (void)co_await refresh(false);
  auto find = [&]() -> std::optional<Jwk> {
    std::lock_guard lk(mu_);
    for (const auto& k : keys_)
      if ((jwt->kid.empty() || k.kid == jwt->kid) && k.accepts(jwt->alg)) return k;
    return std::nullopt;
  };
  std::optional<Jwk> key = find();
  if (!key) {
    (void)co_await refresh(true);  // a rotated key set
    key = find();
  }
  if (!key) co_return unauth("Invalid token: it is signed with an unknown key (kid '" + jwt->kid.substr(0, 64) + "').");
  if (!key->verify(jwt->alg, jwt->signing_input, jwt->signature)) co_return unauth("Invalid token: bad signature.");

  const auto& c = jwt->claims;
  int64_t now = clock_.now_seconds();
  bool bad = false;
  auto exp = numeric_date(c, "exp", &bad);
  auto nbf = numeric_date(c, "nbf", &bad);
  if (bad) co_return unauth("Invalid token: 'exp' and 'nbf' must be numbers.");
  if (!exp) co_return unauth("Invalid token: it has no 'exp' claim.");
  if (now > *exp + opts_.leeway_seconds) co_return unauth("Invalid token: it has expired.", "token_expired");
  if (nbf && now + opts_.leeway_seconds < *nbf) co_return unauth("Invalid token: it is not valid yet ('nbf').");
  auto iss = c.find("iss");
  if (iss == c.end() || !iss->value().is_string() || iss->value().as_string() != opts_.issuer)
    co_return unauth("Invalid token: wrong issuer.");
  bool aud_ok = false;
  if (auto aud = c.find("aud"); aud != c.end()) {
    if (aud->value().is_string()) aud_ok = aud->value().as_string() == opts_.audience;
    else if (aud->value().is_array())
      for (const auto& a : aud->value().as_array()) aud_ok = aud_ok || (a.is_string() && a.as_string() == opts_.audience);
  }
  if (!aud_ok) co_return unauth("Invalid token: wrong audience.");
  auto user = c.find(opts_.user_claim);
  if (user == c.end() || !user->value().is_string() || user->value().as_string().empty() ||
      user->value().as_string().size() > 255)
    co_return unauth("Invalid token: the '" + opts_.user_claim + "' claim must be a string of 1 to 255 characters.");
  for (unsigned char ch : user->value().as_string())
    if (ch < 0x20 || ch == 0x7f) co_return unauth("Invalid token: the user claim has control characters.");
  std::string project = opts_.project;
  if (!opts_.project_claim.empty()) {
    auto pc = c.find(opts_.project_claim);
    if (pc == c.end() || !pc->value().is_string() || !valid_id_syntax(pc->value().as_string()))
      co_return unauth("Invalid token: the '" + opts_.project_claim + "' claim must name a project.");
    project = std::string(pc->value().as_string());
  }
  *expires = *exp;
  Principal p;
  p.kind = Principal::Kind::user_token;
  p.project_id = std::move(project);
  p.user = std::string(user->value().as_string());
  p.credential_id = "oidc:" + *p.user;
  p.scopes = kUserTokenScopes;
  p.claims_json = boost::json::serialize(c);
  co_return p;
}

}  // namespace cn::identity
