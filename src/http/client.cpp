// The HTTP client for upstream models: pooled keep-alive connections, TLS on first use,
// streamed bodies, deadlines and cancellation.
#include "http/client.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>

#include "base/log.hpp"

namespace cn::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;
constexpr auto tuple_awaitable = net::as_tuple(net::use_awaitable);

void CancelToken::cancel() {
  cancelled_.store(true);
  std::vector<std::function<void()>> hs;
  {
    std::lock_guard lk(mu_);
    for (auto& [id, h] : hooks_) hs.push_back(h);
  }
  for (auto& h : hs) h();
}

uint64_t CancelToken::add_hook(std::function<void()> hook) {
  uint64_t id;
  {
    std::lock_guard lk(mu_);
    id = next_++;
    hooks_.emplace(id, hook);
  }
  if (cancelled_.load()) hook();
  return id;
}

void CancelToken::remove_hook(uint64_t handle) {
  std::lock_guard lk(mu_);
  hooks_.erase(handle);
}

std::string ClientResponse::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (k == name) return v;
  return {};
}

namespace {

// One pooled upstream connection: plain TCP, or TLS over TCP.
struct Conn {
  std::unique_ptr<beast::tcp_stream> plain;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> tls;
  beast::tcp_stream& tcp() { return tls ? beast::get_lowest_layer(*tls) : *plain; }
};

// The stream a cancel hook may abort, for as long as its call lasts. The hook's work runs
// later on the call's executor; clear() at the end of the call makes it a no-op from then on.
struct CancelTarget {
  std::mutex mu;
  beast::tcp_stream* stream = nullptr;  // guarded by mu
  void cancel() {
    std::lock_guard lock(mu);
    if (stream) stream->cancel();
  }
  void clear() {
    std::lock_guard lock(mu);
    stream = nullptr;
  }
};

struct Outcome {
  Status status;
  ClientResponse res;
  bool retry_on_fresh = false;  // a reused connection turned out dead before any answer
  bool reusable = false;
};

// Sends `out` and reads the answer on an established stream of either kind.
template <typename S>
net::awaitable<Outcome> exchange(S& s, beast::tcp_stream& tcp, bhttp::request<bhttp::string_body>& out,
                                 const std::function<bool(std::string_view)>& on_data,
                                 std::chrono::steady_clock::time_point deadline, bool reused,
                                 CancelToken* cancel, size_t max_body) {
  Outcome o;
  auto remaining = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  };
  auto cancelled = [&] { return cancel && cancel->cancelled(); };
  tcp.expires_after(remaining());
  auto [wec, wn] = co_await bhttp::async_write(s, out, tuple_awaitable);
  if (wec) {
    if (cancelled()) o.status = Status(Code::cancelled, "call cancelled");
    else if (reused) o.retry_on_fresh = true;
    else o.status = Status(Code::unavailable, "upstream write failed: " + wec.message());
    co_return o;
  }
  beast::flat_buffer buf;
  bhttp::response_parser<bhttp::buffer_body> parser;
  parser.body_limit(boost::none);
  tcp.expires_after(remaining());
  auto [hec, hn] = co_await bhttp::async_read_header(s, buf, parser, tuple_awaitable);
  if (hec) {
    if (cancelled()) o.status = Status(Code::cancelled, "call cancelled");
    else if (hec == beast::error::timeout) o.status = Status(Code::deadline_exceeded, "upstream did not answer in time");
    else if (reused && (hec == bhttp::error::end_of_stream || hec == net::error::eof ||
                        hec == net::error::connection_reset))
      o.retry_on_fresh = true;
    else o.status = Status(Code::unavailable, "upstream read failed: " + hec.message());
    co_return o;
  }
  o.res.status = static_cast<int>(parser.get().result_int());
  for (const auto& f : parser.get()) {
    std::string name(f.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    o.res.headers.emplace_back(std::move(name), std::string(f.value()));
  }
  bool stream_body = on_data && o.res.status >= 200 && o.res.status < 300;
  char chunk[16384];
  bool stopped = false;
  while (!parser.is_done()) {
    parser.get().body().data = chunk;
    parser.get().body().size = sizeof chunk;
    tcp.expires_after(remaining());
    auto [rec, rn] = co_await bhttp::async_read_some(s, buf, parser, tuple_awaitable);
    if (rec == bhttp::error::need_buffer) rec = {};
    if (rec) {
      if (cancelled()) o.status = Status(Code::cancelled, "call cancelled");
      else if (rec == beast::error::timeout) o.status = Status(Code::deadline_exceeded, "upstream did not finish in time");
      else o.status = Status(Code::unavailable, "upstream read failed: " + rec.message());
      co_return o;
    }
    size_t got = sizeof chunk - parser.get().body().size;
    if (got == 0) continue;
    if (stream_body) {
      if (!on_data(std::string_view(chunk, got))) {
        stopped = true;
        break;
      }
    } else {
      o.res.body.append(chunk, got);
      if (max_body && o.res.body.size() > max_body) {
        o.status = Status(Code::resource_exhausted, "the answer is larger than " + std::to_string(max_body) + " bytes");
        co_return o;
      }
    }
  }
  if (cancelled()) {
    o.status = Status(Code::cancelled, "call cancelled");
    co_return o;
  }
  o.reusable = !stopped && parser.keep_alive();
  co_return o;
}

}  // namespace

struct Client::Impl {
  std::mutex mu;
  std::map<std::string, std::vector<std::unique_ptr<Conn>>> idle;  // guarded by mu
  static constexpr size_t kMaxIdlePerHost = 128;
  // Made on first use (an OpenSSL context costs tens of milliseconds, most of a cold start),
  // except when a CA file is configured: that one is loaded, and checked, at start-up.
  std::once_flag tls_once;
  std::unique_ptr<net::ssl::context> tls_ctx;
  std::string ca_file;

  explicit Impl(const ClientOptions& o) : ca_file(o.ca_file) {
    if (!ca_file.empty()) tls();
  }

  net::ssl::context& tls() {
    std::call_once(tls_once, [this] {
      auto ctx = std::make_unique<net::ssl::context>(net::ssl::context::tls_client);
      ctx->set_default_verify_paths();
      if (!ca_file.empty()) ctx->load_verify_file(ca_file);
      ctx->set_verify_mode(net::ssl::verify_peer);
      tls_ctx = std::move(ctx);
    });
    return *tls_ctx;
  }

  std::unique_ptr<Conn> take(const std::string& key) {
    std::lock_guard lk(mu);
    auto it = idle.find(key);
    if (it == idle.end() || it->second.empty()) return nullptr;
    auto s = std::move(it->second.back());
    it->second.pop_back();
    return s;
  }
  void put(const std::string& key, std::unique_ptr<Conn> s) {
    std::lock_guard lk(mu);
    auto& v = idle[key];
    if (v.size() < kMaxIdlePerHost) v.push_back(std::move(s));
  }
};

Client::Client(ClientOptions opts) : impl_(std::make_unique<Impl>(opts)) {}
Client::~Client() = default;

void Client::clear_pool() {
  std::lock_guard lk(impl_->mu);
  impl_->idle.clear();
}

net::awaitable<Result<ClientResponse>> Client::call(ClientRequest req,
                                                   std::function<bool(std::string_view)> on_data,
                                                   std::shared_ptr<CancelToken> cancel) {
  auto url = boost::urls::parse_uri(req.url);
  if (!url) co_return Status(Code::invalid_argument, "bad upstream URL: " + req.url);
  bool tls = url->scheme() == "https";
  if (!tls && url->scheme() != "http")
    co_return Status(Code::invalid_argument, "upstream URLs must be http:// or https://");
  std::string host(url->host());
  std::string port = url->has_port() ? std::string(url->port()) : (tls ? "443" : "80");
  std::string key = std::string(url->scheme()) + "://" + host + ":" + port;
  std::string target(url->encoded_path());
  if (target.empty()) target = "/";
  if (url->has_query()) target += "?" + std::string(url->encoded_query());

  auto ex = co_await net::this_coro::executor;
  auto deadline = std::chrono::steady_clock::now() + req.timeout;
  auto remaining = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  };

  bhttp::request<bhttp::string_body> out{bhttp::string_to_verb(req.method), target, 11};
  out.set(bhttp::field::host, url->has_port() ? host + ":" + port : host);
  out.set(bhttp::field::user_agent, "continuum");
  for (auto& [k, v] : req.headers) out.set(k, v);
  out.keep_alive(true);
  out.body() = std::move(req.body);
  out.prepare_payload();
  const size_t max_body = req.max_body;

  // A pooled connection may have been closed by the peer; retry once on a fresh one then.
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (cancel && cancel->cancelled()) co_return Status(Code::cancelled, "call cancelled");
    auto conn = attempt == 0 ? impl_->take(key) : nullptr;
    bool reused = conn != nullptr;
    if (!conn) {
      conn = std::make_unique<Conn>();
      tcp::resolver resolver(ex);
      auto [rec, results] = co_await resolver.async_resolve(host, port, tuple_awaitable);
      if (rec) co_return Status(Code::unavailable, "cannot resolve " + host + ": " + rec.message());
      if (tls) {
        conn->tls = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(ex, impl_->tls());
        if (!SSL_set_tlsext_host_name(conn->tls->native_handle(), host.c_str()))
          co_return Status(Code::unavailable, "cannot set TLS server name for " + host);
        conn->tls->set_verify_callback(net::ssl::host_name_verification(host));
      } else {
        conn->plain = std::make_unique<beast::tcp_stream>(ex);
      }
      conn->tcp().expires_after(remaining());
      auto [cec, ep] = co_await conn->tcp().async_connect(results, tuple_awaitable);
      if (cec) co_return Status(Code::unavailable, "cannot connect to " + key + ": " + cec.message());
      conn->tcp().socket().set_option(tcp::no_delay(true));
      if (tls) {
        conn->tcp().expires_after(remaining());
        auto [hec] = co_await conn->tls->async_handshake(net::ssl::stream_base::client, tuple_awaitable);
        if (hec) co_return Status(Code::unavailable, "TLS handshake with " + key + " failed: " + hec.message());
      }
    }
    // The hook posts the socket's cancel to this call's executor; by the time it runs the call
    // may have ended and the connection gone (or back in the pool), so it reaches the stream
    // only through `target`, which the guard clears when the call ends.
    auto target = std::make_shared<CancelTarget>();
    target->stream = &conn->tcp();
    uint64_t hook = 0;
    if (cancel) {
      hook = cancel->add_hook([target, ex] { net::post(ex, [target] { target->cancel(); }); });
      if (cancel->cancelled()) {
        cancel->remove_hook(hook);
        target->clear();
        co_return Status(Code::cancelled, "call cancelled");
      }
    }
    struct HookGuard {
      CancelToken* t;
      uint64_t h;
      CancelTarget* target;
      ~HookGuard() {
        if (t) t->remove_hook(h);
        target->clear();
      }
    } guard{cancel.get(), hook, target.get()};

    // Separate statements: GCC 12 mishandles co_await inside a conditional expression.
    Outcome o;
    if (tls) {
      o = co_await exchange(*conn->tls, conn->tcp(), out, on_data, deadline, reused, cancel.get(), max_body);
    } else {
      o = co_await exchange(*conn->plain, conn->tcp(), out, on_data, deadline, reused, cancel.get(), max_body);
    }
    if (o.retry_on_fresh) continue;
    if (!o.status.ok()) co_return o.status;
    if (o.reusable) {
      conn->tcp().expires_never();
      impl_->put(key, std::move(conn));
    }
    co_return std::move(o.res);
  }
  co_return Status(Code::unavailable, "upstream closed the connection");
}

}  // namespace cn::http
