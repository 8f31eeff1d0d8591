// The Evals API (/v1/evals, OpenAI's shapes; evals/evals.hpp): evals, their runs, and the runs'
// output items. The project's objects: a key with the responses scope, not an end user's token
// (an eval reads the project's stored responses). Lists take after, limit (1..100) and order.
#include "api/route_prelude.hpp"
#include "evals/evals.hpp"
#include "wire/json.hpp"

namespace cn::api {

namespace {

struct Ctx {
  evals::Evals& evals;
  identity::Authenticator& auth;
};

// The caller, when it may use evals: the responses scope, and acting for the project.
awaitable<Result<identity::Principal>> evals_caller(Request& req, identity::Authenticator& auth) {
  auto who = co_await authorize(req, auth, identity::kResponses);
  if (!who.ok()) co_return who.status();
  if (who->scope().user)
    co_return Status(Code::permission_denied, "Evals belong to the project: use a project key, not an end user's token or an acting user.");
  co_return who;
}

Result<evals::PageQuery> page_query(const Request& req) {
  evals::PageQuery q;
  if (auto a = req.query_param("after"); a && !a->empty()) q.after = std::string(*a);
  if (auto l = req.query_param("limit"); l && !l->empty()) {
    int n = 0;
    for (char ch : *l) {
      if (ch < '0' || ch > '9' || n > 1000) return invalid_param("limit", "Invalid 'limit': expected an integer from 1 to 100.");
      n = n * 10 + (ch - '0');
    }
    if (n < 1 || n > 100) return invalid_param("limit", "Invalid 'limit': expected an integer from 1 to 100.");
    q.limit = n;
  }
  if (auto o = req.query_param("order"); o && !o->empty()) {
    if (*o != "asc" && *o != "desc") return invalid_param("order", "Invalid 'order': expected 'asc' or 'desc'.");
    q.desc = *o == "desc";
  }
  return q;
}

std::string page_json(evals::Page p) {
  json::object o{{"object", "list"}, {"has_more", p.has_more}};
  o["first_id"] = p.data.empty() ? json::value(nullptr) : p.data.front().as_object().at("id");
  o["last_id"] = p.data.empty() ? json::value(nullptr) : p.data.back().as_object().at("id");
  o["data"] = std::move(p.data);
  return json::serialize(o);
}

Result<std::string> as_text(Result<evals::Page> p) {
  if (!p.ok()) return p.status();
  return page_json(std::move(*p));
}

Result<json::object> body_of(const Request& req) {
  auto body = object_body(req);
  if (!body.ok()) return body.status();
  if (auto* m = body->if_contains("metadata"))
    if (Status s = check_metadata(*m, "metadata"); !s.ok()) return s;
  return body;
}

Result<std::optional<std::string>> status_filter(const Request& req, std::initializer_list<std::string_view> allowed) {
  auto s = req.query_param("status");
  if (!s || s->empty()) return std::optional<std::string>();
  if (std::find(allowed.begin(), allowed.end(), *s) != allowed.end()) return std::optional<std::string>(std::string(*s));
  std::string list;
  for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
  return invalid_param("status", "Invalid 'status': expected one of " + list + ".");
}

// What a route does once its caller may use evals: the answer's JSON, or why not.
using EvalHandler = awaitable<Result<std::string>> (*)(evals::Evals&, const identity::Principal&, Request&);

void add(http::Router& router, const char* method, const char* pattern, std::shared_ptr<Ctx> c, EvalHandler h) {
  router.add(method, pattern, [c, h](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await evals_caller(req, c->auth);
    if (!who.ok()) co_return error_response(who.status());
    auto r = co_await h(c->evals, *who, req);
    if (!r.ok()) co_return error_response(r.status());
    co_return Response::json(200, std::move(*r));
  });
}

awaitable<Result<std::string>> create_eval(evals::Evals& ev, const identity::Principal& who, Request& req) {
  auto body = body_of(req);
  if (!body.ok()) co_return body.status();
  co_return co_await ev.create(who.project_id, std::move(*body));
}

awaitable<Result<std::string>> list_evals(evals::Evals& ev, const identity::Principal& who, Request& req) {
  auto q = page_query(req);
  if (!q.ok()) co_return q.status();
  auto page = co_await ev.list(who.project_id, *q);
  co_return as_text(std::move(page));
}

awaitable<Result<std::string>> get_eval(evals::Evals& ev, const identity::Principal& who, Request& req) {
  co_return co_await ev.get(who.project_id, req.params["id"]);
}

awaitable<Result<std::string>> update_eval(evals::Evals& ev, const identity::Principal& who, Request& req) {
  auto body = body_of(req);
  if (!body.ok()) co_return body.status();
  co_return co_await ev.update(who.project_id, req.params["id"], std::move(*body));
}

awaitable<Result<std::string>> delete_eval(evals::Evals& ev, const identity::Principal& who, Request& req) {
  co_return co_await ev.remove(who.project_id, req.params["id"]);
}

awaitable<Result<std::string>> create_run(evals::Evals& ev, const identity::Principal& who, Request& req) {
  auto body = body_of(req);
  if (!body.ok()) co_return body.status();
  Scope scope = who.scope();
  co_return co_await ev.create_run(scope, req.params["id"], std::move(*body));
}

awaitable<Result<std::string>> list_runs(evals::Evals& ev, const identity::Principal& who, Request& req) {
  auto q = page_query(req);
  if (!q.ok()) co_return q.status();
  auto status = status_filter(req, {"queued", "in_progress", "completed", "canceled", "failed"});
  if (!status.ok()) co_return status.status();
  auto page = co_await ev.list_runs(who.project_id, req.params["id"], *q, *status);
  co_return as_text(std::move(page));
}

awaitable<Result<std::string>> get_run(evals::Evals& ev, const identity::Principal& who, Request& req) {
  co_return co_await ev.get_run(who.project_id, req.params["id"], req.params["run_id"]);
}

awaitable<Result<std::string>> cancel_run(evals::Evals& ev, const identity::Principal& who, Request& req) {
  co_return co_await ev.cancel_run(who.project_id, req.params["id"], req.params["run_id"]);
}

awaitable<Result<std::string>> delete_run(evals::Evals& ev, const identity::Principal& who, Request& req) {
  co_return co_await ev.delete_run(who.project_id, req.params["id"], req.params["run_id"]);
}

awaitable<Result<std::string>> list_items(evals::Evals& ev, const identity::Principal& who, Request& req) {
  auto q = page_query(req);
  if (!q.ok()) co_return q.status();
  auto status = status_filter(req, {"pass", "fail", "error"});
  if (!status.ok()) co_return status.status();
  auto page = co_await ev.list_items(who.project_id, req.params["id"], req.params["run_id"], *q, *status);
  co_return as_text(std::move(page));
}

awaitable<Result<std::string>> get_item(evals::Evals& ev, const identity::Principal& who, Request& req) {
  co_return co_await ev.get_item(who.project_id, req.params["id"], req.params["run_id"], req.params["item_id"]);
}

}  // namespace

void install_evals(http::Router& router, evals::Evals& ev, identity::Authenticator& auth) {
  auto c = std::make_shared<Ctx>(Ctx{ev, auth});
  add(router, "POST", "/v1/evals", c, create_eval);
  add(router, "GET", "/v1/evals", c, list_evals);
  add(router, "GET", "/v1/evals/{id}", c, get_eval);
  add(router, "POST", "/v1/evals/{id}", c, update_eval);
  add(router, "DELETE", "/v1/evals/{id}", c, delete_eval);
  add(router, "POST", "/v1/evals/{id}/runs", c, create_run);
  add(router, "GET", "/v1/evals/{id}/runs", c, list_runs);
  add(router, "GET", "/v1/evals/{id}/runs/{run_id}", c, get_run);
  add(router, "POST", "/v1/evals/{id}/runs/{run_id}/cancel", c, cancel_run);
  add(router, "DELETE", "/v1/evals/{id}/runs/{run_id}", c, delete_run);
  add(router, "GET", "/v1/evals/{id}/runs/{run_id}/output_items", c, list_items);
  add(router, "GET", "/v1/evals/{id}/runs/{run_id}/output_items/{item_id}", c, get_item);
}

}  // namespace cn::api
