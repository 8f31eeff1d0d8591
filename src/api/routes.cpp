// The OpenAI-compatible routes: /v1/responses (plain, streamed, background) and
// /v1/conversations, each adapting a run or a stored object to the answer the client asked for.
#include <charconv>
#include <boost/asio.hpp>

#include "admission/governor.hpp"
#include "api/route_prelude.hpp"
#include "base/log.hpp"
#include "http/sse.hpp"
#include "wire/items.hpp"

namespace cn::api {

namespace {

struct Ctx {
  runtime::Runtime& rt;
  identity::Authenticator& auth;
  Options opts;
  fleet::AgentRegistry* agents = nullptr;
};

}  // namespace

namespace {

Response ok_json(std::string body) { return Response::json(200, std::move(body)); }

Result<json::value> body_json(const Request& req) {
  if (req.body.empty())
    return Status(Code::invalid_argument, "The request body is empty; expected a JSON object.", "",
                  "invalid_json");
  return wire::parse(req.body);
}

std::string list_json(const std::vector<ItemPtr>& items, bool has_more) {
  std::string out = R"({"object":"list","data":[)";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += ',';
    out += items[i]->wire;
  }
  out += "],\"first_id\":";
  out += items.empty() ? "null" : json::serialize(json::value(items.front()->id));
  out += ",\"last_id\":";
  out += items.empty() ? "null" : json::serialize(json::value(items.back()->id));
  out += ",\"has_more\":";
  out += has_more ? "true" : "false";
  out += '}';
  return out;
}

// The type of a stored event: events are serialized with "type" first.
std::string_view event_type(std::string_view ev) {
  constexpr std::string_view prefix = R"({"type":")";
  if (!ev.starts_with(prefix)) return "message";
  auto end = ev.find('"', prefix.size());
  return ev.substr(prefix.size(), end - prefix.size());
}

// Follows a run's events from `after` to the end, as SSE. The run goes on if the client leaves.
awaitable<Response> stream_run(std::shared_ptr<runtime::Run> run, int64_t after, Stream& stream,
                               std::chrono::milliseconds keepalive) {
  Response res;
  res.streamed = true;
  std::vector<std::pair<std::string, std::string>> no_headers;
  bool started = co_await stream.start_sse(200, std::move(no_headers));
  if (!started) co_return res;
  for (;;) {
    bool done = false;
    auto evs = run->events_after(after, &done);
    std::string batch;
    for (const auto& e : evs) batch += http::sse_frame(event_type(e), e);
    after += static_cast<int64_t>(evs.size());
    if (!batch.empty()) {
      bool ok = co_await stream.write(std::move(batch));
      if (!ok) co_return res;
    }
    if (done) {
      // Anything published between the read and the done flag was returned with it.
      co_await stream.finish();
      co_return res;
    }
    auto before = std::chrono::steady_clock::now();
    co_await run->wait(after, keepalive);
    bool dummy;
    if (run->events_after(after, &dummy).empty() && !dummy &&
        std::chrono::steady_clock::now() - before >= keepalive) {
      std::string ping = ": ping\n\n";
      bool ok = co_await stream.write(std::move(ping));
      if (!ok) co_return res;
    }
  }
}

awaitable<Response> create_response(Ctx& c, Request& req, Stream& stream) {
  auto who = co_await authorize(req, c.auth, identity::kResponses);
  if (!who.ok()) co_return error_response(who.status());
  auto body = body_json(req);
  if (!body.ok()) co_return error_response(body.status());
  TurnServices ts{c.rt, c.auth, c.agents};
  auto turn = co_await start_turn(ts, req, std::move(*who), std::move(*body));
  if (!turn.ok()) co_return error_response(turn.status());
  auto run = turn->run;
  if (turn->stream) co_return co_await stream_run(run, -1, stream, c.opts.keepalive);
  if (turn->background) co_return ok_json(run->snapshot());
  co_await run->wait_done();
  Status failure = run->failure();
  if (!failure.ok()) {
    if (store::is_storage_full(failure)) co_return error_response(failure);
    // The response is stored as failed; the client learns why, and its id, over plain HTTP.
    Status st = failure;
    if (st.code() == Code::unavailable) st.with_http_status(502);
    Status out(st.code(), st.message() + " (response id: " + run->id() + ")", st.param(),
               st.code() == Code::invalid_argument ? "upstream_rejected" : "upstream_error");
    out.with_http_status(http_status_of(st));
    co_return error_response(out);
  }
  co_return ok_json(run->snapshot());
}

awaitable<Response> metrics_route(telemetry::Metrics* m, identity::Authenticator& auth, Request& req) {
  auto who = co_await authorize(req, auth, identity::kAdmin);
  if (!who.ok()) co_return error_response(who.status());
  // The server's metrics span projects (agent names are labels): a global admin key only.
  if (!who->global_admin)
    co_return error_response(Status(Code::permission_denied, "Metrics need a global admin key.", "", "insufficient_scope"));
  Response r;
  r.status = 200;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  r.body = m->scrape();
  co_return r;
}

bool query_true(const Request& req, std::string_view name) {
  auto v = req.query_param(name);
  return v && (*v == "true" || *v == "1");
}

awaitable<Response> get_response(Ctx& c, Request& req, Stream& stream) {
  auto who = co_await authorize(req, c.auth, identity::kResponses);
  if (!who.ok()) co_return error_response(who.status());
  Scope scope = who->scope();
  const auto& id = req.params["id"];
  if (query_true(req, "stream")) {
    int64_t after = -1;
    if (auto s = req.query_param("starting_after")) {
      auto [p, ec] = std::from_chars(s->data(), s->data() + s->size(), after);
      if (ec != std::errc() || p != s->data() + s->size() || after < -1)
        co_return error_response(invalid_param("starting_after", "Invalid 'starting_after': expected a non-negative integer."));
    }
    auto run = co_await c.rt.stream_source(scope, id);
    if (!run.ok()) co_return error_response(run.status());
    co_return co_await stream_run(*run, after, stream, c.opts.keepalive);
  }
  auto r = co_await c.rt.get_response(scope, id);
  if (!r.ok()) co_return error_response(r.status());
  co_return ok_json(std::move(*r));
}

}  // namespace

void install(http::Router& router, Services sv, Options opts) {
  if (auto* m = sv.metrics) {
    // The server reports every routed request: counted and timed by route pattern.
    router.observe([m](std::string_view method, std::string_view pattern, int status, double seconds) {
      m->http_request(method, pattern, status, seconds);
    });
    // Prometheus' scrape: a global admin key as the scraper's bearer token.
    router.add("GET", "/metrics", [m, &auth = sv.auth](Request& req, Stream&) { return metrics_route(m, auth, req); });
  }
  auto c = std::make_shared<Ctx>(Ctx{sv.runtime, sv.auth, opts, sv.agents});
  if (sv.memory) install_memory(router, *sv.memory, sv.auth);
  install_admin(router, sv.keys, sv.tenants, sv.auth);
  if (sv.vault) install_vault(router, *sv.vault, sv.auth);
  if (sv.oauth) install_oauth(router, *sv.oauth, sv.auth);
  if (sv.policies) install_policies(router, *sv.policies, sv.auth);
  if (sv.memory) install_mcp(router, *sv.memory, sv.auth, sv.runtime, sv.agents);
  if (sv.tool_servers) install_tool_servers(router, *sv.tool_servers, sv.auth);
  if (sv.agents) {
    install_agents(router, *sv.agents, sv.auth, sv.evals, sv.online_evals);
    install_agent_transfer(router, *sv.agents, sv.memory, sv.runtime, sv.auth, opts.max_export_bytes);
    install_a2a(router, sv.runtime, *sv.agents, sv.auth);
  }
  if (sv.usage) install_usage(router, *sv.usage, sv.auth);
  install_console(router);
  if (sv.webhooks) install_webhooks(router, *sv.webhooks, sv.auth);
  if (sv.schedules) install_schedules(router, *sv.schedules, sv.auth);
  if (sv.evals) install_evals(router, *sv.evals, sv.auth);

  // Liveness: the process answers. Readiness: it should be sent new traffic (not while it sheds
  // load, is read-only for a full disk, or shuts down); unauthenticated like /healthz, and says
  // nothing but the reason.
  router.add("GET", "/healthz", [](Request&, Stream&) -> awaitable<Response> {
    co_return Response::json(200, R"({"status":"ok"})");
  });
  router.add("GET", "/readyz", [g = opts.governor](Request&, Stream&) -> awaitable<Response> {
    std::string why;
    if (!g || g->ready(&why)) co_return Response::json(200, R"({"status":"ready"})");
    auto r = Response::json(503, json::serialize(json::object{{"status", "not_ready"}, {"reason", why}}));
    r.headers.emplace_back("retry-after", "1");
    co_return r;
  });

  router.add("POST", "/v1/responses", [c](Request& req, Stream& s) { return create_response(*c, req, s); });
  install_context_routes(router, sv.runtime, sv.auth, sv.agents);
  install_sockets(router, sv.runtime, sv.auth, sv.agents, opts.keepalive);
  install_steering(router, sv.runtime, sv.auth);
  router.add("GET", "/v1/responses/{id}", [c](Request& req, Stream& s) { return get_response(*c, req, s); });

  // Listing (a Continuum extension: OpenAI has no list of responses or conversations).
  router.add("GET", "/v1/responses", [c](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, c->auth, identity::kResponses);
    if (!who.ok()) co_return error_response(who.status());
    auto q = parse_list_query(req);
    if (!q.ok()) co_return error_response(q.status());
    std::optional<std::string> status;
    if (auto s = req.query_param("status"); s && !s->empty()) {
      static constexpr std::string_view kStatuses[] = {"queued", "in_progress", "completed", "failed", "incomplete", "cancelled"};
      if (std::find(std::begin(kStatuses), std::end(kStatuses), *s) == std::end(kStatuses))
        co_return error_response(invalid_param("status", "Invalid 'status': expected one of queued, in_progress, completed, failed, incomplete, cancelled.", "invalid_value"));
      status = std::string(*s);
    }
    Scope scope = who->scope();
    auto page = co_await c->rt.list_responses(scope, *q, status);
    if (!page.ok()) co_return error_response(page.status());
    json::array data(page->data.begin(), page->data.end());
    co_return list_response(std::move(data), page->has_more);
  });

  router.add("DELETE", "/v1/responses/{id}", [c](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, c->auth, identity::kResponses);
    if (!who.ok()) co_return error_response(who.status());
    Scope scope = who->scope();
    auto r = co_await c->rt.delete_response(scope, req.params["id"]);
    if (!r.ok()) co_return error_response(r.status());
    co_return ok_json(std::move(*r));
  });

  router.add("POST", "/v1/responses/{id}/cancel", [c](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, c->auth, identity::kResponses);
    if (!who.ok()) co_return error_response(who.status());
    Scope scope = who->scope();
    auto r = co_await c->rt.cancel(scope, req.params["id"]);
    if (!r.ok()) co_return error_response(r.status());
    co_return ok_json(std::move(*r));
  });

  router.add("GET", "/v1/responses/{id}/input_items", [c](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, c->auth, identity::kResponses);
    if (!who.ok()) co_return error_response(who.status());
    Scope scope = who->scope();
    auto q = parse_list_query(req);
    if (!q.ok()) co_return error_response(q.status());
    if (auto b = req.query_param("before"); b && !b->empty())
      co_return error_response(invalid_param("before", "Pagination with 'before' is not supported; use 'after' with 'order'.", "unsupported_parameter"));
    auto page = co_await c->rt.input_items(scope, req.params["id"], *q);
    if (!page.ok()) co_return error_response(page.status());
    co_return ok_json(list_json(page->items, page->has_more));
  });

  // Conversations.
  router.add("POST", "/v1/conversations", [c](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, c->auth, identity::kConversations);
    if (!who.ok()) co_return error_response(who.status());
    Scope scope = who->scope();
    json::value body = json::object();
    if (!req.body.empty()) {
      auto b = wire::parse(req.body);
      if (!b.ok()) co_return error_response(b.status());
      body = std::move(*b);
    }
    if (!body.is_object())
      co_return error_response(invalid_param("body", "Invalid body: expected a JSON object.", "invalid_type"));
    const auto& o = body.as_object();
    std::string metadata = "{}";
    if (auto* m = wire::field(o, "metadata"); m && !m->is_null()) {
      if (Status s = check_metadata(*m, "metadata"); !s.ok()) co_return error_response(s);
      metadata = json::serialize(*m);
    }
    std::vector<Item> items;
    if (auto* it = wire::field(o, "items"); it && !it->is_null()) {
      if (!it->is_array())
        co_return error_response(invalid_param("items", std::string("Invalid type for 'items': expected an array, but got ") + wire::type_name(*it) + " instead.", "invalid_type"));
      if (it->as_array().size() > 20)
        co_return error_response(invalid_param("items", "Invalid 'items': array too long. Expected an array with maximum length 20.", "array_above_max_length"));
      auto r = wire::parse_input(*it, "items");
      if (!r.ok()) co_return error_response(r.status());
      items = std::move(*r);
    }
    auto r = co_await c->rt.create_conversation(scope, std::move(metadata), std::move(items));
    if (!r.ok()) co_return error_response(r.status());
    co_return ok_json(std::move(*r));
  });

  router.add("GET", "/v1/conversations/{id}", [c](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, c->auth, identity::kConversations);
    if (!who.ok()) co_return error_response(who.status());
    Scope scope = who->scope();
    auto r = co_await c->rt.get_conversation(scope, req.params["id"]);
    if (!r.ok()) co_return error_response(r.status());
    co_return ok_json(std::move(*r));
  });

  router.add("POST", "/v1/conversations/{id}", [c](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, c->auth, identity::kConversations);
    if (!who.ok()) co_return error_response(who.status());
    Scope scope = who->scope();
    auto b = body_json(req);
    if (!b.ok()) co_return error_response(b.status());
    if (!b->is_object())
      co_return error_response(invalid_param("body", "Invalid body: expected a JSON object.", "invalid_type"));
    auto* m = wire::field(b->as_object(), "metadata");
    if (!m) co_return error_response(invalid_param("metadata", "Missing required parameter: 'metadata'.", "missing_required_parameter"));
    if (Status s = check_metadata(*m, "metadata"); !s.ok()) co_return error_response(s);
    std::string metadata = m->is_null() ? "{}" : json::serialize(*m);
    auto r = co_await c->rt.update_conversation(scope, req.params["id"], std::move(metadata));
    if (!r.ok()) co_return error_response(r.status());
    co_return ok_json(std::move(*r));
  });

  router.add("DELETE", "/v1/conversations/{id}", [c](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, c->auth, identity::kConversations);
    if (!who.ok()) co_return error_response(who.status());
    Scope scope = who->scope();
    auto r = co_await c->rt.delete_conversation(scope, req.params["id"]);
    if (!r.ok()) co_return error_response(r.status());
    co_return ok_json(std::move(*r));
  });

  router.add("POST", "/v1/conversations/{id}/items", [c](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, c->auth, identity::kConversations);
    if (!who.ok()) co_return error_response(who.status());
    Scope scope = who->scope();
    auto b = body_json(req);
    if (!b.ok()) co_return error_response(b.status());
    if (!b->is_object())
      co_return error_response(invalid_param("body", "Invalid body: expected a JSON object.", "invalid_type"));
    auto* it = wire::field(b->as_object(), "items");
    if (!it) co_return error_response(invalid_param("items", "Missing required parameter: 'items'.", "missing_required_parameter"));
    if (!it->is_array())
      co_return error_response(invalid_param("items", std::string("Invalid type for 'items': expected an array, but got ") + wire::type_name(*it) + " instead.", "invalid_type"));
    if (it->as_array().empty() || it->as_array().size() > 20)
      co_return error_response(invalid_param("items", "Invalid 'items': expected an array of 1 to 20 items.", "invalid_value"));
    auto items = wire::parse_input(*it, "items");
    if (!items.ok()) co_return error_response(items.status());
    auto r = co_await c->rt.add_conversation_items(scope, req.params["id"], std::move(*items));
    if (!r.ok()) co_return error_response(r.status());
    co_return ok_json(list_json(*r, false));
  });

  router.add("GET", "/v1/conversations", [c](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, c->auth, identity::kConversations);
    if (!who.ok()) co_return error_response(who.status());
    auto q = parse_list_query(req);
    if (!q.ok()) co_return error_response(q.status());
    Scope scope = who->scope();
    auto page = co_await c->rt.list_conversations(scope, *q);
    if (!page.ok()) co_return error_response(page.status());
    json::array data(page->data.begin(), page->data.end());
    co_return list_response(std::move(data), page->has_more);
  });

  router.add("GET", "/v1/conversations/{id}/items", [c](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, c->auth, identity::kConversations);
    if (!who.ok()) co_return error_response(who.status());
    Scope scope = who->scope();
    auto q = parse_list_query(req);
    if (!q.ok()) co_return error_response(q.status());
    auto page = co_await c->rt.list_conversation_items(scope, req.params["id"], *q);
    if (!page.ok()) co_return error_response(page.status());
    co_return ok_json(list_json(page->items, page->has_more));
  });

  router.add("GET", "/v1/conversations/{id}/items/{item}", [c](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, c->auth, identity::kConversations);
    if (!who.ok()) co_return error_response(who.status());
    Scope scope = who->scope();
    auto r = co_await c->rt.get_conversation_item(scope, req.params["id"], req.params["item"]);
    if (!r.ok()) co_return error_response(r.status());
    co_return ok_json((*r)->wire);
  });

  router.add("DELETE", "/v1/conversations/{id}/items/{item}", [c](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, c->auth, identity::kConversations);
    if (!who.ok()) co_return error_response(who.status());
    Scope scope = who->scope();
    auto r = co_await c->rt.delete_conversation_item(scope, req.params["id"], req.params["item"]);
    if (!r.ok()) co_return error_response(r.status());
    co_return ok_json(std::move(*r));
  });

  // The route table, for operators and for the isolation suite that probes every route.
  auto table = router.list();
  table.emplace_back("GET", "/v1/admin/routes");
  router.add("GET", "/v1/admin/routes", [c, table](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, c->auth, identity::kAdmin);
    if (!who.ok()) co_return error_response(who.status());
    json::array data;
    for (const auto& [method, pattern] : table) data.push_back(json::object{{"method", method}, {"path", pattern}});
    co_return Response::json(200, json::serialize(json::object{{"object", "list"}, {"data", std::move(data)}}));
  });
}

}  // namespace cn::api
