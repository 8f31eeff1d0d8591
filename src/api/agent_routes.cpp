// Agent routes (/v1/agents): versioned agent definitions and their aliases. Writing needs the
// admin scope (an agent bundles tools and credentials' use); reading needs a key with responses
// (a back end may see what it runs; end-user tokens may not). Every write is audited.
#include <boost/asio.hpp>

#include "api/route_prelude.hpp"
#include "fleet/registry.hpp"
#include "wire/json.hpp"

namespace cn::api {

namespace {

struct AgentCtx {
  fleet::AgentRegistry& agents;
  identity::Authenticator& auth;
  evals::Evals* evals;  // null: no promotion gates
  evals::OnlineEvals* online;  // null: no online evaluation
};

Response agent_answer(const fleet::AgentSummary& s, const fleet::AgentVersion* v = nullptr) {
  json::object o = fleet::agent_json(v ? *v : *s.latest, s.aliases);
  o["latest_version"] = s.latest->version;
  return Response::json(200, json::serialize(o));
}

// Reading needs a key with responses; an end user's token does not see the project's agent
// definitions (their instructions are the project's, not the user's).
awaitable<Result<identity::Principal>> reader(AgentCtx& c, const Request& req) {
  auto who = co_await authorize(req, c.auth, identity::kResponses);
  if (who.ok() && who->kind == identity::Principal::Kind::user_token)
    co_return Status(Code::permission_denied, "End-user tokens cannot read agent definitions.", "", "insufficient_scope");
  co_return who;
}

Status no_agent(const std::string& name) { return Status(Code::not_found, "No agent named '" + name + "' exists in this project."); }

Result<int64_t> version_param(const std::string& text) {
  std::string t = text.starts_with("v") ? text.substr(1) : text;
  if (t.empty() || t.size() > 12 || !std::all_of(t.begin(), t.end(), ::isdigit))
    return invalid_param("version", "Invalid version: expected a positive integer.");
  return std::stoll(t);
}

}  // namespace

void install_agents(http::Router& router, fleet::AgentRegistry& agents, identity::Authenticator& auth, evals::Evals* evals,
                    evals::OnlineEvals* online) {
  auto c = std::make_shared<AgentCtx>(AgentCtx{agents, auth, evals, online});

  // Creates the agent, or its next version when the document changed.
  router.add("POST", "/v1/agents", [c](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, c->auth, identity::kAdmin);
    if (!who.ok()) co_return error_response(who.status());
    auto body = object_body(req);
    if (!body.ok()) co_return error_response(body.status());
    bool created = false;
    std::string project = who->project_id, source = "api";
    auto v = co_await c->agents.put(project, *body, source, &created);
    if (!v.ok()) co_return error_response(v.status());
    if (created) {
      std::string target = (*v)->name, detail = json::serialize(json::object{{"version", (*v)->version}});
      co_await audited(c->auth, *who, "agent.version", target, detail);
    }
    auto s = c->agents.summary(project, (*v)->name);
    if (!s) co_return error_response(no_agent((*v)->name));
    co_return agent_answer(*s, v->get());
  });

  router.add("GET", "/v1/agents", [c](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await reader(*c, req);
    if (!who.ok()) co_return error_response(who.status());
    json::array data;
    for (const auto& s : c->agents.list(who->project_id)) {
      json::object o = fleet::agent_json(*s.latest, s.aliases);
      o["latest_version"] = s.latest->version;
      data.push_back(std::move(o));
    }
    co_return list_response(std::move(data));
  });

  // The latest version, or ?version=N.
  router.add("GET", "/v1/agents/{name}", [c](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await reader(*c, req);
    if (!who.ok()) co_return error_response(who.status());
    auto s = c->agents.summary(who->project_id, req.params["name"]);
    if (!s) co_return error_response(no_agent(req.params["name"]));
    if (auto q = req.query_param("version")) {
      auto n = version_param(std::string(*q));
      if (!n.ok()) co_return error_response(n.status());
      auto v = c->agents.resolve(who->project_id, req.params["name"] + "@v" + std::to_string(*n));
      if (!v.ok()) co_return error_response(Status(Code::not_found, v.status().message(), "version"));
      co_return agent_answer(*s, v->get());
    }
    co_return agent_answer(*s);
  });

  router.add("GET", "/v1/agents/{name}/versions", [c](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await reader(*c, req);
    if (!who.ok()) co_return error_response(who.status());
    auto s = c->agents.summary(who->project_id, req.params["name"]);
    if (!s) co_return error_response(no_agent(req.params["name"]));
    json::array data;
    for (const auto& v : c->agents.versions(who->project_id, req.params["name"])) data.push_back(fleet::agent_json(*v, s->aliases));
    co_return list_response(std::move(data));
  });

  // Moves an alias (creating it): {"version": N, "force"?: bool}. Rolling back is moving it to an
  // older version. An alias with a promotion gate moves only when the version passes it (the
  // gate's eval run as the version and as the current one, side by side): otherwise 409 with the
  // comparison, unless forced (audited as such).
  router.add("POST", "/v1/agents/{name}/aliases/{alias}", [c](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, c->auth, identity::kAdmin);
    if (!who.ok()) co_return error_response(who.status());
    auto body = wire::parse(req.body);
    if (!body.ok()) co_return error_response(body.status());
    auto* ver = body->is_object() ? body->as_object().if_contains("version") : nullptr;
    if (!ver || !ver->is_int64() || ver->as_int64() < 1)
      co_return error_response(invalid_param("version", "Missing or invalid 'version': expected a positive integer."));
    auto* forced = body->as_object().if_contains("force");
    if (forced && !forced->is_bool()) co_return error_response(invalid_param("force", "Invalid type for 'force': expected a boolean.", "invalid_type"));
    bool force = forced && forced->as_bool();
    std::string project = who->project_id, name = req.params["name"], alias = req.params["alias"];
    int64_t version = ver->as_int64();
    auto before = c->agents.summary(project, name);
    if (!before) co_return error_response(no_agent(name));
    std::optional<int64_t> current;
    if (auto it = before->aliases.find(alias); it != before->aliases.end()) current = it->second;
    json::value gate = nullptr;
    auto g = c->evals ? c->evals->gate(project, name, alias) : std::nullopt;
    if (g && current != version && !force) {
      auto checked = co_await c->evals->check_gate(*g, version, current);
      if (!checked.ok()) co_return error_response(checked.status());
      if (!checked->passed) {
        json::object err{{"message", "Version " + std::to_string(version) + " of '" + name + "' did not pass the promotion gate of alias '" + alias +
                                         "' (see comparison); pass \"force\": true to move it anyway."},
                         {"type", "invalid_request_error"}, {"param", "version"}, {"code", "promotion_gate_failed"}};
        co_return Response::json(409, json::serialize(json::object{{"error", std::move(err)}, {"comparison", checked->comparison}}));
      }
      gate = checked->comparison;
    }
    Status st = co_await c->agents.set_alias(project, name, alias, version);
    if (!st.ok()) co_return error_response(st);
    std::string detail = json::serialize(json::object{{"alias", alias}, {"version", version}, {"forced_past_gate", g && force}});
    co_await audited(c->auth, *who, "agent.alias", name, detail);
    auto s = c->agents.summary(project, name);
    if (!s) co_return error_response(no_agent(name));
    json::object o = fleet::agent_json(*s->latest, s->aliases);
    o["latest_version"] = s->latest->version;
    if (!gate.is_null()) o["gate"] = gate;
    co_return Response::json(200, json::serialize(o));
  });

  // A promotion gate on an alias: {eval_id, data_source (with input_messages), tolerance?,
  // min_score?}. GET reads it, DELETE removes it.
  router.add("PUT", "/v1/agents/{name}/aliases/{alias}/gate", [c](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, c->auth, identity::kAdmin);
    if (!who.ok()) co_return error_response(who.status());
    if (!c->evals) co_return error_response(Status(Code::not_found, "Promotion gates need evals, which this server does not run."));
    std::string project = who->project_id, name = req.params["name"], alias = req.params["alias"];
    if (!c->agents.summary(project, name)) co_return error_response(no_agent(name));
    auto body = object_body(req);
    if (!body.ok()) co_return error_response(body.status());
    auto g = co_await c->evals->put_gate(project, name, alias, std::move(*body));
    if (!g.ok()) co_return error_response(g.status());
    std::string detail = json::serialize(json::object{{"alias", alias}, {"eval_id", g->eval_id}});
    co_await audited(c->auth, *who, "agent.gate", name, detail);
    co_return Response::json(200, json::serialize(evals::gate_json(*g)));
  });

  router.add("GET", "/v1/agents/{name}/aliases/{alias}/gate", [c](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, c->auth, identity::kAdmin);
    if (!who.ok()) co_return error_response(who.status());
    std::string name = req.params["name"], alias = req.params["alias"];
    auto g = c->evals ? c->evals->gate(who->project_id, name, alias) : std::nullopt;
    if (!g) co_return error_response(Status(Code::not_found, "Alias '" + alias + "' of agent '" + name + "' has no gate."));
    co_return Response::json(200, json::serialize(evals::gate_json(*g)));
  });

  router.add("DELETE", "/v1/agents/{name}/aliases/{alias}/gate", [c](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, c->auth, identity::kAdmin);
    if (!who.ok()) co_return error_response(who.status());
    std::string project = who->project_id, name = req.params["name"], alias = req.params["alias"];
    if (!c->evals) co_return error_response(Status(Code::not_found, "Alias '" + alias + "' of agent '" + name + "' has no gate."));
    Status st = co_await c->evals->delete_gate(project, name, alias);
    if (!st.ok()) co_return error_response(st);
    std::string detail = json::serialize(json::object{{"alias", alias}});
    co_await audited(c->auth, *who, "agent.gate.delete", name, detail);
    co_return Response::json(200, json::serialize(json::object{{"object", "agent.gate.deleted"}, {"name", name}, {"alias", alias}, {"deleted", true}}));
  });

  router.add("DELETE", "/v1/agents/{name}/aliases/{alias}", [c](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, c->auth, identity::kAdmin);
    if (!who.ok()) co_return error_response(who.status());
    std::string project = who->project_id, name = req.params["name"], alias = req.params["alias"];
    Status st = co_await c->agents.remove_alias(project, name, alias);
    if (!st.ok()) co_return error_response(st);
    std::string detail = json::serialize(json::object{{"alias", alias}});
    co_await audited(c->auth, *who, "agent.alias.delete", name, detail);
    co_return Response::json(200, json::serialize(json::object{{"object", "agent.alias.deleted"}, {"name", name}, {"alias", alias}, {"deleted", true}}));
  });

  // Online evaluation of an agent's runs: PUT {eval_id, sampling_rate, window?, min_pass_rate?};
  // GET shows it with each version's rolling pass rate; DELETE stops it (scores stay).
  router.add("PUT", "/v1/agents/{name}/online_eval", [c](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, c->auth, identity::kAdmin);
    if (!who.ok()) co_return error_response(who.status());
    std::string project = who->project_id, name = req.params["name"];
    if (!c->online || !c->agents.summary(project, name)) co_return error_response(no_agent(name));
    auto body = object_body(req);
    if (!body.ok()) co_return error_response(body.status());
    auto cfg = co_await c->online->put(project, name, std::move(*body));
    if (!cfg.ok()) co_return error_response(cfg.status());
    std::string detail = json::serialize(json::object{{"eval_id", cfg->eval_id}, {"sampling_rate", cfg->sampling_rate}});
    co_await audited(c->auth, *who, "agent.online_eval", name, detail);
    co_return Response::json(200, json::serialize(c->online->json_of(*cfg)));
  });

  router.add("GET", "/v1/agents/{name}/online_eval", [c](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await reader(*c, req);
    if (!who.ok()) co_return error_response(who.status());
    std::string name = req.params["name"];
    auto cfg = c->online ? c->online->get(who->project_id, name) : std::nullopt;
    if (!cfg) co_return error_response(Status(Code::not_found, "Agent '" + name + "' has no online evaluation."));
    co_return Response::json(200, json::serialize(c->online->json_of(*cfg)));
  });

  router.add("DELETE", "/v1/agents/{name}/online_eval", [c](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, c->auth, identity::kAdmin);
    if (!who.ok()) co_return error_response(who.status());
    std::string project = who->project_id, name = req.params["name"];
    if (!c->online) co_return error_response(Status(Code::not_found, "Agent '" + name + "' has no online evaluation."));
    Status st = co_await c->online->remove(project, name);
    if (!st.ok()) co_return error_response(st);
    co_await audited(c->auth, *who, "agent.online_eval.delete", name);
    co_return Response::json(200, json::serialize(json::object{{"object", "agent.online_eval.deleted"}, {"name", name}, {"deleted", true}}));
  });

  router.add("DELETE", "/v1/agents/{name}", [c](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, c->auth, identity::kAdmin);
    if (!who.ok()) co_return error_response(who.status());
    std::string project = who->project_id, name = req.params["name"];
    Status st = co_await c->agents.remove(project, name);
    if (!st.ok()) co_return error_response(st);
    co_await audited(c->auth, *who, "agent.delete", name);
    co_return Response::json(200, json::serialize(json::object{{"object", "agent.deleted"}, {"name", name}, {"deleted", true}}));
  });
}

}  // namespace cn::api
