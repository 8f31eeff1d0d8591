// Session (see session.hpp): MCP over Streamable HTTP, as a client.
#include "tools/mcp/session.hpp"

#include <boost/asio.hpp>
#include <boost/json.hpp>

#include "base/log.hpp"

namespace cn::tools::mcp {

namespace json = boost::json;
using boost::asio::awaitable;

namespace {

constexpr size_t kMaxAnswer = 4 << 20;  // bytes of one answer (a listing or a call's result)
constexpr int kMaxPages = 50;           // tools/list pages
constexpr int kMaxResumes = 100;        // Last-Event-ID reconnections for one answer

std::chrono::milliseconds until(std::chrono::steady_clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  return std::max(left, std::chrono::milliseconds(1));
}

// Where an SSE answer can be resumed from: the last event id seen, and the retry delay asked for.
struct Cursor {
  std::string last_id;
  std::chrono::milliseconds retry{100};
};

// The JSON-RPC messages of an answer body: one JSON message, or the data of each SSE event
// (recording the event ids and retry delay in `cursor`).
std::vector<json::value> messages(const std::string& content_type, const std::string& body, Cursor* cursor = nullptr) {
  std::vector<json::value> out;
  boost::system::error_code ec;
  if (content_type.find("text/event-stream") == std::string::npos) {
    auto v = json::parse(body, ec);
    if (!ec) out.push_back(std::move(v));
    return out;
  }
  std::string data;
  size_t pos = 0;
  auto flush = [&] {
    if (data.empty()) return;
    auto v = json::parse(data, ec);
    if (!ec) out.push_back(std::move(v));
    data.clear();
  };
  while (pos <= body.size()) {
    size_t nl = body.find('\n', pos);
    std::string_view line(body.data() + pos, (nl == std::string::npos ? body.size() : nl) - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) flush();
    else if (cursor && line.starts_with("id:")) {
      line.remove_prefix(3);
      if (line.starts_with(" ")) line.remove_prefix(1);
      cursor->last_id = std::string(line);
    } else if (cursor && line.starts_with("retry:")) {
      line.remove_prefix(6);
      if (line.starts_with(" ")) line.remove_prefix(1);
      int ms = std::atoi(std::string(line).c_str());
      if (ms > 0) cursor->retry = std::chrono::milliseconds(std::min(ms, 5000));
    } else if (line.starts_with("data:")) {
      line.remove_prefix(5);
      if (line.starts_with(" ")) line.remove_prefix(1);
      if (!data.empty()) data += '\n';
      data += line;
    }
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
  flush();
  return out;
}

ListedTool listed(const json::object& t) {
  ListedTool l;
  l.name = std::string(t.at("name").as_string());
  if (auto* d = t.if_contains("description"); d && d->is_string()) l.description = std::string(d->as_string());
  auto* schema = t.if_contains("inputSchema");
  l.input_schema = schema && schema->is_object() ? *schema : json::value(json::object{{"type", "object"}});
  auto* ann = t.if_contains("annotations");
  l.annotations = ann && ann->is_object() ? *ann : json::value(nullptr);
  if (ann && ann->is_object()) {
    auto flag = [&](const char* k) {
      auto* v = ann->as_object().if_contains(k);
      return v && v->is_bool() && v->as_bool();
    };
    l.read_only = flag("readOnlyHint");
    l.idempotent = flag("idempotentHint") || l.read_only;
  }
  return l;
}

}  // namespace

// The answer to request `id` among `msgs` (its result, or its error as a Status); list_changed
// notifications on the way drop the cached listing.
bool Session::note_changes(const std::vector<json::value>& msgs) {
  bool changed = false;
  for (const auto& m : msgs)
    if (m.is_object())
      if (auto* meth = m.as_object().if_contains("method"); meth && meth->is_string() && meth->as_string() == "notifications/tools/list_changed")
        changed = true;
  if (changed) {
    std::lock_guard lk(mu_);
    tools_.reset();
  }
  return changed;
}

std::optional<Result<json::value>> Session::find_answer(std::vector<json::value> msgs, int64_t id) {
  note_changes(msgs);
  for (auto& m : msgs) {
    if (!m.is_object()) continue;
    auto& o = m.as_object();
    if (o.contains("method")) continue;
    auto* mid = o.if_contains("id");
    if (!mid || !mid->is_int64() || mid->as_int64() != id) continue;
    if (auto* err = o.if_contains("error"); err && err->is_object()) {
      auto* msg = err->as_object().if_contains("message");
      return Result<json::value>(Status(Code::unavailable, "MCP server error: " + (msg && msg->is_string() ? std::string(msg->as_string()) : json::serialize(*err))));
    }
    if (auto* r = o.if_contains("result")) return Result<json::value>(std::move(*r));
  }
  return std::nullopt;
}

Session::Session(http::Client& client, Endpoint ep, std::chrono::milliseconds list_ttl)
    : client_(client), ep_(std::move(ep)), list_ttl_(list_ttl) {}

Session::Session(http::Client& client, std::shared_ptr<StdioProcess> proc, std::chrono::milliseconds list_ttl)
    : client_(client), ep_{"stdio:" + proc->config().label, {}}, list_ttl_(list_ttl), proc_(std::move(proc)) {}

Session::~Session() { stop_->cancel(); }

uint64_t Session::stream_notifications() const {
  std::lock_guard lk(mu_);
  return stream_notifications_;
}

awaitable<void> Session::listen(std::weak_ptr<Session> self, std::shared_ptr<http::CancelToken> stop, http::Client* client,
                                std::string url) {
  auto backoff = std::chrono::milliseconds(500);
  while (!stop->cancelled()) {
    http::ClientRequest get;
    get.method = "GET";
    get.url = url;
    get.timeout = std::chrono::minutes(30);
    {
      auto s = self.lock();
      if (!s) co_return;
      get.headers = s->ep_.headers;
      std::lock_guard lk(s->mu_);
      get.headers.emplace_back("Accept", "text/event-stream");
      get.headers.emplace_back("MCP-Protocol-Version", s->version_);
      get.headers.emplace_back("Mcp-Session-Id", s->session_id_);
      if (!s->stream_last_id_.empty()) get.headers.emplace_back("Last-Event-ID", s->stream_last_id_);
    }
    // Complete events are handed on as they arrive; a partial one waits for the rest.
    std::string pending;
    bool got_data = false;
    auto on_data = [&](std::string_view chunk) {
      got_data = true;
      pending.append(chunk);
      size_t end = pending.rfind("\n\n");
      if (end == std::string::npos) return pending.size() < kMaxAnswer;
      Cursor cursor;
      auto msgs = messages("text/event-stream", pending.substr(0, end + 2), &cursor);
      pending.erase(0, end + 2);
      auto s = self.lock();
      if (!s) return false;
      bool changed = s->note_changes(msgs);
      std::lock_guard lk(s->mu_);
      if (!cursor.last_id.empty()) s->stream_last_id_ = cursor.last_id;
      if (changed) ++s->stream_notifications_;
      return !stop->cancelled();
    };
    auto res = co_await client->call(std::move(get), on_data, stop);
    if (stop->cancelled()) co_return;
    if (res.ok() && res->status >= 400) {
      // 405: the server offers no stream. 404: it forgot the session (a new one starts its own
      // stream). Others: it will not serve one to these credentials.
      if (res->status == 404)
        if (auto s = self.lock()) {
          std::lock_guard lk(s->mu_);
          s->listening_ = false;
        }
      spdlog::debug("MCP server {}: no standing stream (HTTP {})", url, res->status);
      co_return;
    }
    if (got_data) backoff = std::chrono::milliseconds(500);
    boost::asio::steady_timer wait(co_await boost::asio::this_coro::executor, backoff);
    co_await wait.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    backoff = std::min(backoff * 2, std::chrono::milliseconds(60'000));
  }
}

std::vector<std::pair<std::string, std::string>> Session::headers(bool initializing) const {
  auto h = ep_.headers;
  h.emplace_back("Content-Type", "application/json");
  h.emplace_back("Accept", "application/json, text/event-stream");
  std::lock_guard lk(mu_);
  if (!initializing) {
    h.emplace_back("MCP-Protocol-Version", version_);
    if (!session_id_.empty()) h.emplace_back("Mcp-Session-Id", session_id_);
  }
  return h;
}

awaitable<Result<json::value>> Session::request(std::string method, json::object params,
                                                std::shared_ptr<http::CancelToken> cancel,
                                                std::chrono::steady_clock::time_point deadline, bool initializing) {
  if (proc_) {
    auto r = co_await proc_->request(method, params, cancel, deadline);
    co_return r;
  }
  for (int attempt = 0; attempt < 2; ++attempt) {
    int64_t id;
    {
      std::lock_guard lk(mu_);
      id = next_id_++;
    }
    http::ClientRequest req;
    req.url = ep_.url;
    req.headers = headers(initializing);
    req.body = json::serialize(json::object{{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}});
    req.timeout = until(deadline);
    req.max_body = kMaxAnswer;
    auto res = co_await client_.call(std::move(req), {}, cancel);
    if (!res.ok()) {
      Code code = res.status().code();
      if (code == Code::cancelled || code == Code::deadline_exceeded) {
        // The server may still be working on it: tell it to stop.
        json::object p{{"requestId", id}, {"reason", code == Code::cancelled ? "cancelled" : "timed out"}};
        co_await notify("notifications/cancelled", std::move(p));
      }
      co_return Status(res.status().code(), "MCP server " + ep_.url + ": " + res.status().message());
    }
    if (res->status == 404 && !initializing && attempt == 0) {
      // The server forgot the session: start a new one and try once more.
      {
        std::lock_guard lk(mu_);
        initialized_ = false;
        session_id_.clear();
      }
      if (Status st = co_await ensure_initialized(cancel, deadline); !st.ok()) co_return st;
      continue;
    }
    if (res->status == 401 || res->status == 403)
      co_return Status(Code::permission_denied, "MCP server " + ep_.url + " refused the credentials (HTTP " +
                                                    std::to_string(res->status) + ")");
    if (res->status < 200 || res->status >= 300)
      co_return Status(Code::unavailable, "MCP server " + ep_.url + " answered HTTP " + std::to_string(res->status));
    if (initializing) {
      std::string sid = res->header("mcp-session-id");
      std::lock_guard lk(mu_);
      session_id_ = sid;
    }
    Cursor cursor;
    std::string content_type = res->header("content-type");
    std::string body = std::move(res->body);
    // A stream the server closed before the answer (it may, to make the client poll) is
    // resumed with Last-Event-ID until the answer comes or the deadline passes.
    for (int resume = 0;; ++resume) {
      if (auto answer = find_answer(messages(content_type, body, &cursor), id)) co_return std::move(*answer);
      if (content_type.find("text/event-stream") == std::string::npos || cursor.last_id.empty() || resume >= kMaxResumes ||
          std::chrono::steady_clock::now() + cursor.retry >= deadline || (cancel && cancel->cancelled()))
        break;
      boost::asio::steady_timer wait(co_await boost::asio::this_coro::executor, cursor.retry);
      co_await wait.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
      http::ClientRequest get;
      get.method = "GET";
      get.url = ep_.url;
      get.headers = headers(false);
      get.headers.emplace_back("Last-Event-ID", cursor.last_id);
      get.timeout = until(deadline);
      get.max_body = kMaxAnswer;
      auto again = co_await client_.call(std::move(get), {}, cancel);
      if (!again.ok()) co_return Status(again.status().code(), "MCP server " + ep_.url + " (resuming): " + again.status().message());
      if (again->status < 200 || again->status >= 300)
        co_return Status(Code::unavailable, "MCP server " + ep_.url + " refused to resume the stream (HTTP " + std::to_string(again->status) + ")");
      content_type = again->header("content-type");
      body = std::move(again->body);
    }
    co_return Status(Code::unavailable, "MCP server " + ep_.url + " sent no answer to " + method);
  }
  co_return Status(Code::unavailable, "MCP server " + ep_.url + " lost the session twice");
}

awaitable<void> Session::notify(std::string method, json::object params) {
  if (proc_) {
    proc_->notify(method, params);
    co_return;
  }
  http::ClientRequest req;
  req.url = ep_.url;
  req.headers = headers(false);
  req.body = json::serialize(json::object{{"jsonrpc", "2.0"}, {"method", method}, {"params", params}});
  req.timeout = std::chrono::seconds(5);
  auto res = co_await client_.call(std::move(req));
  if (!res.ok()) spdlog::debug("MCP notification {} to {} failed: {}", method, ep_.url, res.status().message());
}

awaitable<Status> Session::ensure_initialized(std::shared_ptr<http::CancelToken> cancel,
                                              std::chrono::steady_clock::time_point deadline) {
  uint64_t gen = 0;
  if (proc_) {
    // A local server that exited is started again, and must be initialized again.
    auto g = proc_->ensure_running();
    if (!g.ok()) co_return g.status();
    gen = *g;
  }
  {
    std::lock_guard lk(mu_);
    if (initialized_ && init_gen_ == gen) co_return Status();
    initialized_ = false;
    tools_.reset();
  }
  json::object params{{"protocolVersion", kProtocolVersion},
                      {"capabilities", json::object{}},
                      {"clientInfo", json::object{{"name", "continuum"}, {"version", "1"}}}};
  auto r = co_await request("initialize", std::move(params), cancel, deadline, true);
  if (!r.ok()) co_return r.status();
  std::string version = kProtocolVersion;
  if (r->is_object())
    if (auto* v = r->as_object().if_contains("protocolVersion"); v && v->is_string()) version = std::string(v->as_string());
  bool start_stream = false;
  {
    std::lock_guard lk(mu_);
    version_ = version;
    initialized_ = true;
    init_gen_ = gen;
    start_stream = !proc_ && !session_id_.empty() && !listening_;
    if (start_stream) {
      listening_ = true;
      stream_last_id_.clear();
    }
  }
  co_await notify("notifications/initialized", {});
  if (start_stream)
    boost::asio::co_spawn(co_await boost::asio::this_coro::executor, listen(weak_from_this(), stop_, &client_, ep_.url),
                          boost::asio::detached);
  co_return Status();
}

awaitable<Result<std::vector<ListedTool>>> Session::list_tools(std::shared_ptr<http::CancelToken> cancel,
                                                               std::chrono::steady_clock::time_point deadline) {
  if (Status st = co_await ensure_initialized(cancel, deadline); !st.ok()) co_return st;
  const uint64_t changes = proc_ ? proc_->list_changes() : 0;
  {
    std::lock_guard lk(mu_);
    if (tools_ && changes == seen_changes_ && std::chrono::steady_clock::now() - listed_at_ < list_ttl_) co_return *tools_;
  }
  std::vector<ListedTool> all;
  std::string cursor;
  for (int page = 0; page < kMaxPages; ++page) {
    json::object params;
    if (!cursor.empty()) params["cursor"] = cursor;
    auto r = co_await request("tools/list", std::move(params), cancel, deadline);
    if (!r.ok()) co_return r.status();
    auto* tools = r->is_object() ? r->as_object().if_contains("tools") : nullptr;
    if (!tools || !tools->is_array()) co_return Status(Code::unavailable, "MCP server sent a tools/list result without tools");
    for (const auto& t : tools->as_array())
      if (t.is_object() && t.as_object().if_contains("name") && t.as_object().at("name").is_string())
        all.push_back(listed(t.as_object()));
    auto* next = r->as_object().if_contains("nextCursor");
    if (!next || !next->is_string() || next->as_string().empty()) break;
    cursor = std::string(next->as_string());
  }
  std::lock_guard lk(mu_);
  tools_ = all;
  seen_changes_ = changes;
  listed_at_ = std::chrono::steady_clock::now();
  co_return all;
}

awaitable<Result<CallResult>> Session::call_tool(std::string name, std::string arguments,
                                                 std::shared_ptr<http::CancelToken> cancel,
                                                 std::chrono::steady_clock::time_point deadline) {
  if (Status st = co_await ensure_initialized(cancel, deadline); !st.ok()) co_return st;
  boost::system::error_code ec;
  auto args = json::parse(arguments.empty() ? std::string("{}") : arguments, ec);
  if (ec || !args.is_object()) co_return Status(Code::invalid_argument, "the arguments are not a JSON object");
  json::object params{{"name", name}, {"arguments", std::move(args)}};
  auto r = co_await request("tools/call", std::move(params), cancel, deadline);
  if (!r.ok()) co_return r.status();
  if (!r->is_object()) co_return Status(Code::unavailable, "MCP server sent a tools/call result that is not an object");
  const auto& o = r->as_object();
  CallResult out;
  if (auto* e = o.if_contains("isError"); e && e->is_bool()) out.is_error = e->as_bool();
  // Text blocks are what the model reads; structured content, when the tool gives it, is the
  // faithful form of the answer; other blocks (images, resources) are passed on as JSON.
  std::string text;
  json::array other;
  if (auto* c = o.if_contains("content"); c && c->is_array()) {
    for (const auto& b : c->as_array()) {
      if (!b.is_object()) continue;
      const auto& bo = b.as_object();
      auto* type = bo.if_contains("type");
      if (type && type->is_string() && type->as_string() == "text" && bo.if_contains("text") && bo.at("text").is_string()) {
        if (!text.empty()) text += "\n";
        text += std::string(bo.at("text").as_string());
      } else {
        other.push_back(b);
      }
    }
  }
  auto* sc = o.if_contains("structuredContent");
  if (sc && !sc->is_null() && !out.is_error) out.output = json::serialize(*sc);
  else if (!other.empty()) out.output = json::serialize(o.at("content"));
  else out.output = text;
  co_return out;
}

}  // namespace cn::tools::mcp
