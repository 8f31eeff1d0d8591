// Steering over HTTP, for clients without a WebSocket (the socket's response.steer takes the
// same path, Runtime::steer):
// - POST /v1/responses/{id}/steer {"input": ...}: queues user messages for the running response
//   `id`. 200 with the submission (status "queued") once it is durable; the response then ends
//   at its next safe boundary (or completes) and a successor starts with the input. Refusals are
//   OpenAI-shaped errors whose code is the steering code (response_not_found 404,
//   response_already_completed / response_not_active 409, too_many_pending_steers 409,
//   invalid_input / steering_not_supported 400). On many nodes the input may reach any node; the
//   run's node answers, and 503 says it did not within a few seconds (send the input again).
// - GET /v1/responses/{id}/steers/{steer_id}: the submission's outcome: queued, committed (with
//   successor_response_id), or failed (with its error and its input, to send again).
#include "api/route_prelude.hpp"
#include "base/ids.hpp"
#include "wire/items.hpp"
#include "wire/json.hpp"

namespace cn::api {

namespace {

Status bad_input(std::string param, std::string message) {
  return Status(Code::invalid_argument, std::move(message), std::move(param), runtime::steer_code::invalid_input);
}

}  // namespace

Result<SteerBody> parse_steer_input(const json::value* input, const std::string& param) {
  if (!input || input->is_null()) return bad_input(param, "Missing required parameter: '" + param + "'.");
  if (input->is_string()) {
    if (input->as_string().empty()) return bad_input(param, "Invalid '" + param + "': expected a non-empty string.");
  } else if (input->is_array()) {
    const auto& a = input->as_array();
    if (a.empty()) return bad_input(param, "Invalid '" + param + "': expected a non-empty array of user messages.");
    for (size_t i = 0; i < a.size(); ++i) {
      std::string at = param + "[" + std::to_string(i) + "]";
      if (!a[i].is_object()) return bad_input(at, "Invalid '" + at + "': expected a user message object.");
      const auto& m = a[i].as_object();
      for (const auto& [k, v] : m)
        if (k != "type" && k != "role" && k != "content" && k != "id" && k != "status")
          return bad_input(at + "." + std::string(k), "Steering input accepts only 'type', 'role' and 'content' in a message; got '" +
                                                          std::string(k) + "'.");
      if (auto* t = m.if_contains("type"); t && !(t->is_string() && t->as_string() == "message"))
        return bad_input(at + ".type", "Steering input accepts only messages ('type': 'message'); tool outputs and other items are not steering input.");
      auto* role = m.if_contains("role");
      if (!role || !role->is_string() || role->as_string() != "user")
        return bad_input(at + ".role", "Steering input accepts only messages with the 'user' role.");
    }
  } else {
    return bad_input(param, "Invalid '" + param + "': expected a string or an array of user messages.");
  }
  auto items = wire::parse_input(*input, param);
  if (!items.ok()) return bad_input(items.status().param(), items.status().message());
  SteerBody out;
  std::string wires = "[";
  for (auto& it : *items) {
    if (it.type != ItemType::message || it.role != "user")
      return bad_input(param, "Steering input accepts only user messages.");
    it.id = new_id(wire::id_prefix(it.type));
    wire::finalize_wire(it);
    if (wires.size() > 1) wires += ',';
    wires += it.wire;
  }
  out.json = wires + "]";
  out.items = std::move(*items);
  return out;
}

void install_steering(http::Router& router, runtime::Runtime& rt, identity::Authenticator& auth) {
  router.add("POST", "/v1/responses/{id}/steer", [&rt, &auth](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, auth, identity::kResponses);
    if (!who.ok()) co_return error_response(who.status());
    auto body = object_body(req);
    if (!body.ok()) co_return error_response(body.status());
    for (const auto& [k, v] : *body)
      if (k != "input")
        co_return error_response(invalid_param(std::string(k), "Unknown parameter: '" + std::string(k) + "'. A steering request takes only 'input'.",
                                               "unknown_parameter"));
    auto input = parse_steer_input(body->if_contains("input"), "input");
    if (!input.ok()) co_return error_response(input.status());
    Scope scope = who->scope();
    std::string id = req.params["id"];
    auto ack = co_await rt.steer(scope, id, std::move(input->items), input->json);
    if (!ack.ok()) co_return error_response(ack.status());
    auto out = co_await rt.get_steer(scope, id, ack->id);
    if (!out.ok()) co_return error_response(out.status());
    co_return Response::json(200, std::move(*out));
  });

  router.add("GET", "/v1/responses/{id}/steers/{steer_id}", [&rt, &auth](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, auth, identity::kResponses);
    if (!who.ok()) co_return error_response(who.status());
    Scope scope = who->scope();
    auto out = co_await rt.get_steer(scope, req.params["id"], req.params["steer_id"]);
    if (!out.ok()) co_return error_response(out.status());
    co_return Response::json(200, std::move(*out));
  });
}

}  // namespace cn::api
