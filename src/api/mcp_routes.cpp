// Continuum as an MCP server (/mcp, Streamable HTTP, protocol 2025-11-25 and earlier): other
// agent frameworks reach Continuum's memory as tools — memory_search and memory_write, the same
// tools a run uses — scoped to the caller's identity (its project; the end user its token is
// for, or the one it names with X-Continuum-User). Stateless: every POST carries one JSON-RPC
// message and gets a JSON answer; no session ids are issued; GET and DELETE answer 405.
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
};

// The scope a tool needs.
identity::ScopeBit scope_of(std::string_view tool) { return tool == "memory_write" ? identity::kMemoryWrite : identity::kMemoryRead; }

awaitable<Response> handle(McpCtx& c, Request& req) {
  auto who = co_await authorize(req, c.auth, 0);
  if (!who.ok()) co_return error_response(who.status());
  if (!who->has(identity::kMemoryRead) && !who->has(identity::kMemoryWrite))
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
    co_return rpc(id, json::object{{"tools", std::move(list)}});
  }
  if (m == "tools/call") {
    auto* name = params.if_contains("name");
    if (!name || !name->is_string()) co_return rpc_error(200, id, -32602, "Invalid params: 'name' must be a string.");
    std::string tool_name(name->as_string());
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

void install_mcp(http::Router& router, memory::Memory& memory, identity::Authenticator& auth) {
  auto c = std::make_shared<McpCtx>(McpCtx{memory, auth, tools::MemoryToolSource(memory)});
  router.add("POST", "/mcp", [c](Request& req, Stream&) { return handle(*c, req); });
  for (const char* m : {"GET", "DELETE"})
    router.add(m, "/mcp", [](Request&, Stream&) -> awaitable<Response> {
      auto r = Response::json(405, R"({"jsonrpc":"2.0","id":null,"error":{"code":-32000,"message":"Method not allowed: this MCP server is stateless (POST only)."}})");
      r.headers.emplace_back("Allow", "POST");
      co_return r;
    });
}

}  // namespace cn::api
