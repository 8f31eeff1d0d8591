// WebSocket mode on /v1/responses: the upgrade authenticates exactly as an HTTP request does,
// then the socket carries many turns. Client events:
// - response.create: the fields of POST /v1/responses (stream is implicit; background is
//   refused with an error event), plus `stream_id`, which names a lane. Each create runs on its
//   own lane: lanes never wait for each other, and every event of a lane carries its stream_id.
//   Turns take the same path as HTTP ones (start_turn), so the concurrency rules, quotas and
//   limits are the same.
// - response.steer: refused with an error event (steering is not built yet).
// Server events are the SSE events, same names and sequence numbers. A bad event gets an
// `error` event and the socket stays usable. A client that does not read its events is cut
// (ServerOptions::ws_max_queued_bytes): what ran is stored, and can be read over HTTP or resumed
// by sequence number (GET /v1/responses/{id}?stream=true&starting_after=N).
#include "api/route_prelude.hpp"
#include "wire/json.hpp"

namespace cn::api {

namespace {

// A socket's lanes in flight; the socket's handler returns only once they have all ended.
struct Lanes {
  int live = 0;
  std::unique_ptr<net::steady_timer> ended;  // cancelled when a lane ends
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

// One lane: starts the turn, then sends its events until it ends or the socket closes.
awaitable<void> run_lane(TurnServices ts, Request& req, identity::Principal who, json::value body, std::string stream_id,
                         http::WebSocket* ws, std::shared_ptr<Lanes> lanes, std::chrono::milliseconds keepalive) {
  auto turn = co_await start_turn(ts, req, std::move(who), std::move(body));
  if (!turn.ok()) {
    std::string err = error_event(turn.status(), stream_id);
    co_await ws->send(std::move(err));
  } else {
    auto run = turn->run;
    int64_t after = -1;
    bool open = true;
    while (open) {
      bool done = false;
      auto events = run->events_after(after, &done);
      after += static_cast<int64_t>(events.size());
      for (const auto& e : events) {
        std::string m = on_lane(e, stream_id);
        open = co_await ws->send(std::move(m));
        if (!open) break;
      }
      if (done || !open) break;
      co_await run->wait(after, keepalive);
      open = ws->is_open();
    }
  }
  --lanes->live;
  lanes->ended->cancel();
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
  std::string err = type == "response.steer"
                        ? error_event("unsupported_event", "Steering a running response is not supported by this server yet.", "type", stream_id)
                        : error_event("invalid_value", "Unknown event type '" + type + "'. Supported: 'response.create'.", "type", stream_id);
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
