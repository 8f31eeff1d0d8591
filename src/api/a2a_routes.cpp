// A2A 1.0 (JSON-RPC binding) for each agent, based at /a2a/<name>: the Agent Card at
// /a2a/<name>/.well-known/agent-card.json, and POST /a2a/<name> answering SendMessage,
// SendStreamingMessage, GetTask, CancelTask and SubscribeToTask. A task is a run of the agent:
// its id is the response id, its context the conversation it runs in (one is made when the
// message names none), its artifact the answer's text. Every message goes through start_turn,
// the path of POST /v1/responses, with the caller's identity: the card and the methods need the
// same bearer credential as the rest of the API (the card says so in its security schemes).
#include <boost/asio.hpp>

#include <ctime>

#include "api/route_prelude.hpp"
#include "base/clock.hpp"
#include "fleet/registry.hpp"
#include "http/sse.hpp"
#include "wire/json.hpp"

namespace cn::api {

namespace {

constexpr std::chrono::milliseconds kKeepalive{15'000};

// A2A error codes (spec §3.6).
constexpr int kTaskNotFound = -32001, kTaskNotCancelable = -32002, kUnsupported = -32004, kContentType = -32005,
              kVersionNotSupported = -32009;

struct A2aCtx {
  runtime::Runtime& rt;
  identity::Authenticator& auth;
  fleet::AgentRegistry& agents;
};

Response rpc_result(const json::value& id, json::value result) {
  return Response::json(200, json::serialize(json::object{{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(result)}}));
}

Response rpc_error(const json::value& id, int code, std::string message) {
  return Response::json(200, json::serialize(json::object{
                                 {"jsonrpc", "2.0"}, {"id", id}, {"error", json::object{{"code", code}, {"message", std::move(message)}}}}));
}

std::string iso_time(int64_t seconds) { return utc_string(seconds, "%Y-%m-%dT%H:%M:%S.000Z"); }

const char* task_state(const json::object& r) {
  std::string_view st = r.contains("status") && r.at("status").is_string() ? std::string_view(r.at("status").as_string()) : "";
  if (st == "queued") return "TASK_STATE_SUBMITTED";
  if (st == "in_progress") return "TASK_STATE_WORKING";
  if (st == "failed") return "TASK_STATE_FAILED";
  if (st == "cancelled") return "TASK_STATE_CANCELED";
  // A completed response that waits for the client's own function call needs input.
  if (auto* out = r.if_contains("output"); out && out->is_array())
    for (const auto& o : out->as_array())
      if (o.is_object() && o.as_object().contains("type") && o.as_object().at("type") == "function_call")
        return "TASK_STATE_INPUT_REQUIRED";
  return "TASK_STATE_COMPLETED";
}

bool terminal(std::string_view state) {
  return state == "TASK_STATE_COMPLETED" || state == "TASK_STATE_FAILED" || state == "TASK_STATE_CANCELED" ||
         state == "TASK_STATE_REJECTED";
}

std::string output_text(const json::object& r) {
  std::string text;
  if (auto* out = r.if_contains("output"); out && out->is_array())
    for (const auto& item : out->as_array())
      if (auto* c = item.is_object() ? item.as_object().if_contains("content") : nullptr; c && c->is_array())
        for (const auto& part : c->as_array())
          if (auto* t = part.is_object() ? part.as_object().if_contains("text") : nullptr; t && t->is_string())
            text += std::string(t->as_string());
  return text;
}

std::string context_of(const json::object& r) {
  if (auto* c = r.if_contains("conversation"); c && c->is_object() && c->as_object().contains("id"))
    return std::string(c->as_object().at("id").as_string());
  return std::string(r.at("id").as_string());
}

// The A2A Task of a Response object.
json::object task_json(const json::object& r) {
  std::string state = task_state(r);
  int64_t at = r.contains("completed_at") && r.at("completed_at").is_int64() ? r.at("completed_at").as_int64()
                                                                               : r.at("created_at").as_int64();
  json::object status{{"state", state}, {"timestamp", iso_time(at)}};
  if (state == "TASK_STATE_FAILED")
    if (auto* e = r.if_contains("error"); e && e->is_object() && e->as_object().contains("message"))
      status["message"] = json::object{{"messageId", std::string(r.at("id").as_string()) + "-error"},
                                       {"role", "ROLE_AGENT"},
                                       {"parts", json::array{json::object{{"text", e->as_object().at("message")}}}}};
  json::object task{{"id", r.at("id")}, {"contextId", context_of(r)}, {"status", std::move(status)}};
  std::string text = output_text(r);
  if (!text.empty())
    task["artifacts"] = json::array{json::object{{"artifactId", std::string(r.at("id").as_string()) + "-answer"},
                                                 {"name", "answer"},
                                                 {"parts", json::array{json::object{{"text", text}}}}}};
  if (auto* a = r.if_contains("agent")) task["metadata"] = json::object{{"agent", *a}};
  return task;
}

// The agent's card: its skills, the JSON-RPC interface, bearer authentication.
json::object card_json(const fleet::AgentVersion& v, const std::string& url) {
  json::array skills;
  for (const auto& s : v.def.skills) {
    json::object sk = s.as_object();
    if (!sk.contains("name")) sk["name"] = sk.at("id");
    if (!sk.contains("description")) sk["description"] = sk.at("name");
    if (!sk.contains("tags")) sk["tags"] = json::array{};
    skills.push_back(std::move(sk));
  }
  if (skills.empty())
    skills.push_back(json::object{{"id", v.name}, {"name", v.name}, {"description", v.def.description.empty() ? v.name : v.def.description},
                                  {"tags", json::array{}}});
  return json::object{
      {"name", v.name},
      {"description", v.def.description.empty() ? "Agent " + v.name : v.def.description},
      {"version", std::to_string(v.version)},
      {"supportedInterfaces", json::array{json::object{{"url", url}, {"protocolBinding", "JSONRPC"}, {"protocolVersion", "1.0"}}}},
      {"provider", json::object{{"organization", "Continuum"}, {"url", url}}},
      {"capabilities", json::object{{"streaming", true}, {"pushNotifications", false}, {"extendedAgentCard", false}}},
      {"securitySchemes", json::object{{"bearer", json::object{{"httpAuthSecurityScheme", json::object{{"scheme", "Bearer"}}}}}}},
      {"securityRequirements", json::array{json::object{{"schemes", json::object{{"bearer", json::object{{"list", json::array{}}}}}}}}},
      {"defaultInputModes", json::array{"text/plain", "application/json"}},
      {"defaultOutputModes", json::array{"text/plain"}},
      {"skills", std::move(skills)}};
}

std::string base_url(const Request& req, const std::string& name) {
  std::string host(req.header("host").value_or("localhost"));
  std::string proto(req.header("x-forwarded-proto").value_or("http"));
  return proto + "://" + host + "/a2a/" + name;
}

// The text of a message's parts (text as is, data as JSON, url as a line); a raw (bytes) part
// is refused.
Result<std::string> message_text(const json::object& msg) {
  auto* parts = msg.if_contains("parts");
  if (!parts || !parts->is_array() || parts->as_array().empty()) return invalid_param("message.parts", "A message needs parts.");
  std::string text;
  for (const auto& p : parts->as_array()) {
    if (!p.is_object()) return invalid_param("message.parts", "Each part is an object.");
    const auto& po = p.as_object();
    std::string piece;
    if (auto* t = po.if_contains("text"); t && t->is_string()) piece = std::string(t->as_string());
    else if (auto* d = po.if_contains("data")) piece = json::serialize(*d);
    else if (auto* u = po.if_contains("url"); u && u->is_string()) piece = std::string(u->as_string());
    else return Status(Code::failed_precondition, "Only text, data and url parts are accepted.");
    text += (text.empty() ? "" : "\n") + piece;
  }
  return text;
}

// The Response object of task `id`, if it is this agent's.
awaitable<Result<json::object>> find_task(A2aCtx& c, const identity::Principal& who, const std::string& agent, std::string id) {
  Scope scope = who.scope();
  auto r = co_await c.rt.get_response(scope, id);
  if (!r.ok()) co_return Status(Code::not_found, "Task " + id + " not found.");
  boost::system::error_code ec;
  auto v = json::parse(*r, ec);
  if (ec || !v.is_object()) co_return Status(Code::not_found, "Task " + id + " not found.");
  auto* a = v.as_object().if_contains("agent");
  if (!a || !a->is_object() || a->as_object().at("name") != json::value(agent)) co_return Status(Code::not_found, "Task " + id + " not found.");
  co_return std::move(v.as_object());
}

json::object snapshot_of(runtime::Run& run) {
  boost::system::error_code ec;
  auto v = json::parse(run.snapshot(), ec);
  return !ec && v.is_object() ? std::move(v.as_object()) : json::object{};
}

// Streams a task's events as SSE, each a JSON-RPC response to request `id`: the task first,
// then status and artifact updates, until the task is terminal (or the client leaves).
awaitable<Response> stream_task(std::shared_ptr<runtime::Run> run, json::value id, Stream& stream) {
  Response res;
  res.streamed = true;
  std::vector<std::pair<std::string, std::string>> headers;
  bool started = co_await stream.start_sse(200, std::move(headers));
  if (!started) co_return res;
  auto send = [&](json::object result) -> std::string {
    return "data: " + json::serialize(json::object{{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(result)}}) + "\n\n";
  };
  json::object first = snapshot_of(*run);
  std::string task_id(first.at("id").as_string()), ctx = context_of(first);
  std::string frame = send(json::object{{"task", task_json(first)}});
  bool written = co_await stream.write(std::move(frame));
  if (!written) co_return res;
  bool announced_working = false, artifact_started = false;
  int64_t after = -1;
  for (;;) {
    bool done = false;
    auto evs = run->events_after(after, &done);
    after += static_cast<int64_t>(evs.size());
    std::string batch;
    for (const auto& e : evs) {
      boost::system::error_code ec;
      auto ev = json::parse(e, ec);
      if (ec || !ev.is_object()) continue;
      const auto& eo = ev.as_object();
      std::string type(eo.at("type").as_string());
      if (!announced_working && (type == "response.in_progress" || type == "response.output_text.delta")) {
        announced_working = true;
        batch += send(json::object{{"statusUpdate", json::object{{"taskId", task_id}, {"contextId", ctx},
                                                                  {"status", json::object{{"state", "TASK_STATE_WORKING"}}}}}});
      }
      if (type == "response.output_text.delta") {
        json::object art{{"artifactId", task_id + "-answer"}, {"name", "answer"}, {"parts", json::array{json::object{{"text", eo.at("delta")}}}}};
        batch += send(json::object{{"artifactUpdate", json::object{{"taskId", task_id}, {"contextId", ctx}, {"artifact", std::move(art)},
                                                                    {"append", artifact_started}, {"lastChunk", false}}}});
        artifact_started = true;
      }
    }
    if (done) {
      co_await run->wait_done();
      json::object last = task_json(snapshot_of(*run));
      batch += send(json::object{{"statusUpdate", json::object{{"taskId", task_id}, {"contextId", ctx}, {"status", last.at("status")}}}});
      co_await stream.write(std::move(batch));
      co_await stream.finish();
      co_return res;
    }
    if (!batch.empty()) {
      bool ok = co_await stream.write(std::move(batch));
      if (!ok) co_return res;
    }
    co_await run->wait(after, kKeepalive);
  }
}

awaitable<Response> handle(A2aCtx& c, Request& req, Stream& stream) {
  const std::string name = req.params["name"];
  auto who = co_await authorize(req, c.auth, identity::kResponses);
  if (!who.ok()) co_return error_response(who.status());
  if (!c.agents.resolve(who->project_id, name).ok())
    co_return error_response(Status(Code::not_found, "No agent named '" + name + "' exists in this project."));
  auto body = wire::parse(req.body);
  if (!body.ok() || !body->is_object()) co_return rpc_error(nullptr, -32700, "Parse error: the body is not a JSON-RPC object.");
  const auto& o = body->as_object();
  json::value id = o.contains("id") ? o.at("id") : json::value(nullptr);
  auto* method = o.if_contains("method");
  if (!method || !method->is_string()) co_return rpc_error(id, -32600, "Invalid request: no method.");
  std::string m(method->as_string());
  std::string version(req.header("a2a-version").value_or(req.query_param("A2A-Version").value_or("")));
  if (!version.empty() && version != "1.0")
    co_return rpc_error(id, kVersionNotSupported, "A2A version " + version.substr(0, 16) + " is not supported; this server speaks 1.0.");
  if (m.find('/') != std::string::npos)
    co_return rpc_error(id, kVersionNotSupported, "'" + m.substr(0, 64) + "' is an A2A 0.3 method; this server speaks 1.0 (SendMessage, ...).");
  json::object params;
  if (auto* p = o.if_contains("params"); p && p->is_object()) params = p->as_object();
  auto task_id = [&]() -> std::string {
    auto* v = params.if_contains("id");
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
  };

  if (m == "SendMessage" || m == "SendStreamingMessage") {
    auto* msg = params.if_contains("message");
    if (!msg || !msg->is_object()) co_return rpc_error(id, -32602, "Invalid params: 'message' is required.");
    const auto& mo = msg->as_object();
    if (auto* t = mo.if_contains("taskId"); t && t->is_string()) {
      std::string prior_id(t->as_string());
      auto prior = co_await find_task(c, *who, name, prior_id);
      if (!prior.ok()) co_return rpc_error(id, kTaskNotFound, prior.status().message());
      co_return rpc_error(id, kUnsupported, "Task " + std::string(t->as_string()) + " has ended; send a new message in its context.");
    }
    auto text = message_text(mo);
    if (!text.ok())
      co_return rpc_error(id, text.status().code() == Code::failed_precondition ? kContentType : -32602, text.status().message());
    std::string context;
    if (auto* cx = mo.if_contains("contextId"); cx && cx->is_string() && !cx->as_string().empty()) {
      context = std::string(cx->as_string());
    } else {
      std::vector<Item> none;
      Scope scope = who->scope();
      std::string metadata = "{}";
      auto conv = co_await c.rt.create_conversation(scope, metadata, std::move(none));
      if (!conv.ok()) co_return rpc_error(id, -32603, conv.status().message());
      boost::system::error_code ec;
      auto cv = json::parse(*conv, ec);
      context = std::string(cv.as_object().at("id").as_string());
    }
    bool streaming = m == "SendStreamingMessage";
    bool immediately = false;
    if (auto* cfg = params.if_contains("configuration"); cfg && cfg->is_object())
      if (auto* ri = cfg->as_object().if_contains("returnImmediately"); ri && ri->is_bool()) immediately = ri->as_bool();
    json::value turn_body = json::object{{"model", "agent:" + name}, {"input", *text}, {"conversation", context},
                                         {"background", immediately && !streaming}, {"stream", streaming}};
    TurnServices ts{c.rt, c.auth, &c.agents};
    auto turn = co_await start_turn(ts, req, *who, std::move(turn_body));
    if (!turn.ok()) {
      int code = turn.status().code() == Code::not_found ? kTaskNotFound : -32602;
      co_return rpc_error(id, code, turn.status().message());
    }
    if (streaming) co_return co_await stream_task(turn->run, id, stream);
    if (!immediately) co_await turn->run->wait_done();
    co_return rpc_result(id, json::object{{"task", task_json(snapshot_of(*turn->run))}});
  }
  const std::string tid = task_id();
  Scope scope = who->scope();
  if (m == "GetTask") {
    auto r = co_await find_task(c, *who, name, tid);
    if (!r.ok()) co_return rpc_error(id, kTaskNotFound, r.status().message());
    co_return rpc_result(id, task_json(*r));
  }
  if (m == "CancelTask") {
    auto r = co_await find_task(c, *who, name, tid);
    if (!r.ok()) co_return rpc_error(id, kTaskNotFound, r.status().message());
    if (terminal(task_state(*r))) co_return rpc_error(id, kTaskNotCancelable, "Task " + tid + " has already ended.");
    auto cancelled = co_await c.rt.cancel(scope, tid);
    if (!cancelled.ok()) co_return rpc_error(id, kTaskNotCancelable, cancelled.status().message());
    boost::system::error_code ec;
    auto v = json::parse(*cancelled, ec);
    co_return rpc_result(id, !ec && v.is_object() ? task_json(v.as_object()) : task_json(*r));
  }
  if (m == "SubscribeToTask") {
    auto r = co_await find_task(c, *who, name, tid);
    if (!r.ok()) co_return rpc_error(id, kTaskNotFound, r.status().message());
    if (terminal(task_state(*r))) co_return rpc_error(id, kUnsupported, "Task " + tid + " has already ended.");
    auto run = co_await c.rt.stream_source(scope, tid);
    if (!run.ok()) co_return rpc_error(id, kTaskNotFound, run.status().message());
    co_return co_await stream_task(*run, id, stream);
  }
  if (m == "ListTasks" || m.find("PushNotificationConfig") != std::string::npos || m == "GetExtendedAgentCard")
    co_return rpc_error(id, kUnsupported, m + " is not supported by this server.");
  co_return rpc_error(id, -32601, "Method not found: '" + m.substr(0, 64) + "'.");
}

}  // namespace

void install_a2a(http::Router& router, runtime::Runtime& rt, fleet::AgentRegistry& agents, identity::Authenticator& auth) {
  auto c = std::make_shared<A2aCtx>(A2aCtx{rt, auth, agents});
  router.add("GET", "/a2a/{name}/.well-known/agent-card.json", [c](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, c->auth, identity::kResponses);
    if (!who.ok()) co_return error_response(who.status());
    auto v = c->agents.resolve(who->project_id, req.params["name"]);
    if (!v.ok()) co_return error_response(Status(Code::not_found, "No agent named '" + req.params["name"] + "' exists in this project."));
    Response r = Response::json(200, json::serialize(card_json(**v, base_url(req, req.params["name"]))));
    r.headers.emplace_back("Cache-Control", "max-age=60");
    r.headers.emplace_back("ETag", "\"" + (*v)->name + "-" + std::to_string((*v)->version) + "\"");
    co_return r;
  });
  router.add("POST", "/a2a/{name}", [c](Request& req, Stream& s) { return handle(*c, req, s); });
}

}  // namespace cn::api
