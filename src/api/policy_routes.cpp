// Policy routes (/v1/policies): a project's policy set for tool calls — read, replace, remove,
// and try a request against it (dry run). Administrators only (scope admin).
#include <boost/asio.hpp>

#include "api/route_prelude.hpp"
#include "policy/policies.hpp"
#include "wire/json.hpp"

namespace cn::api {

namespace {

struct PolicyCtx {
  policy::Policies& policies;
  identity::Authenticator& auth;
};

json::object set_json(const std::string& project, const std::optional<std::string>& text, size_t n) {
  return json::object{{"object", "policy_set"},
                      {"project_id", project},
                      {"policies", text ? json::value(*text) : json::value(nullptr)},
                      {"count", static_cast<int64_t>(n)}};
}

// An entity given as {"type": "...", "id": "..."} in a dry-run body.
Result<policy::Entity> entity_field(const json::object& o, const char* name, policy::Entity dflt) {
  auto* v = wire::field(o, name);
  if (!v || v->is_null()) return dflt;
  if (!v->is_object()) return invalid_param(name, std::string("Invalid '") + name + "': expected {\"type\", \"id\"}.");
  auto type = wire::string_field(v->as_object(), "type");
  auto id = wire::string_field(v->as_object(), "id");
  if (!type || !id) return invalid_param(name, std::string("Invalid '") + name + "': expected {\"type\", \"id\"}.");
  policy::Entity e{*type, *id, {}, {}};
  if (auto* a = wire::field(v->as_object(), "attrs"); a && a->is_object()) e.attrs = a->as_object();
  if (auto* ps = wire::field(v->as_object(), "parents"); ps && ps->is_array())
    for (const auto& p : ps->as_array())
      if (p.is_object())
        if (auto t = wire::string_field(p.as_object(), "type"))
          if (auto i = wire::string_field(p.as_object(), "id")) e.parents.push_back(policy::Entity{*t, *i, {}, {}});
  return e;
}

}  // namespace

void install_policies(http::Router& router, policy::Policies& policies, identity::Authenticator& auth) {
  auto c = std::make_shared<PolicyCtx>(PolicyCtx{policies, auth});

  router.add("GET", "/v1/policies", [c](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, c->auth, identity::kAdmin);
    if (!who.ok()) co_return error_response(who.status());
    auto set = c->policies.compiled(who->project_id);
    co_return Response::json(200, json::serialize(set_json(who->project_id, c->policies.text(who->project_id), set ? set->size() : 0)));
  });

  router.add("PUT", "/v1/policies", [c](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, c->auth, identity::kAdmin);
    if (!who.ok()) co_return error_response(who.status());
    auto body = object_body(req);
    if (!body.ok()) co_return error_response(body.status());
    auto text = wire::string_field(*body, "policies");
    if (!text)
      co_return error_response(invalid_param("policies", "Missing or invalid 'policies': expected the policy set as Cedar text.",
                                             "missing_required_parameter"));
    std::string project = who->project_id;
    Status st = co_await c->policies.put(project, *text);
    if (!st.ok()) co_return error_response(st);
    co_await audited(c->auth, *who, "policy.put", project);
    auto set = c->policies.compiled(project);
    co_return Response::json(200, json::serialize(set_json(project, c->policies.text(project), set ? set->size() : 0)));
  });

  router.add("DELETE", "/v1/policies", [c](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, c->auth, identity::kAdmin);
    if (!who.ok()) co_return error_response(who.status());
    std::string project = who->project_id;
    Status st = co_await c->policies.remove(project);
    if (!st.ok()) co_return error_response(st);
    co_await audited(c->auth, *who, "policy.delete", project);
    co_return Response::json(200, json::serialize(set_json(project, std::nullopt, 0)));
  });

  // Dry run: how the project's set decides a request ({principal, resource, context}).
  router.add("POST", "/v1/policies/evaluate", [c](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, c->auth, identity::kAdmin);
    if (!who.ok()) co_return error_response(who.status());
    auto body = object_body(req);
    if (!body.ok()) co_return error_response(body.status());
    const auto& o = *body;
    policy::Request r;
    auto principal = entity_field(o, "principal", policy::Entity{"User", "", {}, {}});
    if (!principal.ok()) co_return error_response(principal.status());
    auto resource = entity_field(o, "resource", policy::Entity{"Tool", "", {}, {}});
    if (!resource.ok()) co_return error_response(resource.status());
    r.principal = std::move(*principal);
    r.resource = std::move(*resource);
    r.action = policy::Entity{"Action", "call_tool", {}, {}};
    if (auto* ctx = wire::field(o, "context"); ctx && !ctx->is_null()) {
      if (!ctx->is_object()) co_return error_response(invalid_param("context", "Invalid 'context': expected an object."));
      r.context = *ctx;
    }
    auto set = c->policies.compiled(who->project_id);
    json::object out{{"object", "policy_decision"}};
    if (!set) {
      out["decision"] = "allow";
      out["reasons"] = json::array();
      out["errors"] = json::array();
      out["note"] = "The project has no policy set: every call is allowed.";
    } else {
      auto d = set->evaluate(r);
      out["decision"] = d.allow ? "allow" : "deny";
      json::array reasons, errors;
      for (auto& x : d.reasons) reasons.push_back(json::value(x));
      for (auto& x : d.errors) errors.push_back(json::value(x));
      out["reasons"] = std::move(reasons);
      out["errors"] = std::move(errors);
    }
    co_return Response::json(200, json::serialize(out));
  });
}

}  // namespace cn::api
