// OAuth routes: an end user connects an account (authorization code with PKCE), the provider
// redirects back to the callback, and operators refresh a stored token. No route returns a
// token; answers carry the vault secret's metadata.
#include "api/route_prelude.hpp"
#include "identity/oauth.hpp"
#include "wire/json.hpp"

namespace cn::api {

namespace {

struct OAuthCtx {
  identity::OAuth& oauth;
  identity::Authenticator& auth;
};

json::object metadata_json(const identity::SecretInfo& s) {
  return json::object{{"id", s.id},
                      {"object", "vault.secret"},
                      {"provider", s.provider},
                      {"kind", s.kind},
                      {"owner", json::object{{"type", s.owner.kind}, {"id", s.owner.id.empty() ? json::value(nullptr) : json::value(s.owner.id)}}},
                      {"updated_at", s.updated_at},
                      {"expires_at", s.expires_at ? json::value(*s.expires_at) : json::value(nullptr)}};
}

// A user token acts for its user; a key needs vault:write and names the user.
Status may_connect(const identity::Principal& who) {
  if (who.kind == identity::Principal::Kind::user_token) return {};
  if (!who.has(identity::kVaultWrite))
    return Status(Code::permission_denied, "You have insufficient permissions for this operation. Missing scopes: vault:write.", "",
                  "insufficient_scope");
  return {};
}

}  // namespace

void install_oauth(http::Router& router, identity::OAuth& oauth, identity::Authenticator& auth) {
  auto c = std::make_shared<OAuthCtx>(OAuthCtx{oauth, auth});

  router.add("POST", "/v1/vault/oauth/{provider}/authorize", [c](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, c->auth, 0);
    if (!who.ok()) co_return error_response(who.status());
    if (Status s = may_connect(*who); !s.ok()) co_return error_response(noted(c->auth, req, *who, s));
    if (!req.body.empty()) {
      auto b = wire::parse(req.body);
      if (!b.ok()) co_return error_response(b.status());
      if (b->is_object())
        if (auto* u = wire::field(b->as_object(), "user_id"); u && u->is_string()) {
          std::string named(u->as_string());
          if (Status s = name_user(*who, named, "user_id"); !s.ok()) co_return error_response(noted(c->auth, req, *who, s));
        }
    }
    std::string user = who->user.value_or("");
    auto r = co_await c->oauth.begin(who->project_id, std::move(user), req.params["provider"]);
    if (!r.ok()) co_return error_response(r.status());
    co_return Response::json(200, json::serialize(json::object{{"object", "vault.oauth.authorization"},
                                                                {"provider", req.params["provider"]},
                                                                {"authorization_url", r->authorization_url},
                                                                {"state", r->state},
                                                                {"expires_at", r->expires_at}}));
  });

  // Where the provider sends the user's browser back. The state is the capability: single-use,
  // ten minutes, bound to the project, user and provider it was made for. No bearer credential.
  router.add("GET", "/v1/vault/oauth/callback", [c](Request& req, Stream&) -> awaitable<Response> {
    if (auto err = req.query_param("error")) {
      std::string code(err->substr(0, 64));
      co_return error_response(Status(Code::invalid_argument, "The provider did not authorize: " + code + ".", "error", "oauth_denied"));
    }
    auto state = req.query_param("state");
    auto code = req.query_param("code");
    if (!state || state->empty()) co_return error_response(invalid_param("state", "Missing required parameter: 'state'.", "missing_required_parameter"));
    if (!code || code->empty()) co_return error_response(invalid_param("code", "Missing required parameter: 'code'.", "missing_required_parameter"));
    std::string state_value(*state), code_value(*code), iss_value(req.query_param("iss").value_or(""));
    auto r = co_await c->oauth.finish(std::move(state_value), std::move(code_value), std::move(iss_value));
    if (!r.ok()) co_return error_response(r.status());
    if (auto* audit = c->auth.audit()) {
      identity::AuditEntry e{0, 0, r->project_id, "oauth:" + r->owner.id, "vault.oauth.connect", r->id,
                             json::serialize(json::object{{"provider", r->provider}}), ""};
      Status logged = co_await audit->record(std::move(e));
      if (!logged.ok()) co_return error_response(logged);
    }
    auto body = metadata_json(*r);
    body["connected"] = true;
    co_return Response::json(200, json::serialize(body));
  });

  router.add("POST", "/v1/vault/oauth/{provider}/refresh", [c](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, c->auth, identity::kVaultWrite);
    if (!who.ok()) co_return error_response(who.status());
    identity::SecretOwner owner;
    if (who->user) owner = {"user", *who->user};
    else if (auto a = req.query_param("agent_id")) owner = {"agent", std::string(*a)};
    auto r = co_await c->oauth.refresh(who->project_id, owner, req.params["provider"]);
    if (!r.ok()) co_return error_response(r.status());
    co_return Response::json(200, json::serialize(metadata_json(*r)));
  });
}

}  // namespace cn::api
