#include "http/client.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
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
  std::function<void()> h;
  {
    std::lock_guard lk(mu_);
    h = hook_;
  }
  if (h) h();
}

void CancelToken::set_hook(std::function<void()> hook) {
  std::lock_guard lk(mu_);
  hook_ = std::move(hook);
}

void CancelToken::clear_hook() {
  std::lock_guard lk(mu_);
  hook_ = nullptr;
}

struct Client::Impl {
  std::mutex mu;
  std::map<std::string, std::vector<std::unique_ptr<beast::tcp_stream>>> idle;  // guarded by mu
  static constexpr size_t kMaxIdlePerHost = 128;

  std::unique_ptr<beast::tcp_stream> take(const std::string& key) {
    std::lock_guard lk(mu);
    auto it = idle.find(key);
    if (it == idle.end() || it->second.empty()) return nullptr;
    auto s = std::move(it->second.back());
    it->second.pop_back();
    return s;
  }
  void put(const std::string& key, std::unique_ptr<beast::tcp_stream> s) {
    std::lock_guard lk(mu);
    auto& v = idle[key];
    if (v.size() < kMaxIdlePerHost) v.push_back(std::move(s));
  }
};

Client::Client() : impl_(std::make_unique<Impl>()) {}
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
  if (url->scheme() != "http") {
    co_return Status(Code::invalid_argument,
                     "only http:// upstream URLs are supported (got " + std::string(url->scheme()) +
                         "); put a TLS-terminating proxy in front of https upstreams");
  }
  std::string host(url->host());
  std::string port = url->has_port() ? std::string(url->port()) : "80";
  std::string key = host + ":" + port;
  std::string target(url->encoded_path());
  if (target.empty()) target = "/";
  if (url->has_query()) target += "?" + std::string(url->encoded_query());

  auto ex = co_await net::this_coro::executor;
  auto deadline = std::chrono::steady_clock::now() + req.timeout;
  auto remaining = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                 std::chrono::steady_clock::now());
  };

  bhttp::request<bhttp::string_body> out{bhttp::string_to_verb(req.method), target, 11};
  out.set(bhttp::field::host, host + ":" + port);
  out.set(bhttp::field::user_agent, "continuum");
  for (auto& [k, v] : req.headers) out.set(k, v);
  out.keep_alive(true);
  out.body() = std::move(req.body);
  out.prepare_payload();

  // A pooled connection may have been closed by the peer; retry once on a fresh one then.
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (cancel && cancel->cancelled()) co_return Status(Code::cancelled, "call cancelled");
    auto stream = attempt == 0 ? impl_->take(key) : nullptr;
    bool reused = stream != nullptr;
    if (!stream) {
      stream = std::make_unique<beast::tcp_stream>(ex);
      tcp::resolver resolver(ex);
      auto [rec, results] = co_await resolver.async_resolve(host, port, tuple_awaitable);
      if (rec) co_return Status(Code::unavailable, "cannot resolve " + host + ": " + rec.message());
      stream->expires_after(remaining());
      auto [cec, ep] = co_await stream->async_connect(results, tuple_awaitable);
      if (cec) {
        co_return Status(Code::unavailable, "cannot connect to " + key + ": " + cec.message());
      }
      stream->socket().set_option(tcp::no_delay(true));
    }
    beast::tcp_stream* raw = stream.get();
    if (cancel) {
      cancel->set_hook([raw, ex] { net::post(ex, [raw] { raw->cancel(); }); });
      if (cancel->cancelled()) {
        cancel->clear_hook();
        co_return Status(Code::cancelled, "call cancelled");
      }
    }
    struct HookGuard {
      CancelToken* t;
      ~HookGuard() { if (t) t->clear_hook(); }
    } guard{cancel.get()};

    stream->expires_after(remaining());
    auto [wec, wn] = co_await bhttp::async_write(*stream, out, tuple_awaitable);
    if (wec) {
      if (cancel && cancel->cancelled()) co_return Status(Code::cancelled, "call cancelled");
      if (reused) continue;
      co_return Status(Code::unavailable, "upstream write failed: " + wec.message());
    }
    beast::flat_buffer buf;
    bhttp::response_parser<bhttp::buffer_body> parser;
    parser.body_limit(boost::none);
    stream->expires_after(remaining());
    auto [hec, hn] = co_await bhttp::async_read_header(*stream, buf, parser, tuple_awaitable);
    if (hec) {
      if (cancel && cancel->cancelled()) co_return Status(Code::cancelled, "call cancelled");
      if (hec == beast::error::timeout)
        co_return Status(Code::deadline_exceeded, "upstream did not answer in time");
      if (reused && (hec == bhttp::error::end_of_stream || hec == net::error::eof ||
                     hec == net::error::connection_reset))
        continue;
      co_return Status(Code::unavailable, "upstream read failed: " + hec.message());
    }
    ClientResponse res;
    res.status = static_cast<int>(parser.get().result_int());
    bool stream_body = on_data && res.status >= 200 && res.status < 300;
    char chunk[16384];
    bool stopped = false;
    while (!parser.is_done()) {
      parser.get().body().data = chunk;
      parser.get().body().size = sizeof chunk;
      stream->expires_after(remaining());
      auto [rec, rn] = co_await bhttp::async_read_some(*stream, buf, parser, tuple_awaitable);
      if (rec == bhttp::error::need_buffer) rec = {};
      if (rec) {
        if (cancel && cancel->cancelled()) co_return Status(Code::cancelled, "call cancelled");
        if (rec == beast::error::timeout)
          co_return Status(Code::deadline_exceeded, "upstream did not finish in time");
        co_return Status(Code::unavailable, "upstream read failed: " + rec.message());
      }
      size_t got = sizeof chunk - parser.get().body().size;
      if (got == 0) continue;
      if (stream_body) {
        if (!on_data(std::string_view(chunk, got))) {
          stopped = true;
          break;
        }
      } else {
        res.body.append(chunk, got);
      }
    }
    if (cancel && cancel->cancelled()) co_return Status(Code::cancelled, "call cancelled");
    if (!stopped && parser.keep_alive()) {
      stream->expires_never();
      impl_->put(key, std::move(stream));
    }
    co_return res;
  }
  co_return Status(Code::unavailable, "upstream closed the connection");
}

}  // namespace cn::http
