// The public HTTP API: OpenAI-compatible /v1/responses and /v1/conversations, plus /healthz.
// Handlers authenticate through identity/, validate JSON into runtime/ parameters, and adapt a
// run to the answer the client asked for (one body, an SSE stream, or a background ack).
#pragma once

#include "base/status.hpp"
#include "fleet/registry.hpp"
#include "fleet/schedules.hpp"
#include "evals/evals.hpp"
#include "evals/online.hpp"
#include "telemetry/metrics.hpp"
#include "telemetry/usage.hpp"
#include "webhooks/webhooks.hpp"
#include "http/server.hpp"
#include "identity/authenticator.hpp"
#include "identity/keys.hpp"
#include "identity/oauth.hpp"
#include "identity/vault.hpp"
#include "memory/memory.hpp"
#include "policy/policies.hpp"
#include "tools/servers.hpp"
#include "runtime/runtime.hpp"
#include "wire/json.hpp"

namespace cn::admission {
class Governor;
}

namespace cn::api {

// Maps a Status to an HTTP answer in OpenAI's error shape. The one place codes become statuses.
http::Response error_response(const Status& st);
int http_status_of(const Status& st);

// Validates a POST /v1/responses body into runtime parameters. Every wrong field is a 400 that
// names it (param), in OpenAI's wording where OpenAI has one.
Result<runtime::CreateParams> parse_create(const wire::json::value& body);
// Validates a metadata map (≤16 pairs, keys ≤64, values ≤512 characters); `param` names it.
Status check_metadata(const wire::json::value& v, std::string_view param);
// Parses list query parameters (after, limit 1..100, order asc|desc; default desc).
Result<runtime::ListQuery> parse_list_query(const http::Request& req);

struct Options {
  std::chrono::milliseconds keepalive{15'000};  // SSE comment pings while a stream is idle
  // The largest agent export made: the server's largest request body, so that what one server
  // exports another configured alike can import.
  size_t max_export_bytes = 8 << 20;
  // Answers /readyz (null: always ready).
  admission::Governor* governor = nullptr;
};

// What the routes serve from. Everything must outlive the server; `memory` may be null (no
// memory routes).
struct Services {
  runtime::Runtime& runtime;
  identity::Authenticator& auth;
  identity::Keys& keys;
  identity::Tenants& tenants;
  memory::Memory* memory = nullptr;
  identity::Vault* vault = nullptr;  // null: no vault routes
  identity::OAuth* oauth = nullptr;  // null: no OAuth routes
  policy::Policies* policies = nullptr;  // null: no policy routes
  tools::ToolServers* tool_servers = nullptr;  // null: no tool server routes
  fleet::AgentRegistry* agents = nullptr;      // null: no agents ("agent:..." models refused)
  telemetry::Metrics* metrics = nullptr;       // null: no /metrics, requests not counted
  telemetry::UsageLedger* usage = nullptr;     // null: no /v1/usage
  webhooks::Webhooks* webhooks = nullptr;      // null: no /v1/webhooks
  fleet::Schedules* schedules = nullptr;       // null: no /v1/schedules
  evals::Evals* evals = nullptr;               // null: no /v1/evals
  evals::OnlineEvals* online_evals = nullptr;  // null: no /v1/agents/{name}/online_eval
};

// What starting a turn needs.
struct TurnServices {
  runtime::Runtime& rt;
  identity::Authenticator& auth;
  fleet::AgentRegistry* agents = nullptr;
};
struct StartedTurn {
  std::shared_ptr<runtime::Run> run;
  bool stream = false, background = false;  // how the body asked to be answered
};
// Starts a turn for an authorized principal from a POST /v1/responses body: an "agent:" model
// resolved and folded in, the end user the body names settled, rate limits and token budgets,
// the conversations scope, a registered agent's allowed tools, validation (400s naming the
// field), then Runtime::create. `req` is the request it came with (audit notes, rate-limit
// headers). Every turn, whatever route it came through, takes this path.
boost::asio::awaitable<Result<StartedTurn>> start_turn(TurnServices s, http::Request& req, identity::Principal who,
                                                       wire::json::value body);
// All of start_turn but the run: the parameters a body makes for `who`. `counting` (input_tokens)
// leaves token quotas alone.
boost::asio::awaitable<Result<runtime::CreateParams>> prepare_turn(TurnServices s, http::Request& req, identity::Principal who,
                                                                   wire::json::value body, bool counting);

// What the pass-through routes reach: the upstream (unset base_url: none; the built-in models
// answer), the model registry (the local model, the embedder) and the token counter.
struct PassthroughOptions {
  std::string base_url, api_key;  // the key is never logged or returned
  http::Client* client = nullptr;
  std::chrono::milliseconds timeout{300'000};
  model::Registry* models = nullptr;
  const tokens::Counter* counter = nullptr;
};
// GET /v1/models[/{id}], POST /v1/embeddings, POST /v1/chat/completions: authenticated, metered
// pass-throughs to the upstream, or the built-in models offline.
void install_passthrough(http::Router& router, identity::Authenticator& auth, PassthroughOptions opts);
// POST /v1/responses/input_tokens (a turn's context counted in its model's tokens) and POST
// /v1/responses/compact (the context summarized into a sealed compaction item).
void install_context_routes(http::Router& router, runtime::Runtime& rt, identity::Authenticator& auth,
                          fleet::AgentRegistry* agents);
// WebSocket mode on /v1/responses (an upgrade route): turns as response.create events, each on
// its own lane, events as the SSE ones.
void install_sockets(http::Router& router, runtime::Runtime& rt, identity::Authenticator& auth, fleet::AgentRegistry* agents,
                     std::chrono::milliseconds keepalive);
// Steering input (POST /v1/responses/{id}/steer's `input`, response.steer's `input`): user
// messages only, with fresh ids, and their wire JSON array. Refusals carry the api_code
// "invalid_input" and name the offending path under `param`.
struct SteerBody {
  std::vector<Item> items;
  std::string json;
};
Result<SteerBody> parse_steer_input(const wire::json::value* input, const std::string& param);
// POST /v1/responses/{id}/steer and GET /v1/responses/{id}/steers/{steer_id}.
void install_steering(http::Router& router, runtime::Runtime& rt, identity::Authenticator& auth);
// Registers every route on `router`.
void install(http::Router& router, Services s, Options opts = {});
// The memory routes (/v1/memories, /v1/users/{id}/memories, /v1/memory/jobs).
void install_memory(http::Router& router, memory::Memory& memory, identity::Authenticator& auth);
// The vault routes (/v1/vault/secrets): write-only storage of tools' credentials.
void install_vault(http::Router& router, identity::Vault& vault, identity::Authenticator& auth);
// The OAuth routes (/v1/vault/oauth/...): connect an account, the provider's callback, refresh.
void install_oauth(http::Router& router, identity::OAuth& oauth, identity::Authenticator& auth);
// The policy routes (/v1/policies): a project's policy set for tool calls (admin scope).
void install_policies(http::Router& router, policy::Policies& policies, identity::Authenticator& auth);
// Continuum as an MCP server (/mcp): the memory tools for other agent frameworks.
// With `agents`, also run_agent: one turn as one of the project's agents.
void install_mcp(http::Router& router, memory::Memory& memory, identity::Authenticator& auth, runtime::Runtime& rt,
                 fleet::AgentRegistry* agents);
// The tool server routes (/v1/tool_servers): a project's registered MCP servers (admin scope).
void install_tool_servers(http::Router& router, tools::ToolServers& servers, identity::Authenticator& auth);
// The webhook routes (/v1/webhooks): URLs told when responses end, and their delivery logs.
void install_webhooks(http::Router& router, webhooks::Webhooks& hooks, identity::Authenticator& auth);
// The schedule routes (/v1/schedules): background turns as an agent, on a cron or an interval.
void install_schedules(http::Router& router, fleet::Schedules& schedules, identity::Authenticator& auth);
// The Evals API (/v1/evals): evals, runs and output items (evals/evals.hpp).
void install_evals(http::Router& router, evals::Evals& evals, identity::Authenticator& auth);
// The web console (/console): its page, script and style, embedded in the binary.
void install_console(http::Router& router);
// The usage route (/v1/usage): tokens and cost by day, agent, user and model (admin scope).
void install_usage(http::Router& router, telemetry::UsageLedger& ledger, identity::Authenticator& auth);
// A2A 1.0 for each agent (/a2a/{name}: Agent Card and JSON-RPC).
void install_a2a(http::Router& router, runtime::Runtime& rt, fleet::AgentRegistry& agents, identity::Authenticator& auth);
// The agent routes (/v1/agents): versioned definitions and aliases.
// With `evals`, alias moves pass promotion gates (/v1/agents/{name}/aliases/{alias}/gate).
// With `online`, an agent's online evaluation (/v1/agents/{name}/online_eval).
void install_agents(http::Router& router, fleet::AgentRegistry& agents, identity::Authenticator& auth, evals::Evals* evals = nullptr,
                    evals::OnlineEvals* online = nullptr);
// One agent's export and import (/v1/agents/{name}/export, /v1/agents/import): versions,
// aliases, memory records and optionally conversations, ids kept or remapped.
void install_agent_transfer(http::Router& router, fleet::AgentRegistry& agents, memory::Memory* memory, runtime::Runtime& rt,
                            identity::Authenticator& auth, size_t max_export_bytes);
// The administration routes (/v1/admin/...): tenants, projects, keys.
void install_admin(http::Router& router, identity::Keys& keys, identity::Tenants& tenants,
                   identity::Authenticator& auth);

// The one door of every data route: verifies the bearer credential (an API key or an end user's
// token), requires the scope `need` (0: none), and settles the end user the request acts for,
// from the token, the X-Continuum-User header or the ?user_id query parameter (see name_user).
// The agent named by X-Continuum-Agent joins the principal. 401 without a valid credential;
// 403 (insufficient_scope) without the scope.
boost::asio::awaitable<Result<identity::Principal>> authorize(const http::Request& req,
                                                              identity::Authenticator& auth, uint32_t need);
// A request that names end user `named` in `param` (header, query, body field or path) acts for
// that user. A user token may name only its own user, and so may a request that already acts
// for one (403 user_mismatch). A key may name a user only with act_as_user (403
// act_as_user_required). An empty `named` is no naming.
Status name_user(identity::Principal& p, const std::string& named, const std::string& param);
// Returns `st`, recording it in the audit log first when it is a refusal (403).
Status noted(identity::Authenticator& auth, const http::Request& req, const identity::Principal& who, Status st);

// The end user a request acts for, when it names one: the X-Continuum-User header or the
// ?user_id query parameter (1..255 characters, no control characters). Both naming different
// users is a 400 (code user_mismatch). Such a request reads and writes only that user's data.
Result<std::optional<std::string>> acting_user(const http::Request& req);

// The bearer key's principal, or 401.
Result<identity::Principal> authenticate(const http::Request& req, const identity::Keys& keys);

}  // namespace cn::api
