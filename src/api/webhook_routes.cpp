// Webhook routes (/v1/webhooks): register a URL told when the project's responses end, list,
// read, delete, and read a webhook's delivery log. Admin scope; every change is audited. The
// signing secret is in the creation's answer only.
#include <boost/asio.hpp>

#include "api/route_prelude.hpp"
#include "webhooks/webhooks.hpp"
#include "wire/json.hpp"

namespace cn::api {

void install_webhooks(http::Router& router, webhooks::Webhooks& hooks, identity::Authenticator& auth) {
  struct Ctx {
    webhooks::Webhooks& hooks;
    identity::Authenticator& auth;
  };
  auto c = std::make_shared<Ctx>(Ctx{hooks, auth});

  router.add("POST", "/v1/webhooks", [c](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, c->auth, identity::kAdmin);
    if (!who.ok()) co_return error_response(who.status());
    auto body = object_body(req);
    if (!body.ok()) co_return error_response(body.status());
    std::string project = who->project_id;
    auto made = co_await c->hooks.create(project, *body);
    if (!made.ok()) co_return error_response(made.status());
    co_await audited(c->auth, *who, "webhook.create", made->first.id);
    json::object o = webhooks::webhook_json(made->first);
    o["secret"] = made->second;
    co_return Response::json(200, json::serialize(o));
  });

  router.add("GET", "/v1/webhooks", [c](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, c->auth, identity::kAdmin);
    if (!who.ok()) co_return error_response(who.status());
    json::array data;
    for (const auto& w : c->hooks.list(who->project_id)) data.push_back(webhooks::webhook_json(w));
    co_return list_response(std::move(data));
  });

  router.add("GET", "/v1/webhooks/{id}", [c](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, c->auth, identity::kAdmin);
    if (!who.ok()) co_return error_response(who.status());
    auto w = c->hooks.get(who->project_id, req.params["id"]);
    if (!w) co_return error_response(Status(Code::not_found, "Webhook '" + req.params["id"] + "' not found."));
    co_return Response::json(200, json::serialize(webhooks::webhook_json(*w)));
  });

  router.add("GET", "/v1/webhooks/{id}/deliveries", [c](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, c->auth, identity::kAdmin);
    if (!who.ok()) co_return error_response(who.status());
    std::string project = who->project_id, id = req.params["id"];
    if (!c->hooks.get(project, id)) co_return error_response(Status(Code::not_found, "Webhook '" + id + "' not found."));
    int limit = 100;
    if (auto l = req.query_param("limit")) {
      limit = std::atoi(std::string(*l).c_str());
      if (limit < 1 || limit > 1000) co_return error_response(invalid_param("limit", "Invalid 'limit': from 1 to 1000."));
    }
    auto rows = co_await c->hooks.deliveries(project, id, limit);
    if (!rows.ok()) co_return error_response(rows.status());
    json::array data;
    for (const auto& d : *rows) data.push_back(webhooks::delivery_json(d));
    co_return list_response(std::move(data));
  });

  router.add("DELETE", "/v1/webhooks/{id}", [c](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, c->auth, identity::kAdmin);
    if (!who.ok()) co_return error_response(who.status());
    std::string project = who->project_id, id = req.params["id"];
    Status st = co_await c->hooks.remove(project, id);
    if (!st.ok()) co_return error_response(st);
    co_await audited(c->auth, *who, "webhook.delete", id);
    co_return Response::json(200, json::serialize(json::object{{"object", "webhook.deleted"}, {"id", id}, {"deleted", true}}));
  });
}

}  // namespace cn::api
