// The HTTP server: keep-alive sessions (plain or TLS) with limits and deadlines, the router,
// chunked SSE, and certificate reloads.
#include "http/server.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>

#include <set>

#include "base/ids.hpp"
#include "http/request_parse.hpp"
#include "http/websocket.hpp"
#include "base/log.hpp"
#include "base/trace.hpp"

namespace cn::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;
using net::use_awaitable;
constexpr auto tuple_awaitable = net::as_tuple(net::use_awaitable);
constexpr uint64_t kMaxDrainBytes = 64ull * 1024 * 1024;

struct Server::Impl {
  net::io_context& io;
  ServerOptions opts;
  Router router;
  tcp::acceptor acceptor;
  std::atomic<bool> accepting{true};
  std::atomic<uint64_t> accept_pauses{0};
  std::atomic<size_t> sessions{0};  // accepted and not yet ended

  mutable std::mutex mu;
  struct Conn {
    beast::tcp_stream* stream;
    net::any_io_executor strand;
    bool busy = false;  // a request is being handled
  };
  std::map<uint64_t, Conn> conns;  // guarded by mu
  uint64_t next_conn = 0;          // guarded by mu

  Impl(net::io_context& i, ServerOptions o, Router r)
      : io(i), opts(std::move(o)), router(std::move(r)), acceptor(i) {}

  // TLS: the context new connections use; replaced whole by reload_tls() (a connection keeps
  // the one it started with).
  std::shared_ptr<net::ssl::context> tls;  // guarded by mu

  awaitable<void> accept_loop();
  awaitable<void> session(tcp::socket sock);
  template <typename S>
  awaitable<void> serve(S& stream);
  void set_busy(uint64_t id, bool b) {
    std::lock_guard lk(mu);
    if (auto it = conns.find(id); it != conns.end()) it->second.busy = b;
  }
};

namespace {

template <typename S>
class SseStream final : public Stream {
 public:
  SseStream(S& s, std::chrono::milliseconds wt, std::string rid,
            const std::vector<std::pair<std::string, std::string>>* extra)
      : s_(s), write_timeout_(wt), request_id_(std::move(rid)), extra_(extra) {}

  awaitable<bool> start_sse(int status,
                            std::vector<std::pair<std::string, std::string>> headers) override {
    bhttp::response<bhttp::empty_body> res{static_cast<bhttp::status>(status), 11};
    res.set(bhttp::field::content_type, "text/event-stream");
    res.set(bhttp::field::cache_control, "no-cache");
    res.set("x-request-id", request_id_);
    for (auto& [k, v] : headers) res.set(k, v);
    for (const auto& [k, v] : *extra_) res.set(k, v);
    res.chunked(true);
    bhttp::response_serializer<bhttp::empty_body> sr{res};
    beast::get_lowest_layer(s_).expires_after(write_timeout_);
    auto [ec, n] = co_await bhttp::async_write_header(s_, sr, tuple_awaitable);
    started_ = !ec;
    ok_ = !ec;
    co_return ok_;
  }

  awaitable<bool> write(std::string data) override {
    if (!ok_) co_return false;
    beast::get_lowest_layer(s_).expires_after(write_timeout_);
    auto [ec, n] = co_await net::async_write(s_, bhttp::make_chunk(net::buffer(data)),
                                             tuple_awaitable);
    if (ec) {
      spdlog::debug("[{}] stream write failed: {}", request_id_, ec.message());
      ok_ = false;
    }
    co_return ok_;
  }

  awaitable<void> finish() override {
    if (!ok_) co_return;
    beast::get_lowest_layer(s_).expires_after(write_timeout_);
    auto [ec, n] = co_await net::async_write(s_, bhttp::make_chunk_last(), tuple_awaitable);
    if (ec) ok_ = false;
  }

  bool started() const { return started_; }
  bool ok() const { return ok_; }

 private:
  S& s_;
  std::chrono::milliseconds write_timeout_;
  std::string request_id_;
  const std::vector<std::pair<std::string, std::string>>* extra_;
  bool started_ = false;
  bool ok_ = true;
};

std::string make_request_id(const bhttp::request_parser<bhttp::string_body>& p) {
  auto it = p.get().find("x-request-id");
  if (it != p.get().end()) {
    std::string_view v = it->value();
    if (valid_id_syntax(v) && v.size() <= 64) return std::string(v);
  }
  return new_id("req");
}

}  // namespace

// Writes a JSON error answer and asks for the connection to close.
template <typename S>
awaitable<void> write_error(S& stream, bhttp::status status, std::string message,
                            const char* code, std::chrono::milliseconds timeout,
                            std::string request_id = {}) {
  bhttp::response<bhttp::string_body> res{status, 11};
  res.set(bhttp::field::content_type, "application/json");
  res.set(bhttp::field::connection, "close");
  if (!request_id.empty()) res.set("x-request-id", request_id);
  res.body() = error_body(message, "invalid_request_error", "", code);
  res.prepare_payload();
  beast::get_lowest_layer(stream).expires_after(timeout);
  co_await bhttp::async_write(stream, res, tuple_awaitable);
}

awaitable<void> Server::Impl::accept_loop() {
  static LogThrottle accept_log;
  auto ex = co_await net::this_coro::executor;
  net::steady_timer pause(ex);
  for (;;) {
    auto [ec, sock] = co_await acceptor.async_accept(tuple_awaitable);
    if (!accepting.load()) co_return;
    if (ec) {
      if (ec == net::error::operation_aborted) co_return;
      if (uint64_t n = accept_log.tick()) spdlog::warn("accept failed: {} (x{} in the last second)", ec.message(), n);
      // Out of descriptors (or kernel memory): the connection waits in the listen backlog.
      // Retrying at once would spin; pause so that open connections can finish and free some.
      if (ec == net::error::no_descriptors || ec.value() == ENFILE || ec == net::error::no_buffer_space ||
          ec == net::error::no_memory) {
        accept_pauses.fetch_add(1, std::memory_order_relaxed);
        pause.expires_after(opts.accept_pause);
        auto [pec] = co_await pause.async_wait(tuple_awaitable);
        (void)pec;
      }
      continue;
    }
    // Counted from accept to the session's end (a session registers itself in `conns` only once
    // it runs), so a burst of accepts cannot overshoot the cap.
    if (sessions.fetch_add(1) >= opts.max_connections) {
      sessions.fetch_sub(1);
      beast::error_code ignored;
      sock.close(ignored);
      continue;
    }
    auto strand = net::make_strand(io);
    net::co_spawn(strand, session(std::move(sock)), [this](std::exception_ptr) { sessions.fetch_sub(1); });
  }
}

awaitable<void> Server::Impl::session(tcp::socket sock) {
  // Streams and sockets write small frames as they come: without TCP_NODELAY, Nagle's algorithm
  // holds each one until the client's delayed ACK (~40 ms).
  beast::error_code nd;
  sock.set_option(tcp::no_delay(true), nd);
  std::shared_ptr<net::ssl::context> ctx;
  {
    std::lock_guard lk(mu);
    ctx = tls;
  }
  if (!ctx) {
    beast::tcp_stream stream(std::move(sock));
    co_await serve(stream);
    co_return;
  }
  beast::ssl_stream<beast::tcp_stream> stream(std::move(sock), *ctx);
  beast::get_lowest_layer(stream).expires_after(opts.request_timeout);
  auto [hec] = co_await stream.async_handshake(net::ssl::stream_base::server, tuple_awaitable);
  if (hec) {
    spdlog::debug("TLS handshake failed: {}", hec.message());
    co_return;
  }
  co_await serve(stream);
  beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(2));
  auto [sec] = co_await stream.async_shutdown(tuple_awaitable);
  (void)sec;
}

template <typename S>
awaitable<void> Server::Impl::serve(S& stream) {
  // The executor is fetched in a statement of its own: GCC 12 destroys temporaries that share
  // a full-expression with co_await twice.
  auto strand = co_await net::this_coro::executor;
  uint64_t conn_id;
  {
    std::lock_guard lk(mu);
    conn_id = next_conn++;
    conns[conn_id] = Conn{&beast::get_lowest_layer(stream), strand};
  }
  beast::flat_buffer buffer;
  for (;;) {
    if (!accepting.load()) break;
    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(static_cast<uint32_t>(opts.max_header_bytes));
    parser.body_limit(opts.max_body_bytes);
    beast::get_lowest_layer(stream).expires_after(opts.idle_timeout);
    auto [ec, n] = co_await bhttp::async_read_header(stream, buffer, parser, tuple_awaitable);
    // A Content-Length over the limit is reported while reading the header.
    bool too_large = ec == bhttp::error::body_limit;
    if (ec && !too_large) {
      if (ec == bhttp::error::header_limit) {
        std::string msg = "Request headers are too large.";
        co_await write_error(stream, bhttp::status::request_header_fields_too_large, std::move(msg),
                             "request_header_too_large", opts.write_timeout);
      } else if (ec != bhttp::error::end_of_stream && ec != net::error::operation_aborted &&
                 ec != beast::error::timeout && ec != net::error::connection_reset &&
                 ec != net::error::eof) {
        std::string msg = "Malformed HTTP request: " + ec.message();
        co_await write_error(stream, bhttp::status::bad_request, std::move(msg), "bad_request", opts.write_timeout);
      }
      break;
    }
    set_busy(conn_id, true);
    std::string request_id = make_request_id(parser);
    auto& hdr = parser.get();
    too_large = too_large || (parser.content_length() && *parser.content_length() > opts.max_body_bytes);
    if (!too_large) {
      auto expect = hdr.find(bhttp::field::expect);
      if (expect != hdr.end() && beast::iequals(expect->value(), "100-continue")) {
        bhttp::response<bhttp::empty_body> cont{bhttp::status::continue_, 11};
        beast::get_lowest_layer(stream).expires_after(opts.write_timeout);
        co_await bhttp::async_write(stream, cont, tuple_awaitable);
      }
      beast::get_lowest_layer(stream).expires_after(opts.request_timeout);
      auto [ec2, n2] = co_await bhttp::async_read(stream, buffer, parser, tuple_awaitable);
      if (ec2 == bhttp::error::body_limit) {
        too_large = true;
      } else if (ec2) {
        if (ec2 != beast::error::timeout && ec2 != net::error::eof &&
            ec2 != net::error::connection_reset && ec2 != net::error::operation_aborted) {
          std::string msg = "Malformed HTTP request: " + ec2.message();
          co_await write_error(stream, bhttp::status::bad_request, std::move(msg), "bad_request", opts.write_timeout);
        }
        break;
      }
    }
    if (too_large) {
      // Clients keep sending their body and fail on a reset socket if we answer early; swallow
      // bodies up to a bound so that they read the 413. Beyond it, answer and close. A client
      // that sent `Expect: 100-continue` waits for our word before sending: it gets the 413 now.
      auto expect = hdr.find(bhttp::field::expect);
      bool waits = expect != hdr.end() && beast::iequals(expect->value(), "100-continue");
      if (!waits && parser.content_length() && *parser.content_length() <= kMaxDrainBytes &&
          !parser.is_done()) {
        uint64_t remaining = *parser.content_length() - std::min<uint64_t>(*parser.content_length(), buffer.size());
        buffer.consume(buffer.size());
        std::vector<char> scratch(64 * 1024);
        beast::get_lowest_layer(stream).expires_after(opts.request_timeout);
        while (remaining > 0) {
          size_t want = static_cast<size_t>(std::min<uint64_t>(remaining, scratch.size()));
          auto [dec, dn] = co_await stream.async_read_some(net::buffer(scratch.data(), want), tuple_awaitable);
          if (dec) break;
          remaining -= dn;
        }
      }
      std::string msg = "Request body is larger than the limit of " + std::to_string(opts.max_body_bytes) + " bytes.";
      co_await write_error(stream, bhttp::status::payload_too_large, std::move(msg), "request_too_large",
                           opts.write_timeout, request_id);
      spdlog::info("[{}] {} {} -> 413", request_id, std::string(hdr.method_string()),
                   std::string(hdr.target()));
      break;
    }

    auto msg = parser.release();
    Request req;
    req.request_id = request_id;
    req.executor = strand;
    bool bad_target = !request_from_message(msg, req);
    bool keep_alive = msg.keep_alive() && accepting.load();
    auto started = std::chrono::steady_clock::now();

    SseStream<S> sse(stream, opts.write_timeout, request_id, &req.answer_headers);
    Response res;
    const std::string* pattern = nullptr;  // the route that answered, if any
    // A WebSocket upgrade on an upgrade route: the handler accepts it (and the connection is the
    // socket's until it closes) or answers it as plain HTTP.
    const UpgradeHandler* upgrade = nullptr;
    if (!bad_target && boost::beast::websocket::is_upgrade(msg)) upgrade = router.match_upgrade(req.path, req.params);
    if (upgrade) {
      // The socket reads through its own buffers: the request's is given back (a client sends
      // nothing before the handshake's answer).
      buffer.clear();
      buffer.shrink_to_fit();
      WsConnection<S> ws(stream, msg, opts);
      try {
        res = co_await (*upgrade)(req, ws);
      } catch (const std::exception& e) {
        spdlog::error("[{}] upgrade handler threw: {}", request_id, e.what());
        res = Response::json(500, error_body("Internal server error.", "server_error", "", "server_error"));
      }
      if (ws.accepted()) {
        auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
        spdlog::info("[{}] {} {} -> websocket closed ({:.1f} ms)", request_id, req.method, req.path, ms);
        break;
      }
      keep_alive = false;
    } else if (bad_target) {
      res = Response::json(400, error_body("Malformed request target.", "invalid_request_error",
                                           "", "bad_request"));
    } else {
      bool mismatch = false;
      const Handler* h = router.match(req.method, req.path, req.params, mismatch, &pattern);
      if (h) {
        try {
          res = co_await (*h)(req, sse);
        } catch (const std::exception& e) {
          spdlog::error("[{}] handler threw: {}", request_id, e.what());
          res = Response::json(500, error_body("Internal server error.", "server_error", "",
                                               "server_error"));
        }
      } else if (mismatch) {
        res = Response::json(405, error_body("Method " + req.method + " is not allowed on " +
                                                 req.path + ".",
                                             "invalid_request_error", "", "method_not_allowed"));
      } else {
        res = Response::json(404, error_body("No route for " + req.method + " " + req.path + ".",
                                             "invalid_request_error", "", "not_found"));
      }
    }
    auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
                  .count();
    if (const auto* obs = router.observer(); obs && pattern) (*obs)(req.method, *pattern, res.streamed ? 200 : res.status, ms / 1000);
    // The access log line carries the caller's trace id (traceparent), when it sent one.
    std::string trace_id;
    if (auto tp = req.header("traceparent"))
      if (auto sc = SpanContext::parse(*tp)) trace_id = std::move(sc->trace_id);
    if (res.streamed) {
      {
        LogTrace lt(trace_id);
        spdlog::info("[{}] {} {} -> stream ({:.1f} ms)", request_id, req.method, req.path, ms);
      }
      if (!sse.ok()) break;
      set_busy(conn_id, false);
      if (!keep_alive) break;
      continue;
    }
    {
      LogTrace lt(trace_id);
      spdlog::info("[{}] {} {} -> {} ({:.1f} ms)", request_id, req.method, req.path, res.status, ms);
    }
    bhttp::response<bhttp::string_body> out{static_cast<bhttp::status>(res.status), 11};
    out.set(bhttp::field::content_type, res.content_type);
    out.set("x-request-id", request_id);
    for (auto& [k, v] : req.answer_headers) out.set(k, v);
    for (auto& [k, v] : res.headers) out.set(k, v);
    out.keep_alive(keep_alive);
    out.body() = std::move(res.body);
    out.prepare_payload();
    beast::get_lowest_layer(stream).expires_after(opts.write_timeout);
    auto [wec, wn] = co_await bhttp::async_write(stream, out, tuple_awaitable);
    set_busy(conn_id, false);
    if (wec || !keep_alive) break;
  }
  beast::error_code ignored;
  if constexpr (std::is_same_v<S, beast::tcp_stream>) stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  {
    std::lock_guard lk(mu);
    conns.erase(conn_id);
  }
}

Server::Server(net::io_context& io, ServerOptions opts, Router router)
    : impl_(std::make_unique<Impl>(io, std::move(opts), std::move(router))) {}

Server::~Server() = default;

Status Server::reload_tls() {
  if (impl_->opts.tls_cert_file.empty()) return {};
  auto ctx = std::make_shared<net::ssl::context>(net::ssl::context::tls_server);
  try {
    ctx->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                     net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 | net::ssl::context::no_tlsv1_1 |
                     net::ssl::context::single_dh_use);
    ctx->use_certificate_chain_file(impl_->opts.tls_cert_file);
    ctx->use_private_key_file(impl_->opts.tls_key_file, net::ssl::context::pem);
  } catch (const std::exception& e) {
    return Status(Code::invalid_argument, "TLS certificate " + impl_->opts.tls_cert_file + " / key " +
                                              impl_->opts.tls_key_file + ": " + e.what());
  }
  std::lock_guard lk(impl_->mu);
  impl_->tls = std::move(ctx);
  return {};
}

Status Server::start() {
  if (Status st = reload_tls(); !st.ok()) return st;
  beast::error_code ec;
  auto addr = net::ip::make_address(impl_->opts.host, ec);
  if (ec) return Status(Code::invalid_argument, "bad listen address " + impl_->opts.host);
  tcp::endpoint ep(addr, impl_->opts.port);
  auto& a = impl_->acceptor;
  a.open(ep.protocol(), ec);
  if (!ec) a.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(ep, ec);
  if (!ec) a.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status(Code::unavailable, "cannot listen on " + impl_->opts.host + ":" +
                                         std::to_string(impl_->opts.port) + ": " + ec.message());
  }
  port_ = a.local_endpoint().port();
  net::co_spawn(a.get_executor(), impl_->accept_loop(), net::detached);
  return {};
}

void Server::stop_accepting() {
  impl_->accepting.store(false);
  net::post(impl_->acceptor.get_executor(), [impl = impl_.get()] {
    beast::error_code ec;
    impl->acceptor.close(ec);
  });
  // Idle keep-alive connections are closed now; busy ones close after their answer.
  std::lock_guard lk(impl_->mu);
  for (auto& [id, c] : impl_->conns) {
    if (c.busy) continue;
    net::post(c.strand, [s = c.stream, impl = impl_.get(), id = id] {
      std::lock_guard lk2(impl->mu);
      auto it = impl->conns.find(id);
      if (it != impl->conns.end() && !it->second.busy) s->cancel();
    });
  }
}

void Server::close_all() {
  std::lock_guard lk(impl_->mu);
  for (auto& [id, c] : impl_->conns) {
    net::post(c.strand, [s = c.stream, impl = impl_.get(), id = id] {
      std::lock_guard lk2(impl->mu);
      if (impl->conns.count(id)) s->cancel();
    });
  }
}

size_t Server::open_connections() const {
  std::lock_guard lk(impl_->mu);
  return impl_->conns.size();
}

uint64_t Server::accept_pauses() const { return impl_->accept_pauses.load(std::memory_order_relaxed); }

}  // namespace cn::http
