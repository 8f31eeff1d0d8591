// Continuum as an MCP server (/mcp, Streamable HTTP, protocol 2025-11-25 and earlier): other
// agent frameworks reach Continuum's memory as tools — memory_search and memory_write, the same
// tools a run uses — and the project's agents (run_agent: one turn as an agent, through the
// same path as POST /v1/responses), scoped to the caller's identity (its project; the end user
// its token is for, or the one it names with X-Continuum-User). Stateless: every POST carries
// one JSON-RPC message and gets a JSON answer; no session ids are issued; GET and DELETE answer
// 405.
#include <boost/asio.hpp>

#include "api/route_prelude.hpp"
#include "tools/memory_tools.hpp"
#include "wire/json.hpp"

namespace cn::api {

namespace {

constexpr const char* kVersions[] = {"2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"};

Response rpc(const json::value& id, json::object result) {
  return Response::json(200, json::serialize(json::object{{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(result)}}));
}

Response rpc_error(int http, const json::value& id, int code, std::string message) {
  return Response::json(http, json::serialize(json::object{
                                  {"jsonrpc", "2.0"}, {"id", id}, {"error", json::object{{"code", code}, {"message", message}}}}));
}

struct McpCtx {
  memory::Memory& memory;
  identity::Authenticator& auth;
  tools::MemoryToolSource source;
  runtime::Runtime& rt;
  fleet::AgentRegistry* agents;
};

// run_agent is offered when the project has agents and the caller may create responses.
bool may_run_agents(const McpCtx& c, const identity::Principal& who) {
  return c.agents && who.has(identity::kResponses) && !c.agents->list(who.project_id).empty();
}

json::object run_agent_tool(const McpCtx& c, const identity::Principal& who) {
  json::array names;
  std::string listing;
  for (const auto& a : c.agents->list(who.project_id)) {
    names.push_back(json::value(a.latest->name));
    listing += "\n- " + a.latest->name + (a.latest->def.description.empty() ? "" : ": " + a.latest->def.description);
  }
  json::object props{
      {"agent", json::object{{"type", "string"}, {"enum", std::move(names)}, {"description", "The agent (NAME, NAME@ALIAS or NAME@vN)."}}},
      {"input", json::object{{"type", "string"}, {"description", "What to ask the agent."}}},
      {"conversation", json::object{{"type", "string"}, {"description", "A conversation id (conv_...) to continue."}}},
      {"previous_response_id", json::object{{"type", "string"}, {"description", "A response id (resp_...) to continue from."}}}};
  return json::object{{"name", "run_agent"},
                      {"description", "Runs one turn as one of this project's agents and returns its answer. Agents:" + listing},
                      {"inputSchema", json::object{{"type", "object"}, {"properties", std::move(props)}, {"required", json::array{"agent", "input"}}}},
                      {"annotations", json::object{{"readOnlyHint", false}, {"openWorldHint", true}}}};
}

// One turn as the agent the arguments name; the answer's text, and the response as structured
// content. Failures are tool errors (isError), never protocol errors.
awaitable<json::object> run_agent(McpCtx& c, Request& req, identity::Principal who, json::object args) {
  auto text = [](std::string t, bool error, json::object structured = {}) {
    json::object r{{"content", json::array{json::object{{"type", "text"}, {"text", std::move(t)}}}}, {"isError", error}};
    if (!structured.empty()) r["structuredContent"] = std::move(structured);
    return r;
  };
  auto* agent = args.if_contains("agent");
  auto* input = args.if_contains("input");
  if (!agent || !agent->is_string() || !input || !input->is_string())
    co_return text("run_agent needs 'agent' and 'input' strings.", true);
  json::object body{{"model", "agent:" + std::string(agent->as_string())}, {"input", *input}};
  for (const char* k : {"conversation", "previous_response_id"})
    if (auto* v = args.if_contains(k); v && v->is_string()) body[k] = *v;
  TurnServices ts{c.rt, c.auth, c.agents};
  json::value doc(std::move(body));
  auto turn = co_await start_turn(ts, req, std::move(who), std::move(doc));
  if (!turn.ok()) co_return text(turn.status().message(), true);
  co_await turn->run->wait_done();
  boost::system::error_code ec;
  auto snap = json::parse(turn->run->snapshot(), ec);
  if (ec || !snap.is_object()) co_return text("The agent's answer could not be read.", true);
  const auto& r = snap.as_object();
  std::string answer;
  if (auto* out = r.if_contains("output"); out && out->is_array())
    for (const auto& item : out->as_array())
      if (item.is_object() && item.as_object().contains("content") && item.as_object().at("content").is_array())
        for (const auto& part : item.as_object().at("content").as_array())
          if (part.is_object() && part.as_object().contains("text") && part.as_object().at("text").is_string())
            answer += std::string(part.as_object().at("text").as_string());
  std::string status = r.contains("status") && r.at("status").is_string() ? std::string(r.at("status").as_string()) : "";
  json::object structured{{"response_id", r.at("id")}, {"status", status}, {"output_text", answer},
                          {"agent", r.contains("agent") ? r.at("agent") : json::value(nullptr)}};
  if (status != "completed") {
    std::string why = "The agent's turn ended " + status;
    if (auto* e = r.if_contains("error"); e && e->is_object() && e->as_object().contains("message"))
      why += ": " + std::string(e->as_object().at("message").as_string());
    co_return text(why, true, std::move(structured));
  }
  co_return text(std::move(answer), false, std::move(structured));
}

// The scope a tool needs.
identity::ScopeBit scope_of(std::string_view tool) { return tool == "memory_write" ? identity::kMemoryWrite : identity::kMemoryRead; }

awaitable<Response> handle(McpCtx& c, Request& req) {
  auto who = co_await authorize(req, c.auth, 0);
  if (!who.ok()) co_return error_response(who.status());
  if (!who->has(identity::kMemoryRead) && !who->has(identity::kMemoryWrite) && !may_run_agents(c, *who))
    co_return error_response(Status(Code::permission_denied,
                                    "You have insufficient permissions for this operation. Missing scopes: memory:read.", "",
                                    "insufficient_scope"));
  auto body = wire::parse(req.body);
  if (!body.ok()) co_return rpc_error(400, nullptr, -32700, "Parse error: the body is not JSON.");
  if (!body->is_object()) co_return rpc_error(400, nullptr, -32600, "Invalid request: send one JSON-RPC message per POST.");
  const auto& o = body->as_object();
  auto* method = o.if_contains("method");
  if (!method || !method->is_string()) co_return rpc_error(400, nullptr, -32600, "Invalid request: no method.");
  const json::value* idp = o.if_contains("id");
  if (!idp || idp->is_null()) co_return Response::json(202, "");  // a notification (or a client's response)
  json::value id = *idp;
  json::object params;
  if (auto* p = o.if_contains("params"); p && p->is_object()) params = p->as_object();
  std::string m(method->as_string());

  if (m == "initialize") {
    std::string version = kVersions[0];
    if (auto* v = params.if_contains("protocolVersion"); v && v->is_string())
      for (const char* known : kVersions)
        if (v->as_string() == known) version = known;
    co_return rpc(id, json::object{{"protocolVersion", version},
                                   {"capabilities", json::object{{"tools", json::object{{"listChanged", false}}}}},
                                   {"serverInfo", json::object{{"name", "continuum"}, {"version", "1"}}},
                                   {"instructions", "Long-term memory of the caller's end user: search before answering, write what is worth remembering."}});
  }
  if (m == "ping") co_return rpc(id, json::object{});
  // The caller's tools: the memory tools its scopes allow, acting for its end user.
  tools::ToolSet set;
  tools::ToolRequest treq{"memory", json::object{{"type", "memory"}}, who->project_id, who->user.value_or(""),
                          who->agent.value_or(""), true, ""};
  Status have = c.source.add_tools(treq, set);
  if (m == "tools/list") {
    json::array list;
    for (const char* name : {"memory_search", "memory_write"}) {
      if (!who->has(scope_of(name))) continue;
      auto t = set.find(name);
      if (!t) continue;
      auto d = t->definition();
      json::object tool{{"name", name}, {"description", d.at("description")}, {"inputSchema", d.at("parameters")}};
      tool["annotations"] = json::object{{"readOnlyHint", t->idempotent() && std::string_view(name) == "memory_search"}};
      list.push_back(std::move(tool));
    }
    if (may_run_agents(c, *who)) list.push_back(run_agent_tool(c, *who));
    co_return rpc(id, json::object{{"tools", std::move(list)}});
  }
  if (m == "tools/call") {
    auto* name = params.if_contains("name");
    if (!name || !name->is_string()) co_return rpc_error(200, id, -32602, "Invalid params: 'name' must be a string.");
    std::string tool_name(name->as_string());
    if (tool_name == "run_agent" && may_run_agents(c, *who)) {
      json::object args;
      if (auto* a = params.if_contains("arguments"); a && a->is_object()) args = a->as_object();
      auto result = co_await run_agent(c, req, *who, std::move(args));
      co_return rpc(id, std::move(result));
    }
    if (tool_name != "memory_search" && tool_name != "memory_write")
      co_return rpc_error(200, id, -32602, "Unknown tool: '" + tool_name + "'.");
    auto text_result = [&](std::string text, bool error) {
      return rpc(id, json::object{{"content", json::array{json::object{{"type", "text"}, {"text", std::move(text)}}}},
                                  {"isError", error}});
    };
    if (!who->has(scope_of(tool_name)))
      co_return text_result("This credential may not use " + tool_name + " (missing scope " +
                                (tool_name == "memory_write" ? "memory:write" : "memory:read") + ").", true);
    if (!have.ok()) co_return text_result(have.message(), true);
    json::value args = json::object();
    if (auto* a = params.if_contains("arguments"); a && !a->is_null()) args = *a;
    if (!args.is_object()) co_return rpc_error(200, id, -32602, "Invalid params: 'arguments' must be an object.");
    tools::CallContext ctx;
    ctx.project_id = who->project_id;
    ctx.user_id = who->user.value_or("");
    ctx.agent_id = who->agent.value_or("");
    ctx.credential_id = who->credential_id;
    ctx.cancel = std::make_shared<http::CancelToken>();
    ctx.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    auto tool = set.find(tool_name);
    std::string arguments = json::serialize(args);
    auto out = co_await tool->execute(ctx, arguments);
    json::object result{{"content", json::array{json::object{{"type", "text"}, {"text", out.output}}}}, {"isError", out.error}};
    if (!out.error) {
      boost::system::error_code ec;
      auto structured = json::parse(out.output, ec);
      if (!ec && structured.is_object()) result["structuredContent"] = std::move(structured);
    }
    co_return rpc(id, std::move(result));
  }
  co_return rpc_error(200, id, -32601, "Method not found: '" + m + "'.");
}

}  // namespace

void install_mcp(http::Router& router, memory::Memory& memory, identity::Authenticator& auth, runtime::Runtime& rt,
                 fleet::AgentRegistry* agents) {
  auto c = std::make_shared<McpCtx>(McpCtx{memory, auth, tools::MemoryToolSource(memory), rt, agents});
  router.add("POST", "/mcp", [c](Request& req, Stream&) { return handle(*c, req); });
  for (const char* m : {"GET", "DELETE"})
    router.add(m, "/mcp", [](Request&, Stream&) -> awaitable<Response> {
      auto r = Response::json(405, R"({"jsonrpc":"2.0","id":null,"error":{"code":-32000,"message":"Method not allowed: this MCP server is stateless (POST only)."}})");
      r.headers.emplace_back("Allow", "POST");
      co_return r;
    });
}

}  // namespace cn::api
