// WebSocket mode on /v1/responses: the upgrade authenticates exactly as an HTTP request does,
// then the socket carries many turns. Client events:
// - response.create: the fields of POST /v1/responses (stream is implicit; background is
//   refused with an error event), plus `stream_id`, which names a lane. Each create runs on its
//   own lane: lanes never wait for each other, and every event of a lane carries its stream_id.
//   Turns take the same path as HTTP ones (start_turn), so the concurrency rules, quotas and
//   limits are the same.
// - response.steer: queues user messages for a response running on this connection
//   (Runtime::steer). Its lane then carries response.steer.accepted (one of the response's
//   events), the response's end (incomplete with reason "steered", or completed), and the
//   successor the runtime starts with the input, or response.steer.pending / .failed after the
//   terminal event. A refused submission gets response.steer.failed at once.
// Server events are the SSE events, same names and sequence numbers. A bad event gets an
// `error` event and the socket stays usable. A lane whose events the client does not read is
// cut alone (ServerOptions::ws_max_lane_bytes) with an `error` event (code "lane_cut") naming
// the response and the last sequence number sent; a client that reads nothing at all loses the
// socket (ws_max_queued_bytes, close code 1008). What ran is stored either way, and can be read
// over HTTP or resumed by sequence number (GET /v1/responses/{id}?stream=true&starting_after=N).
#include <deque>
#include <unordered_map>

#include "api/route_prelude.hpp"
#include "wire/json.hpp"

namespace cn::api {

namespace {

using Sent = http::WebSocket::Sent;

// A socket's lanes in flight; the socket's handler returns only once they have all ended.
struct Lanes {
  int live = 0;
  std::unique_ptr<net::steady_timer> ended;  // cancelled when a lane ends
  uint32_t last_lane = 0;
  // Responses run on this connection and their stream_id: the ones response.steer may name
  // (the most recent kRemembered).
  static constexpr size_t kRemembered = 256;
  std::unordered_map<std::string, std::string> responses;
  std::deque<std::string> order;
  void remember(const std::string& id, const std::string& stream_id) {
    if (!responses.emplace(id, stream_id).second) return;
    order.push_back(id);
    if (order.size() > kRemembered) {
      responses.erase(order.front());
      order.pop_front();
    }
  }
};

std::string error_event(std::string_view code, std::string_view message, std::string_view param, const std::string& stream_id) {
  json::object e{{"type", "error"}, {"code", code}, {"message", message}, {"param", param.empty() ? json::value(nullptr) : json::value(param)},
                 {"sequence_number", 0}};
  if (!stream_id.empty()) e["stream_id"] = stream_id;
  return json::serialize(e);
}

std::string error_event(const Status& st, const std::string& stream_id) {
  std::string code = st.api_code().empty() ? "invalid_request_error" : st.api_code();
  return error_event(code, st.message(), st.param(), stream_id);
}

// An event of the run with the lane's stream_id added (events are JSON objects).
std::string on_lane(const std::string& event, const std::string& stream_id) {
  if (stream_id.empty() || event.size() < 2 || event.back() != '}') return event;
  std::string out = event.substr(0, event.size() - 1);
  out += ",\"stream_id\":";
  out += json::serialize(json::value(stream_id));
  out += '}';
  return out;
}

std::string steer_failed(std::string_view code, std::string_view message, const json::value& input, const std::string& previous,
                         const std::string& stream_id) {
  json::object e{{"type", "response.steer.failed"},
                 {"sequence_number", 0},
                 {"error", json::object{{"code", code}, {"message", message}, {"type", "invalid_request_error"}}},
                 {"steer", json::object{{"input", input}, {"previous_response_id", previous}}}};
  if (!stream_id.empty()) e["stream_id"] = stream_id;
  return json::serialize(e);
}

// Sends one run's events on the lane until the run ends and its steering input is settled.
// false: the lane is over (the socket closed, or the lane was cut); otherwise `next` is the
// successor the lane follows next (null: none).
awaitable<bool> follow(std::shared_ptr<runtime::Run> run, http::WebSocket* ws, uint32_t lane, const std::string& stream_id,
                       std::chrono::milliseconds keepalive, std::shared_ptr<runtime::Run>* next) {
  int64_t after = -1;
  for (;;) {
    bool done = false;
    auto events = run->events_after(after, &done);
    for (const auto& e : events) {
      std::string m = on_lane(e, stream_id);
      Sent sent = co_await ws->send(std::move(m), lane);
      if (sent == Sent::closed) co_return false;
      if (sent == Sent::lane_full) {
        json::object cut{{"type", "error"}, {"code", "lane_cut"},
                         {"message", "This lane's events were not read fast enough, so the lane was cut. The response goes on and is "
                                     "stored: read it with GET /v1/responses/" + run->id() +
                                     " or resume its events with ?stream=true&starting_after=" + std::to_string(after) + "."},
                         {"param", nullptr}, {"sequence_number", 0}, {"response_id", run->id()}, {"last_sequence_number", after}};
        if (!stream_id.empty()) cut["stream_id"] = stream_id;
        std::string last = json::serialize(cut);
        co_await ws->send(std::move(last), lane, true);
        co_return false;
      }
      ++after;
    }
    if (done) break;
    co_await run->wait(after, keepalive);
    if (!ws->is_open()) co_return false;
  }
  std::vector<std::string> notices;
  while (!run->settled(&notices, next)) {
    co_await run->wait(after, keepalive);
    if (!ws->is_open()) co_return false;
  }
  for (const auto& n : notices) {
    std::string m = on_lane(n, stream_id);
    Sent sent = co_await ws->send(std::move(m), lane, true);
    if (sent == Sent::closed) co_return false;
  }
  co_return true;
}

// One lane: starts the turn, then sends its events (and its successors') until it ends, the
// lane is cut or the socket closes.
awaitable<void> run_lane(TurnServices ts, Request& req, identity::Principal who, json::value body, std::string stream_id,
                         http::WebSocket* ws, std::shared_ptr<Lanes> lanes, std::chrono::milliseconds keepalive) {
  uint32_t lane = ++lanes->last_lane;
  auto turn = co_await start_turn(ts, req, std::move(who), std::move(body));
  if (!turn.ok()) {
    std::string err = error_event(turn.status(), stream_id);
    co_await ws->send(std::move(err), lane, true);
  } else {
    std::shared_ptr<runtime::Run> run = turn->run;
    while (run) {
      lanes->remember(run->id(), stream_id);
      std::shared_ptr<runtime::Run> next;
      bool more = co_await follow(run, ws, lane, stream_id, keepalive, &next);
      if (!more) break;
      run = std::move(next);
    }
  }
  --lanes->live;
  lanes->ended->cancel();
}

// response.steer: only `type`, `previous_response_id` and `input`; the target's lane is used.
awaitable<void> on_steer(TurnServices ts, const identity::Principal& who, json::object o, http::WebSocket* ws,
                         std::shared_ptr<Lanes> lanes) {
  json::value input = o.contains("input") ? o.at("input") : json::value(nullptr);
  std::string previous;
  if (auto* p = o.if_contains("previous_response_id"); p && p->is_string()) previous = std::string(p->as_string());
  auto it = lanes->responses.find(previous);
  std::string stream_id = it == lanes->responses.end() ? std::string() : it->second;
  for (const auto& [k, v] : o) {
    if (k != "type" && k != "previous_response_id" && k != "input") {
      std::string err = steer_failed(runtime::steer_code::invalid_input,
                                     "response.steer accepts only 'type', 'previous_response_id' and 'input' (got '" + std::string(k) +
                                         "'); the target response's lane carries its events.",
                                     input, previous, stream_id);
      co_await ws->send(std::move(err));
      co_return;
    }
  }
  if (previous.empty()) {
    std::string err = steer_failed(runtime::steer_code::invalid_input, "Missing required parameter: 'previous_response_id' (a string).",
                                   input, previous, stream_id);
    co_await ws->send(std::move(err));
    co_return;
  }
  auto body = parse_steer_input(o.if_contains("input"), "input");
  if (!body.ok()) {
    std::string err = steer_failed(runtime::steer_code::invalid_input, body.status().message(), input, previous, stream_id);
    co_await ws->send(std::move(err));
    co_return;
  }
  if (it == lanes->responses.end()) {
    std::string err = steer_failed(runtime::steer_code::not_found, "Response '" + previous + "' is not running on this connection.",
                                   input, previous, stream_id);
    co_await ws->send(std::move(err));
    co_return;
  }
  Scope scope = who.scope();
  auto ack = co_await ts.rt.steer(scope, previous, std::move(body->items), body->json);
  if (!ack.ok()) {
    std::string code = ack.status().api_code().empty() ? "invalid_input" : ack.status().api_code();
    std::string err = steer_failed(code, ack.status().message(), input, previous, stream_id);
    co_await ws->send(std::move(err));
  }
  // Accepted: response.steer.accepted is one of the response's events, sent on its lane.
}

// What one client event asks for.
awaitable<void> on_event(TurnServices ts, Request& req, const identity::Principal& who, std::string text, http::WebSocket* ws,
                         std::shared_ptr<Lanes> lanes, std::chrono::milliseconds keepalive) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) {
    std::string err = error_event("invalid_json", "The event is not a JSON object.", "", "");
    co_await ws->send(std::move(err));
    co_return;
  }
  auto& o = v.as_object();
  std::string stream_id;
  if (auto* sid = o.if_contains("stream_id"); sid && !sid->is_null()) {
    if (!sid->is_string() || sid->as_string().empty() || sid->as_string().size() > 256) {
      std::string err = error_event("invalid_type", "Invalid 'stream_id': expected a string of 1 to 256 characters.", "stream_id", "");
      co_await ws->send(std::move(err));
      co_return;
    }
    stream_id = std::string(sid->as_string());
  }
  auto type = wire::string_field(o, "type").value_or("");
  if (type == "response.create") {
    o.erase("type");
    o.erase("stream_id");
    if (auto* bg = o.if_contains("background"); bg && bg->is_bool() && bg->as_bool()) {
      std::string err = error_event("unsupported_parameter", "'background' is not supported over a WebSocket; use POST /v1/responses.",
                                    "background", stream_id);
      co_await ws->send(std::move(err));
      co_return;
    }
    o["stream"] = true;
    ++lanes->live;
    auto ex = co_await net::this_coro::executor;
    net::co_spawn(ex, run_lane(ts, req, who, std::move(v), stream_id, ws, lanes, keepalive), net::detached);
    co_return;
  }
  if (type == "response.steer") {
    co_await on_steer(ts, who, std::move(o), ws, lanes);
    co_return;
  }
  std::string err = error_event("invalid_value", "Unknown event type '" + type + "'. Supported: 'response.create', 'response.steer'.",
                                "type", stream_id);
  co_await ws->send(std::move(err));
}

}  // namespace

void install_sockets(http::Router& router, runtime::Runtime& rt, identity::Authenticator& auth, fleet::AgentRegistry* agents,
                     std::chrono::milliseconds keepalive) {
  router.add_upgrade("/v1/responses", [&rt, &auth, agents, keepalive](Request& req, http::Upgrade& up) -> awaitable<Response> {
    auto who = co_await authorize(req, auth, identity::kResponses);
    if (!who.ok()) co_return error_response(who.status());
    http::WebSocket* ws = co_await up.accept();
    if (!ws) co_return Response{};
    auto ex = co_await net::this_coro::executor;
    auto lanes = std::make_shared<Lanes>();
    lanes->ended = std::make_unique<net::steady_timer>(ex);
    TurnServices ts{rt, auth, agents};
    // Lanes look at their socket at least this often while their run is quiet.
    auto check = std::min(keepalive, std::chrono::milliseconds(1000));
    for (;;) {
      auto msg = co_await ws->receive();
      if (!msg) break;
      co_await on_event(ts, req, *who, std::move(*msg), ws, lanes, check);
    }
    // The socket is closed: its lanes see that at their next event (or keep-alive) and end.
    while (lanes->live > 0) {
      lanes->ended->expires_after(std::chrono::milliseconds(200));
      boost::system::error_code ec;
      co_await lanes->ended->async_wait(net::redirect_error(net::use_awaitable, ec));
    }
    co_return Response{};
  });
}

}  // namespace cn::api
