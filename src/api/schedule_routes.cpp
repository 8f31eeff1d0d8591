// Schedule routes (/v1/schedules): background turns as an agent on a cron expression or an
// interval; list, read, delete, and run one now. Admin scope; changes are audited.
#include <boost/asio.hpp>

#include "api/route_prelude.hpp"
#include "fleet/schedules.hpp"
#include "wire/json.hpp"

namespace cn::api {

void install_schedules(http::Router& router, fleet::Schedules& schedules, identity::Authenticator& auth) {
  struct Ctx {
    fleet::Schedules& schedules;
    identity::Authenticator& auth;
  };
  auto c = std::make_shared<Ctx>(Ctx{schedules, auth});

  router.add("POST", "/v1/schedules", [c](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, c->auth, identity::kAdmin);
    if (!who.ok()) co_return error_response(who.status());
    auto body = object_body(req);
    if (!body.ok()) co_return error_response(body.status());
    std::string project = who->project_id;
    auto s = co_await c->schedules.create(project, *body);
    if (!s.ok()) co_return error_response(s.status());
    co_await audited(c->auth, *who, "schedule.create", s->id);
    co_return Response::json(200, json::serialize(fleet::schedule_json(*s)));
  });

  router.add("GET", "/v1/schedules", [c](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, c->auth, identity::kAdmin);
    if (!who.ok()) co_return error_response(who.status());
    json::array data;
    for (const auto& s : c->schedules.list(who->project_id)) data.push_back(fleet::schedule_json(s));
    co_return list_response(std::move(data));
  });

  router.add("GET", "/v1/schedules/{id}", [c](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, c->auth, identity::kAdmin);
    if (!who.ok()) co_return error_response(who.status());
    auto s = c->schedules.get(who->project_id, req.params["id"]);
    if (!s) co_return error_response(Status(Code::not_found, "Schedule '" + req.params["id"] + "' not found."));
    co_return Response::json(200, json::serialize(fleet::schedule_json(*s)));
  });

  router.add("POST", "/v1/schedules/{id}/run", [c](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, c->auth, identity::kAdmin);
    if (!who.ok()) co_return error_response(who.status());
    std::string project = who->project_id, id = req.params["id"];
    auto r = co_await c->schedules.run_now(project, id);
    if (!r.ok()) co_return error_response(r.status());
    co_return Response::json(200, json::serialize(json::object{{"object", "schedule.run"}, {"schedule_id", id}, {"response_id", *r}}));
  });

  router.add("DELETE", "/v1/schedules/{id}", [c](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, c->auth, identity::kAdmin);
    if (!who.ok()) co_return error_response(who.status());
    std::string project = who->project_id, id = req.params["id"];
    Status st = co_await c->schedules.remove(project, id);
    if (!st.ok()) co_return error_response(st);
    co_await audited(c->auth, *who, "schedule.delete", id);
    co_return Response::json(200, json::serialize(json::object{{"object", "schedule.deleted"}, {"id", id}, {"deleted", true}}));
  });
}

}  // namespace cn::api
