// The one path every turn takes, whatever door it came through (POST /v1/responses, the MCP
// server's run_agent): an agent model resolved and folded in, the end user named in the body
// settled, rate limits and token budgets, the conversations scope, a registered agent's allowed
// tools, then the run started.
#include "api/route_prelude.hpp"
#include "api/team.hpp"
#include "fleet/apply.hpp"
#include "wire/json.hpp"

namespace cn::api {

namespace {

// Resolves an agent reference, makes the agent the request's workload principal (a registered
// agent identity narrows its scopes and tools) and folds its definition into `body`. Returns the
// agent's version.
Result<std::shared_ptr<const fleet::AgentVersion>> run_as_agent(const TurnServices& c, identity::Principal& who, json::object& body,
                                                                const std::string& ref) {
  if (!c.agents) return invalid_param("model", "This server runs no agents.", "model_not_found");
  auto v = c.agents->resolve(who.project_id, ref);
  if (!v.ok()) return v.status();
  if (who.agent && *who.agent != (*v)->name)
    return invalid_param("X-Continuum-Agent", "X-Continuum-Agent names agent '" + *who.agent + "' but the model names agent '" +
                                                  (*v)->name + "'.");
  who.agent = (*v)->name;
  if (auto* registered = c.auth.agents())
    if (auto agent = registered->find(who.project_id, *who.agent)) {
      if (agent->scopes) who.scopes &= *agent->scopes;
      who.allowed_tools = agent->allowed_tools;
      if (!who.has(identity::kResponses))
        return Status(Code::permission_denied, "Agent '" + *who.agent + "' may not create responses.", "model", "insufficient_scope");
    }
  if (Status s = fleet::apply_agent(**v, body); !s.ok()) return s;
  return *v;
}

}  // namespace

awaitable<Result<runtime::CreateParams>> prepare_turn(TurnServices c, Request& req, identity::Principal who, json::value body,
                                                      bool counting) {
  if (!body.is_object())
    co_return Status(Code::invalid_argument, "The request body must be a JSON object.", "", "invalid_json");
  // "model": "agent:NAME[@ALIAS]" runs the request as that agent's version.
  std::shared_ptr<const fleet::AgentVersion> agent;
  std::string agent_ref;
  json::value own_instructions = nullptr;
  if (auto* m = wire::field(body.as_object(), "model");
      m && m->is_string() && m->as_string().starts_with(fleet::kAgentModelPrefix)) {
    if (auto* i = wire::field(body.as_object(), "instructions")) own_instructions = *i;
    agent_ref = std::string(m->as_string()).substr(fleet::kAgentModelPrefix.size());
    auto v = run_as_agent(c, who, body.as_object(), agent_ref);
    if (!v.ok()) co_return noted(c.auth, req, who, v.status());
    agent = std::move(*v);
  }
  auto params = parse_create(body);
  if (!params.ok()) co_return params.status();
  if (agent) {
    // The response shows the agent and version, and only the request's own instructions: the
    // agent's stay the project's.
    params->echo["agent"] = fleet::agent_ref_json(*agent, agent_ref);
    params->echo["instructions"] = std::move(own_instructions);
    apply_agent_limits(*agent, *params);
  }
  // A user named by 'safety_identifier' or 'user' is acted for, as one named by the header.
  const char* user_param = wire::field(body.as_object(), "safety_identifier") ? "safety_identifier" : "user";
  bool user_from_body = !who.user && !params->memory_user.empty();
  if (Status s = name_user(who, params->memory_user, user_param); !s.ok())
    co_return noted(c.auth, req, who, s);
  if (auto* limiter = c.auth.limiter(); limiter && !counting) {
    if (user_from_body) {
      if (Status s = limiter->admit(who, req.answer_headers, false, true); !s.ok()) co_return s;
    }
    if (Status s = limiter->tokens_available(who.project_id, req.answer_headers); !s.ok()) co_return s;
    params->on_usage = [limiter, project = who.project_id](const Usage& u) { limiter->charge_tokens(project, u.total()); };
  }
  if (params->conversation_id && !who.has(identity::kConversations))
    co_return Status(Code::permission_denied, "You have insufficient permissions for this operation. Missing scopes: conversations.",
                     "conversation", "insufficient_scope");
  if (who.allowed_tools) {
    // A registered agent may use only its allowed tools: server-side types and function names.
    auto allowed = [&](const std::string& t) {
      return std::find(who.allowed_tools->begin(), who.allowed_tools->end(), t) != who.allowed_tools->end();
    };
    std::vector<std::string> used;
    for (const auto& st : params->server_tools) {
      // A server-side tool is named by its type, an MCP server by "mcp:<label>".
      std::string type(st.at("type").as_string());
      auto* label = st.if_contains("server_label");
      used.push_back(type == "mcp" && label && label->is_string() ? "mcp:" + std::string(label->as_string()) : type);
    }
    if (auto* tools = wire::field(body.as_object(), "tools"); tools && tools->is_array())
      for (const auto& t : tools->as_array())
        if (t.is_object())
          if (auto* n = wire::field(t.as_object(), "name"); n && n->is_string()) used.emplace_back(n->as_string());
    for (const auto& t : used)
      if (!allowed(t))
        co_return noted(c.auth, req, who,
                        Status(Code::permission_denied, "Agent '" + *who.agent + "' may not use the tool '" + t + "'.", "tools",
                               "tool_not_allowed"));
  }
  params->scope = who.scope();
  params->credential_id = who.credential_id;
  params->claims_json = who.claims_json;
  if (who.user) params->memory_user = *who.user;
  if (who.agent) params->memory_agent = *who.agent;
  if (auto tp = req.header("traceparent")) params->traceparent = std::string(*tp);
  co_return std::move(*params);
}

awaitable<Result<StartedTurn>> start_turn(TurnServices c, Request& req, identity::Principal who, json::value body) {
  auto params = co_await prepare_turn(c, req, std::move(who), std::move(body), false);
  if (!params.ok()) co_return params.status();
  StartedTurn out;
  out.stream = params->stream;
  out.background = params->background;
  auto run = co_await c.rt.create(std::move(*params));
  if (!run.ok()) co_return run.status();
  out.run = std::move(*run);
  co_return out;
}

}  // namespace cn::api
