// Administration routes (/v1/admin/...): tenants and projects (global admin keys), and API keys
// (global admins for any project; a project key with the `admin` scope for its own project).
// A key is shown whole once, in the answer that creates it; afterwards only its prefix and last
// four characters.
#include <boost/asio.hpp>

#include <ctime>

#include "api/route_prelude.hpp"
#include "base/ids.hpp"
#include "wire/json.hpp"

namespace cn::api {

namespace {

struct Admin {
  identity::Keys& keys;
  identity::Tenants& tenants;
  identity::Authenticator& auth;
};

json::value opt_int(const std::optional<int64_t>& v) { return v ? json::value(*v) : json::value(nullptr); }

json::object key_json(const identity::KeyInfo& k) {
  json::array scopes;
  for (const auto& n : identity::scope_names(k.scopes)) scopes.emplace_back(n);
  return json::object{{"id", k.id},
                      {"object", "api_key"},
                      {"name", k.name},
                      {"tenant_id", k.tenant_id},
                      {"project_id", k.project_id},
                      {"redacted_value", k.prefix + "..." + k.last4},
                      {"scopes", std::move(scopes)},
                      {"act_as_user", k.act_as_user},
                      {"admin", k.global_admin},
                      {"created_at", k.created_at},
                      {"expires_at", opt_int(k.expires_at)},
                      {"revoked_at", opt_int(k.revoked_at)},
                      {"rotated_from", k.rotated_from ? json::value(*k.rotated_from) : json::value(nullptr)}};
}

json::object created_json(const identity::CreatedKey& c) {
  auto o = key_json(c.info);
  o["value"] = c.plaintext;
  return o;
}

std::string list_json(json::array data) {
  return json::serialize(json::object{{"object", "list"}, {"data", std::move(data)}, {"has_more", false}});
}

// Tenants and projects are managed by global admin keys only.
awaitable<Result<identity::Principal>> authorize_global(const Request& req, identity::Authenticator& auth) {
  auto who = co_await authorize(req, auth, identity::kAdmin);
  if (who.ok() && !who->global_admin)
    co_return Status(Code::permission_denied, "This operation needs an admin key (one that manages tenants and projects).",
                     "", "insufficient_scope");
  co_return who;
}

identity::AuditEntry entry(const identity::Principal& who, std::string project, const char* action, std::string target,
                          const json::object& detail = {}) {
  return identity::AuditEntry{0, 0, std::move(project), who.credential_id, action, std::move(target),
                              json::serialize(detail), ""};
}

// Records an administrative action; the answer waits for it to be durable.
awaitable<Status> audit(Admin& a, identity::AuditEntry e) {
  auto* log = a.auth.audit();
  if (!log) co_return Status();
  co_return co_await log->record(std::move(e));
}

json::object audit_json(const identity::AuditEntry& e) {
  boost::system::error_code ec;
  auto d = json::parse(e.detail, ec);
  return json::object{{"object", "audit.entry"}, {"seq", e.seq},     {"at_ms", e.at_ms},
                      {"project_id", e.project_id}, {"actor", e.actor}, {"action", e.action},
                      {"target", e.target},         {"detail", ec ? json::value(json::object()) : d},
                      {"hash", e.hash}};
}

json::object agent_json(const identity::AgentInfo& g) {
  json::value scopes = nullptr, tools = nullptr;
  if (g.scopes) {
    json::array arr;
    for (const auto& n : identity::scope_names(*g.scopes)) arr.emplace_back(n);
    scopes = std::move(arr);
  }
  if (g.allowed_tools) {
    json::array arr;
    for (const auto& t : *g.allowed_tools) arr.emplace_back(t);
    tools = std::move(arr);
  }
  return json::object{{"id", g.id},         {"object", "agent"},       {"project_id", g.project_id},
                      {"name", g.name},     {"scopes", scopes},        {"allowed_tools", tools},
                      {"created_at", g.created_at}};
}

json::object tenant_json(const identity::TenantInfo& t) {
  return json::object{{"id", t.id}, {"object", "tenant"}, {"name", t.name}, {"created_at", t.created_at}};
}

json::object project_json(const identity::ProjectInfo& p) {
  return json::object{{"id", p.id}, {"object", "project"}, {"tenant_id", p.tenant_id}, {"name", p.name},
                      {"created_at", p.created_at}};
}

// The project a key-management request may touch: any (global admin, "" = all) or its own.
Result<std::string> key_project(const identity::Principal& p, std::optional<std::string> asked) {
  if (p.global_admin) return asked.value_or("");
  if (asked && *asked != p.project_id) return Status(Code::not_found, "Project with id '" + *asked + "' not found.", "project_id");
  return p.project_id;
}

Result<json::object> object_body(const Request& req, bool allow_empty) {
  if (req.body.empty()) {
    if (allow_empty) return json::object();
    return Status(Code::invalid_argument, "The request body is empty; expected a JSON object.", "", "invalid_json");
  }
  auto b = wire::parse(req.body);
  if (!b.ok()) return b.status();
  if (!b->is_object()) return invalid_param("body", "Invalid body: expected a JSON object.", "invalid_type");
  return b->as_object();
}

Result<std::optional<std::string>> opt_string(const json::object& o, const char* name) {
  auto* v = wire::field(o, name);
  if (!v || v->is_null()) return std::optional<std::string>();
  if (!v->is_string()) return invalid_param(name, std::string("Invalid type for '") + name + "': expected a string.", "invalid_type");
  return std::optional<std::string>(std::string(v->as_string()));
}

awaitable<Response> create_key(Admin& a, Request& req) {
  auto who = co_await authorize(req, a.auth, identity::kAdmin);
  if (!who.ok()) co_return error_response(who.status());
  auto b = object_body(req, false);
  if (!b.ok()) co_return error_response(b.status());
  auto project = opt_string(*b, "project_id");
  if (!project.ok()) co_return error_response(project.status());
  auto target = key_project(*who, *project);
  if (!target.ok()) co_return error_response(target.status());
  identity::NewKey n;
  n.project_id = target->empty() ? who->project_id : *target;
  auto name = opt_string(*b, "name");
  if (!name.ok()) co_return error_response(name.status());
  n.name = name->value_or("");
  if (auto* sc = wire::field(*b, "scopes"); sc && !sc->is_null()) {
    std::string csv;
    if (sc->is_string()) {
      csv = std::string(sc->as_string());
    } else if (sc->is_array()) {
      for (const auto& e : sc->as_array()) {
        if (!e.is_string()) co_return error_response(invalid_param("scopes", "Invalid 'scopes': expected an array of strings.", "invalid_type"));
        csv += std::string(e.as_string()) + ",";
      }
    } else {
      co_return error_response(invalid_param("scopes", "Invalid type for 'scopes': expected an array of strings.", "invalid_type"));
    }
    auto bits = identity::parse_scopes(csv);
    if (!bits.ok()) co_return error_response(bits.status());
    n.scopes = *bits;
  }
  if (auto* v = wire::field(*b, "act_as_user"); v && !v->is_null()) {
    if (!v->is_bool()) co_return error_response(invalid_param("act_as_user", "Invalid type for 'act_as_user': expected a boolean.", "invalid_type"));
    n.act_as_user = v->as_bool();
  }
  if (auto* v = wire::field(*b, "expires_in"); v && !v->is_null()) {
    if (!v->is_int64() || v->as_int64() < 1 || v->as_int64() > 10LL * 365 * 86400)
      co_return error_response(invalid_param("expires_in", "Invalid 'expires_in': expected seconds between 1 and 315360000."));
    n.expires_at = static_cast<int64_t>(std::time(nullptr)) + v->as_int64();
  }
  // Nobody grants more than they hold.
  if (!who->global_admin) {
    if ((n.scopes & ~who->scopes) != 0)
      co_return error_response(Status(Code::permission_denied, "A key may not grant scopes it does not have.", "scopes", "insufficient_scope"));
    if (n.act_as_user && !who->act_as_user)
      co_return error_response(Status(Code::permission_denied, "A key without act_as_user may not grant it.", "act_as_user", "insufficient_scope"));
  }
  auto c = co_await a.keys.create(std::move(n));
  if (!c.ok()) co_return error_response(c.status());
  json::object detail = key_json(c->info);
  auto audit_entry = entry(*who, c->info.project_id, "key.create", c->info.id, std::move(detail));
  Status logged = co_await audit(a, std::move(audit_entry));
  if (!logged.ok()) co_return error_response(logged);
  co_return Response::json(200, json::serialize(created_json(*c)));
}

}  // namespace

void install_admin(http::Router& router, identity::Keys& keys, identity::Tenants& tenants,
                   identity::Authenticator& auth) {
  auto a = std::make_shared<Admin>(Admin{keys, tenants, auth});

  router.add("POST", "/v1/admin/tenants", [a](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize_global(req, a->auth);
    if (!who.ok()) co_return error_response(who.status());
    auto b = object_body(req, false);
    if (!b.ok()) co_return error_response(b.status());
    auto name = opt_string(*b, "name");
    if (!name.ok()) co_return error_response(name.status());
    std::string tenant_name = name->value_or("");
    auto t = co_await a->tenants.create_tenant(std::move(tenant_name));
    if (!t.ok()) co_return error_response(t.status());
    auto audit_entry = entry(*who, "", "tenant.create", t->id, tenant_json(*t));
    Status logged = co_await audit(*a, std::move(audit_entry));
    if (!logged.ok()) co_return error_response(logged);
    co_return Response::json(200, json::serialize(tenant_json(*t)));
  });

  router.add("GET", "/v1/admin/tenants", [a](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize_global(req, a->auth);
    if (!who.ok()) co_return error_response(who.status());
    auto ts = co_await a->tenants.tenants();
    if (!ts.ok()) co_return error_response(ts.status());
    json::array data;
    for (const auto& t : *ts) data.push_back(tenant_json(t));
    co_return Response::json(200, list_json(std::move(data)));
  });

  router.add("POST", "/v1/admin/projects", [a](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize_global(req, a->auth);
    if (!who.ok()) co_return error_response(who.status());
    auto b = object_body(req, false);
    if (!b.ok()) co_return error_response(b.status());
    auto name = opt_string(*b, "name");
    auto tenant = opt_string(*b, "tenant_id");
    auto id = opt_string(*b, "id");
    for (auto* r : {&name, &tenant, &id})
      if (!r->ok()) co_return error_response(r->status());
    std::string tenant_id = tenant->value_or(identity::kDefaultTenant), project_name = name->value_or(""),
                project_id = id->value_or("");
    auto p = co_await a->tenants.create_project(std::move(tenant_id), std::move(project_name), std::move(project_id));
    if (!p.ok()) co_return error_response(p.status());
    auto audit_entry = entry(*who, p->id, "project.create", p->id, project_json(*p));
    Status logged = co_await audit(*a, std::move(audit_entry));
    if (!logged.ok()) co_return error_response(logged);
    co_return Response::json(200, json::serialize(project_json(*p)));
  });

  router.add("GET", "/v1/admin/projects", [a](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize_global(req, a->auth);
    if (!who.ok()) co_return error_response(who.status());
    std::string tenant(req.query_param("tenant_id").value_or(""));
    auto ps = co_await a->tenants.projects(tenant);
    if (!ps.ok()) co_return error_response(ps.status());
    json::array data;
    for (const auto& p : *ps) data.push_back(project_json(p));
    co_return Response::json(200, list_json(std::move(data)));
  });

  router.add("POST", "/v1/admin/keys", [a](Request& req, Stream&) -> awaitable<Response> { return create_key(*a, req); });

  router.add("GET", "/v1/admin/keys", [a](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, a->auth, identity::kAdmin);
    if (!who.ok()) co_return error_response(who.status());
    std::optional<std::string> asked;
    if (auto q = req.query_param("project_id")) asked = std::string(*q);
    auto project = key_project(*who, asked);
    if (!project.ok()) co_return error_response(project.status());
    auto ks = co_await a->keys.list(*project);
    if (!ks.ok()) co_return error_response(ks.status());
    json::array data;
    for (const auto& k : *ks) data.push_back(key_json(k));
    co_return Response::json(200, list_json(std::move(data)));
  });

  router.add("GET", "/v1/admin/keys/{id}", [a](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, a->auth, identity::kAdmin);
    if (!who.ok()) co_return error_response(who.status());
    std::string project = who->global_admin ? "" : who->project_id;
    auto k = co_await a->keys.get(project, req.params["id"]);
    if (!k.ok()) co_return error_response(k.status());
    co_return Response::json(200, json::serialize(key_json(*k)));
  });

  auto revoke = [a](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, a->auth, identity::kAdmin);
    if (!who.ok()) co_return error_response(who.status());
    std::string project = who->global_admin ? "" : who->project_id;
    auto k = co_await a->keys.revoke(project, req.params["id"]);
    if (!k.ok()) co_return error_response(k.status());
    auto audit_entry = entry(*who, k->project_id, "key.revoke", k->id);
    Status logged = co_await audit(*a, std::move(audit_entry));
    if (!logged.ok()) co_return error_response(logged);
    co_return Response::json(200, json::serialize(key_json(*k)));
  };
  router.add("POST", "/v1/admin/keys/{id}/revoke", revoke);
  router.add("DELETE", "/v1/admin/keys/{id}", revoke);

  // Registered agents of the caller's project (a global admin may name another with project_id).
  router.add("POST", "/v1/admin/agents", [a](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, a->auth, identity::kAdmin);
    if (!who.ok()) co_return error_response(who.status());
    auto* agents = a->auth.agents();
    if (!agents) co_return error_response(Status(Code::not_found, "Agents are not enabled."));
    auto b = object_body(req, false);
    if (!b.ok()) co_return error_response(b.status());
    auto id = opt_string(*b, "id");
    auto name = opt_string(*b, "name");
    auto project = opt_string(*b, "project_id");
    for (auto* r : {&id, &name, &project})
      if (!r->ok()) co_return error_response(r->status());
    if (!*id || !valid_id_syntax(**id))
      co_return error_response(invalid_param("id", "Invalid 'id': expected letters, digits, '_' or '-' (at most 128)."));
    auto target = key_project(*who, *project);
    if (!target.ok()) co_return error_response(target.status());
    identity::AgentInfo info;
    info.project_id = target->empty() ? who->project_id : *target;
    info.id = **id;
    info.name = name->value_or(**id);
    if (auto* sc = wire::field(*b, "scopes"); sc && !sc->is_null()) {
      if (!sc->is_array()) co_return error_response(invalid_param("scopes", "Invalid type for 'scopes': expected an array of strings.", "invalid_type"));
      std::string csv;
      for (const auto& e : sc->as_array()) {
        if (!e.is_string()) co_return error_response(invalid_param("scopes", "Invalid 'scopes': expected an array of strings.", "invalid_type"));
        csv += std::string(e.as_string()) + ",";
      }
      auto bits = identity::parse_scopes(csv);
      if (!bits.ok()) co_return error_response(bits.status());
      info.scopes = *bits;
    }
    if (auto* tl = wire::field(*b, "allowed_tools"); tl && !tl->is_null()) {
      if (!tl->is_array()) co_return error_response(invalid_param("allowed_tools", "Invalid type for 'allowed_tools': expected an array of strings.", "invalid_type"));
      std::vector<std::string> tools;
      for (const auto& e : tl->as_array()) {
        if (!e.is_string() || e.as_string().empty() || e.as_string().size() > 128)
          co_return error_response(invalid_param("allowed_tools", "Invalid 'allowed_tools': expected tool names of 1 to 128 characters."));
        tools.emplace_back(e.as_string());
      }
      info.allowed_tools = std::move(tools);
    }
    auto r = co_await agents->put(std::move(info));
    if (!r.ok()) co_return error_response(r.status());
    auto audit_entry = entry(*who, r->project_id, "agent.put", r->id);
    Status logged = co_await audit(*a, std::move(audit_entry));
    if (!logged.ok()) co_return error_response(logged);
    co_return Response::json(200, json::serialize(agent_json(*r)));
  });

  router.add("GET", "/v1/admin/agents", [a](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, a->auth, identity::kAdmin);
    if (!who.ok()) co_return error_response(who.status());
    auto* agents = a->auth.agents();
    json::array data;
    if (agents)
      for (const auto& ag : agents->list(who->project_id)) data.push_back(agent_json(ag));
    co_return Response::json(200, list_json(std::move(data)));
  });

  router.add("DELETE", "/v1/admin/agents/{id}", [a](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, a->auth, identity::kAdmin);
    if (!who.ok()) co_return error_response(who.status());
    auto* agents = a->auth.agents();
    if (!agents) co_return error_response(Status(Code::not_found, "Agents are not enabled."));
    const std::string id = req.params["id"];
    Status st = co_await agents->remove(who->project_id, id);
    if (!st.ok()) co_return error_response(st);
    auto audit_entry = entry(*who, who->project_id, "agent.delete", id);
    Status logged = co_await audit(*a, std::move(audit_entry));
    if (!logged.ok()) co_return error_response(logged);
    co_return Response::json(200, json::serialize(json::object{{"id", id}, {"object", "agent.deleted"}, {"deleted", true}}));
  });

  // The audit log: a global admin reads every entry, a project's admin key its project's.
  router.add("GET", "/v1/admin/audit", [a](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, a->auth, identity::kAdmin);
    if (!who.ok()) co_return error_response(who.status());
    auto* log = a->auth.audit();
    if (!log) co_return error_response(Status(Code::not_found, "The audit log is not enabled."));
    std::optional<std::string> asked;
    if (auto q = req.query_param("project_id")) asked = std::string(*q);
    auto project = key_project(*who, asked);
    if (!project.ok()) co_return error_response(project.status());
    int64_t after = 0;
    int limit = 100;
    if (auto q = req.query_param("after")) {
      try {
        after = std::stoll(std::string(*q));
      } catch (...) {
        co_return error_response(invalid_param("after", "Invalid 'after': expected an entry's seq."));
      }
    }
    if (auto q = req.query_param("limit")) {
      int v = std::atoi(std::string(*q).c_str());
      if (v < 1 || v > 1000) co_return error_response(invalid_param("limit", "Invalid 'limit': expected 1 to 1000."));
      limit = v;
    }
    std::string action(req.query_param("action").value_or(""));
    auto es = co_await log->list(*project, after, limit + 1, action);
    if (!es.ok()) co_return error_response(es.status());
    bool more = es->size() > static_cast<size_t>(limit);
    if (more) es->pop_back();
    json::array data;
    for (const auto& e : *es) data.push_back(audit_json(e));
    co_return Response::json(200, json::serialize(json::object{{"object", "list"}, {"data", std::move(data)}, {"has_more", more}}));
  });

  router.add("POST", "/v1/admin/keys/{id}/rotate", [a](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, a->auth, identity::kAdmin);
    if (!who.ok()) co_return error_response(who.status());
    auto b = object_body(req, true);
    if (!b.ok()) co_return error_response(b.status());
    int64_t overlap = 3600;
    if (auto* v = wire::field(*b, "overlap_seconds"); v && !v->is_null()) {
      if (!v->is_int64() || v->as_int64() < 0 || v->as_int64() > 30LL * 86400)
        co_return error_response(invalid_param("overlap_seconds", "Invalid 'overlap_seconds': expected 0 to 2592000."));
      overlap = v->as_int64();
    }
    std::string project = who->global_admin ? "" : who->project_id;
    auto c = co_await a->keys.rotate(project, req.params["id"], overlap);
    if (!c.ok()) co_return error_response(c.status());
    auto audit_entry = entry(*who, c->info.project_id, "key.rotate", req.params["id"],
                             json::object{{"new_key", c->info.id}, {"overlap_seconds", overlap}});
    Status logged = co_await audit(*a, std::move(audit_entry));
    if (!logged.ok()) co_return error_response(logged);
    co_return Response::json(200, json::serialize(created_json(*c)));
  });
}

}  // namespace cn::api
