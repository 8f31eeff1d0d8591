// Authenticator: routes a bearer value to the key table or to the OIDC verifier.
#include "identity/authenticator.hpp"

#include "identity/oidc.hpp"

namespace cn::identity {

bool Authenticator::looks_like_jwt(std::string_view v) {
  int dots = 0;
  for (char c : v) {
    if (c == '.') ++dots;
    else if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')) return false;
  }
  return dots == 2 && v.size() >= 5;
}

awaitable<Result<Principal>> Authenticator::authenticate(std::string_view bearer) {
  if (looks_like_jwt(bearer)) {
    if (!oidc_)
      co_return Status(Code::unauthenticated, "End-user tokens are not accepted: OIDC is not configured on this server.",
                       "", "invalid_token");
    std::string token(bearer);
    auto p = co_await oidc_->verify(std::move(token));
    if (!p.ok() || !tenants_) co_return p;
    // A token may name its project (a claim): it must be one that exists.
    {
      std::lock_guard lk(mu_);
      if (known_projects_.count(p->project_id)) co_return p;
    }
    std::string project = p->project_id;
    auto found = co_await tenants_->project(std::move(project));
    if (!found.ok())
      co_return Status(Code::unauthenticated, "Invalid token: it names a project that does not exist.", "", "invalid_token");
    p->tenant_id = found->tenant_id;
    std::lock_guard lk(mu_);
    known_projects_.insert(p->project_id);
    co_return p;
  }
  if (auto p = keys_.authenticate(bearer)) co_return *p;
  // A key made by the CLI while the server runs is found on the next refresh.
  if (bearer.starts_with("ck_")) {
    std::string copy(bearer);
    co_await keys_.refresh();
    if (auto p = keys_.authenticate(copy)) co_return *p;
  }
  co_return Status(Code::unauthenticated, "Incorrect API key provided.", "", "invalid_api_key");
}

}  // namespace cn::identity
