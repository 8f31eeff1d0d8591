// Tool server routes (/v1/tool_servers): register, list, read and remove a project's MCP
// servers, named in requests by label. Administrators only (scope admin). Registration holds no
// secret: credentials live in the vault and are fetched when a call runs.
#include <boost/asio.hpp>

#include "api/route_prelude.hpp"
#include "tools/servers.hpp"
#include "wire/json.hpp"

namespace cn::api {

void install_tool_servers(http::Router& router, tools::ToolServers& servers, identity::Authenticator& auth) {
  struct Ctx {
    tools::ToolServers& servers;
    identity::Authenticator& auth;
  };
  auto c = std::make_shared<Ctx>(Ctx{servers, auth});

  router.add("POST", "/v1/tool_servers", [c](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, c->auth, identity::kAdmin);
    if (!who.ok()) co_return error_response(who.status());
    auto body = object_body(req);
    if (!body.ok()) co_return error_response(body.status());
    std::string project = who->project_id;
    auto r = co_await c->servers.put(project, *body);
    if (!r.ok()) co_return error_response(r.status());
    co_await audited(c->auth, *who, "tool_server.put", r->label);
    co_return Response::json(200, json::serialize(tools::tool_server_json(*r)));
  });

  router.add("GET", "/v1/tool_servers", [c](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, c->auth, identity::kAdmin);
    if (!who.ok()) co_return error_response(who.status());
    json::array data;
    for (const auto& s : c->servers.list(who->project_id)) data.push_back(tools::tool_server_json(s));
    co_return list_response(std::move(data));
  });

  router.add("GET", "/v1/tool_servers/{label}", [c](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, c->auth, identity::kAdmin);
    if (!who.ok()) co_return error_response(who.status());
    auto s = c->servers.get(who->project_id, req.params["label"]);
    if (!s) co_return error_response(Status(Code::not_found, "Tool server '" + req.params["label"] + "' not found."));
    co_return Response::json(200, json::serialize(tools::tool_server_json(*s)));
  });

  router.add("DELETE", "/v1/tool_servers/{label}", [c](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, c->auth, identity::kAdmin);
    if (!who.ok()) co_return error_response(who.status());
    std::string project = who->project_id, label = req.params["label"];
    Status st = co_await c->servers.remove(project, label);
    if (!st.ok()) co_return error_response(st);
    co_await audited(c->auth, *who, "tool_server.delete", label);
    co_return Response::json(200, json::serialize(json::object{{"object", "tool_server.deleted"}, {"label", label}, {"deleted", true}}));
  });
}

}  // namespace cn::api
