// Vault routes (/v1/vault/secrets): store, list, read metadata of and delete the credentials
// tools use. Write-only: no route ever returns a secret's value.
#include <boost/asio.hpp>

#include "api/route_prelude.hpp"
#include "identity/vault.hpp"
#include "wire/json.hpp"

namespace cn::api {

namespace {

struct VaultCtx {
  identity::Vault& vault;
  identity::Authenticator& auth;
};

json::object secret_json(const identity::SecretInfo& s) {
  boost::system::error_code ec;
  auto md = json::parse(s.metadata, ec);
  return json::object{{"id", s.id},
                      {"object", "vault.secret"},
                      {"provider", s.provider},
                      {"kind", s.kind},
                      {"owner", json::object{{"type", s.owner.kind}, {"id", s.owner.id.empty() ? json::value(nullptr) : json::value(s.owner.id)}}},
                      {"metadata", ec ? json::value(json::object()) : md},
                      {"created_at", s.created_at},
                      {"updated_at", s.updated_at},
                      {"expires_at", s.expires_at ? json::value(*s.expires_at) : json::value(nullptr)}};
}

bool valid_provider(std::string_view p) {
  if (p.empty() || p.size() > 64) return false;
  for (char c : p)
    if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '_' ||
          c == '-' || c == '.'))
      return false;
  return true;
}

// A secret the request may see: its project's, and its own user's when it acts for one.
bool visible(const identity::Principal& who, const identity::SecretInfo& s) {
  return !who.user || (s.owner.kind == "user" && s.owner.id == *who.user);
}

Status string_field(const json::object& o, const char* name, std::string& out, bool required, size_t max) {
  auto* v = wire::field(o, name);
  if (!v || v->is_null()) {
    if (required) return invalid_param(name, std::string("Missing required parameter: '") + name + "'.", "missing_required_parameter");
    return {};
  }
  if (!v->is_string()) return invalid_param(name, std::string("Invalid type for '") + name + "': expected a string.", "invalid_type");
  if (v->as_string().empty() || v->as_string().size() > max)
    return invalid_param(name, std::string("Invalid '") + name + "': expected 1 to " + std::to_string(max) + " characters.");
  out = std::string(v->as_string());
  return {};
}

awaitable<Response> put_secret(VaultCtx& c, Request& req) {
  auto who = co_await authorize(req, c.auth, identity::kVaultWrite);
  if (!who.ok()) co_return error_response(who.status());
  if (req.body.empty()) co_return error_response(Status(Code::invalid_argument, "The request body is empty; expected a JSON object.", "", "invalid_json"));
  auto b = wire::parse(req.body);
  if (!b.ok()) co_return error_response(Status(Code::invalid_argument, "The request body is not valid JSON.", "", "invalid_json"));
  if (!b->is_object()) co_return error_response(invalid_param("body", "Invalid body: expected a JSON object.", "invalid_type"));
  const auto& o = b->as_object();
  std::string provider, value, kind = "api_key", user, agent;
  if (Status s = string_field(o, "provider", provider, true, 64); !s.ok()) co_return error_response(s);
  if (!valid_provider(provider))
    co_return error_response(invalid_param("provider", "Invalid 'provider': expected lower-case letters, digits, '_', '-' or '.'."));
  // The value is never echoed, not even in an error.
  auto* v = wire::field(o, "value");
  if (!v || v->is_null()) co_return error_response(invalid_param("value", "Missing required parameter: 'value'.", "missing_required_parameter"));
  if (!v->is_string() || v->as_string().empty() || v->as_string().size() > 16384)
    co_return error_response(invalid_param("value", "Invalid 'value': expected a string of 1 to 16384 characters."));
  value = std::string(v->as_string());
  if (Status s = string_field(o, "kind", kind, false, 16); !s.ok()) co_return error_response(s);
  if (kind != "api_key" && kind != "oauth2") co_return error_response(invalid_param("kind", "Invalid 'kind': expected 'api_key' or 'oauth2'."));
  if (Status s = string_field(o, "user_id", user, false, 255); !s.ok()) co_return error_response(s);
  if (Status s = string_field(o, "agent_id", agent, false, 255); !s.ok()) co_return error_response(s);
  if (!user.empty() && !agent.empty())
    co_return error_response(invalid_param("agent_id", "A secret belongs to a user or to an agent, not both."));
  if (Status s = name_user(*who, user, "user_id"); !s.ok()) co_return error_response(noted(c.auth, req, *who, s));
  std::string metadata = "{}";
  if (auto* md = wire::field(o, "metadata"); md && !md->is_null()) {
    if (Status s = check_metadata(*md, "metadata"); !s.ok()) co_return error_response(s);
    metadata = json::serialize(*md);
  }
  identity::SecretOwner owner;
  if (who->user) owner = {"user", *who->user};
  else if (!agent.empty()) owner = {"agent", agent};
  auto r = co_await c.vault.put(who->project_id, owner, provider, kind, std::move(value), metadata);
  if (!r.ok()) co_return error_response(r.status());
  if (auto* audit = c.auth.audit()) {
    identity::AuditEntry e{0, 0, who->project_id, who->credential_id, "vault.write", r->id,
                           json::serialize(json::object{{"provider", provider}, {"owner_kind", owner.kind}, {"owner_id", owner.id}}), ""};
    Status logged = co_await audit->record(std::move(e));
    if (!logged.ok()) co_return error_response(logged);
  }
  co_return Response::json(200, json::serialize(secret_json(*r)));
}

}  // namespace

void install_vault(http::Router& router, identity::Vault& vault, identity::Authenticator& auth) {
  auto c = std::make_shared<VaultCtx>(VaultCtx{vault, auth});
  router.add("POST", "/v1/vault/secrets", [c](Request& req, Stream&) { return put_secret(*c, req); });

  router.add("GET", "/v1/vault/secrets", [c](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, c->auth, identity::kVaultWrite);
    if (!who.ok()) co_return error_response(who.status());
    std::optional<identity::SecretOwner> owner;
    if (who->user) owner = identity::SecretOwner{"user", *who->user};
    auto r = co_await c->vault.list(who->project_id, owner);
    if (!r.ok()) co_return error_response(r.status());
    json::array data;
    for (const auto& s : *r) data.push_back(secret_json(s));
    co_return Response::json(200, json::serialize(json::object{{"object", "list"}, {"data", std::move(data)}, {"has_more", false}}));
  });

  router.add("GET", "/v1/vault/secrets/{id}", [c](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, c->auth, identity::kVaultWrite);
    if (!who.ok()) co_return error_response(who.status());
    auto r = co_await c->vault.get(who->project_id, req.params["id"]);
    if (r.ok() && !visible(*who, *r)) r = Status(Code::not_found, "Secret with id '" + req.params["id"] + "' not found.");
    if (!r.ok()) co_return error_response(r.status());
    co_return Response::json(200, json::serialize(secret_json(*r)));
  });

  router.add("DELETE", "/v1/vault/secrets/{id}", [c](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, c->auth, identity::kVaultWrite);
    if (!who.ok()) co_return error_response(who.status());
    const std::string id = req.params["id"];
    auto r = co_await c->vault.get(who->project_id, id);
    if (r.ok() && !visible(*who, *r)) r = Status(Code::not_found, "Secret with id '" + id + "' not found.");
    if (!r.ok()) co_return error_response(r.status());
    Status st = co_await c->vault.remove(who->project_id, id);
    if (!st.ok()) co_return error_response(st);
    if (auto* audit = c->auth.audit()) {
      identity::AuditEntry e{0, 0, who->project_id, who->credential_id, "vault.delete", id, "{}", ""};
      Status logged = co_await audit->record(std::move(e));
      if (!logged.ok()) co_return error_response(logged);
    }
    co_return Response::json(200, json::serialize(json::object{{"id", id}, {"object", "vault.secret.deleted"}, {"deleted", true}}));
  });
}

}  // namespace cn::api
