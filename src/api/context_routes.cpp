// The routes that work on a turn's context without running the turn. Their body is a POST
// /v1/responses body, prepared as a turn's would be (agent, end user, references):
// - POST /v1/responses/input_tokens: what the context would cost, counted exactly as the turn
//   would assemble it (history, instructions, tool definitions, memory block, new input, after
//   truncation), calling no model. The model picks the encoding (o200k_base when it names none);
//   the `x-continuum-token-count-method` header names the method ("o200k_base", "cl100k_base"
//   or "estimate").
// - POST /v1/responses/compact: the context summarized into one sealed compaction item, after
//   its user messages (runtime/compaction.cpp); stateless, nothing is stored.
#include "api/route_prelude.hpp"
#include "wire/json.hpp"

namespace cn::api {

namespace {

// The turn parameters of a context route's body.
awaitable<Result<runtime::CreateParams>> context_params(runtime::Runtime& rt, identity::Authenticator& auth, fleet::AgentRegistry* agents,
                                                        Request& req, const char* default_model) {
  auto who = co_await authorize(req, auth, identity::kResponses);
  if (!who.ok()) co_return who.status();
  auto body = object_body(req);
  if (!body.ok()) co_return body.status();
  if (auto* m = wire::field(*body, "model"); (!m || m->is_null()) && default_model) (*body)["model"] = default_model;
  // Nothing is run: stream and background do not apply.
  body->erase("stream");
  body->erase("background");
  TurnServices ts{rt, auth, agents};
  auto params = co_await prepare_turn(ts, req, std::move(*who), json::value(std::move(*body)), true);
  co_return params;
}

}  // namespace

void install_context_routes(http::Router& router, runtime::Runtime& rt, identity::Authenticator& auth,
                            fleet::AgentRegistry* agents) {
  router.add("POST", "/v1/responses/input_tokens", [&rt, &auth, agents](Request& req, Stream&) -> awaitable<Response> {
    // Counting needs no model call: a body without a model counts in OpenAI's current encoding.
    auto params = co_await context_params(rt, auth, agents, req, "gpt-4o");
    if (!params.ok()) co_return error_response(params.status());
    auto counted = co_await rt.count_input(std::move(*params));
    if (!counted.ok()) co_return error_response(counted.status());
    auto res = Response::json(200, json::serialize(json::object{{"object", "response.input_tokens"}, {"input_tokens", counted->tokens}}));
    res.headers.emplace_back("x-continuum-token-count-method", counted->method);
    co_return res;
  });

  router.add("POST", "/v1/responses/compact", [&rt, &auth, agents](Request& req, Stream&) -> awaitable<Response> {
    auto params = co_await context_params(rt, auth, agents, req, nullptr);
    if (!params.ok()) co_return error_response(params.status());
    auto compacted = co_await rt.compact(std::move(*params));
    if (!compacted.ok()) co_return error_response(compacted.status());
    co_return Response::json(200, std::move(*compacted));
  });
}

}  // namespace cn::api
