// The HTTP/1.1 server: listener, keep-alive sessions, limits, deadlines, a router, and a
// streaming writer for Server-Sent Events. The only front header of http/ that handlers see;
// Beast stays inside http/*.cpp.
//
// Threading: the server runs on the io_context it is given (run by a small pool of threads).
// Each connection is a coroutine on its own strand; a handler runs on that strand and may
// co_await anything. Configure (routes) before start(), then read-only.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.hpp"

namespace cn::http {

template <typename T>
using awaitable = boost::asio::awaitable<T>;

struct Request {
  std::string method;  // upper case, e.g. "GET"
  std::string path;    // decoded path, without the query
  std::vector<std::pair<std::string, std::string>> query;  // decoded, in order
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::map<std::string, std::string> params;  // from the route pattern, e.g. {id}
  std::string body;
  std::string request_id;
  boost::asio::any_io_executor executor;  // the connection's strand
  // Headers that whatever checked the request (rate limits) wants on its answer, plain or
  // streamed; the server adds them.
  mutable std::vector<std::pair<std::string, std::string>> answer_headers;

  // The first header with this lower-case name, or nullopt.
  std::optional<std::string_view> header(std::string_view lower_name) const;
  // The first query parameter with this name ("x" and "x[]" are the same), or nullopt.
  std::optional<std::string_view> query_param(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // Set by handlers that wrote their own answer through the Stream (SSE).
  bool streamed = false;

  static Response json(int status, std::string body) {
    Response r;
    r.status = status;
    r.body = std::move(body);
    return r;
  }
};

// The connection, seen by a handler that streams. Confined to the connection's strand.
class Stream {
 public:
  virtual ~Stream() = default;
  // Sends the status line and headers of a chunked text/event-stream answer. False when the
  // client is gone.
  virtual awaitable<bool> start_sse(int status,
                                    std::vector<std::pair<std::string, std::string>> headers) = 0;
  // Writes one chunk; waits until it is handed to the kernel (one write in flight). False when
  // the client is gone or too slow (the write deadline passed); the caller should stop.
  virtual awaitable<bool> write(std::string data) = 0;
  // Ends the chunked body.
  virtual awaitable<void> finish() = 0;
};

using Handler = std::function<awaitable<Response>(Request&, Stream&)>;

// A WebSocket connection, seen by the handler that accepted an upgrade. Confined to the
// connection's strand; text messages. Pings are answered and sent by the server, and a socket
// that hears nothing for ServerOptions::ws_idle_timeout is closed.
class WebSocket {
 public:
  virtual ~WebSocket() = default;
  // The next message; nullopt once the socket is closed (by the peer, the idle timeout, a
  // message over ServerOptions::ws_max_message_bytes — closed with 1009 — or close()).
  virtual awaitable<std::optional<std::string>> receive() = 0;
  // What became of a message given to send().
  enum class Sent { ok, lane_full, closed };
  // Sends `message` on lane `lane` (0: the socket itself) after those queued before it. Each
  // lane's queued bytes are bounded by ServerOptions::ws_max_lane_bytes: past it the message is
  // not queued and lane_full is returned, so that the caller cuts that lane alone (`force`
  // queues the lane's last word anyway). All lanes together are bounded by
  // ws_max_queued_bytes: past it, what is queued is dropped and the socket is closed with 1008
  // and a reason (cut without ceremony if the close frame cannot be written within 5 s).
  // Returns closed once the socket is closed. The caller may be the one that writes the queue
  // out, so it can wait.
  virtual awaitable<Sent> send(std::string message, uint32_t lane = 0, bool force = false) = 0;
  // Closes with `code` and `reason` once what is queued is written (at once when the writer is
  // stuck behind a client that does not read).
  virtual awaitable<void> close(uint16_t code, std::string reason) = 0;
  virtual bool is_open() const = 0;
};

// An upgrade request, seen by its handler: accept() completes the WebSocket handshake. A handler
// that returns without accepting is answered with its Response as plain HTTP; once accepted, its
// Response is ignored and the connection ends when the handler returns.
class Upgrade {
 public:
  virtual ~Upgrade() = default;
  // The socket, or null when the handshake failed.
  virtual awaitable<WebSocket*> accept() = 0;
};
using UpgradeHandler = std::function<awaitable<Response>(Request&, Upgrade&)>;

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;
  size_t max_header_bytes = 16 * 1024;
  size_t max_body_bytes = 8 * 1024 * 1024;
  std::chrono::milliseconds idle_timeout{60'000};     // between requests on a keep-alive link
  std::chrono::milliseconds request_timeout{30'000};  // to read one whole request
  std::chrono::milliseconds write_timeout{30'000};    // for one write to a slow client
  // Connections beyond this are closed as soon as they are accepted (derive it from the
  // descriptor limit: app/descriptors.hpp).
  size_t max_connections = 4096;
  // When accept fails for want of descriptors, how long the listener waits before trying again.
  std::chrono::milliseconds accept_pause{100};
  // WebSocket connections (upgrade routes): a socket silent this long is closed (pings are
  // sent at half of it), the largest message read, and the bytes queued for a client that does
  // not read before its socket is closed.
  std::chrono::milliseconds ws_idle_timeout{120'000};
  size_t ws_max_message_bytes = 8 * 1024 * 1024;
  size_t ws_max_queued_bytes = 16 * 1024 * 1024;
  size_t ws_max_lane_bytes = 4 * 1024 * 1024;
  // HTTPS when both are set (PEM files: the certificate chain and its private key).
  std::string tls_cert_file, tls_key_file;
};

// Routes: "/v1/responses/{id}/cancel". A segment in braces captures into Request::params.
class Router {
 public:
  // Told by the server about every request a route answered: method, route pattern, status
  // (200 for a stream) and seconds from dispatch to the handler's return (a stream's whole life).
  using Observer = std::function<void(std::string_view method, std::string_view pattern, int status, double seconds)>;
  void observe(Observer o) { observer_ = std::make_shared<Observer>(std::move(o)); }
  const Observer* observer() const { return observer_.get(); }
  void add(std::string method, std::string pattern, Handler h);
  // The handler for a request, filling `params` (and `pattern`, when given, with the route's
  // pattern); nullptr with `method_mismatch` set when the path, matched without captures, exists
  // under another method (a path that only fits a route's {capture} under another method is
  // an unknown route).
  const Handler* match(std::string_view method, std::string_view path,
                       std::map<std::string, std::string>& params, bool& method_mismatch,
                       const std::string** pattern = nullptr) const;
  // Every (method, pattern) registered so far, in order (an upgrade route as method "WS").
  std::vector<std::pair<std::string, std::string>> list() const;
  // A WebSocket route: GET requests to `pattern` that ask for an upgrade go to `h`.
  void add_upgrade(std::string pattern, UpgradeHandler h);
  const UpgradeHandler* match_upgrade(std::string_view path, std::map<std::string, std::string>& params) const;

 private:
  struct Route {
    std::string method, pattern;
    std::vector<std::string> segments;
    Handler handler;
  };
  std::vector<Route> routes_;
  struct UpgradeRoute {
    std::string pattern;
    std::vector<std::string> segments;
    UpgradeHandler handler;
  };
  std::vector<UpgradeRoute> upgrades_;
  std::shared_ptr<Observer> observer_;
};

// Builds the body of an error in OpenAI's shape {error:{message,type,param,code}}.
std::string error_body(std::string_view message, std::string_view type, std::string_view param,
                       std::string_view code);

class Server {
 public:
  // `fallback` answers requests no route matches (404/405 bodies).
  Server(boost::asio::io_context& io, ServerOptions opts, Router router);
  ~Server();

  // Binds and starts accepting. Fails when the address cannot be bound or the TLS files do not
  // load.
  Status start();
  // Re-reads the TLS certificate and key (SIGHUP); new connections use them, open ones keep
  // theirs. On failure the current ones stay. Safe from any thread.
  Status reload_tls();
  // The bound port (useful with port 0).
  uint16_t port() const { return port_; }
  // Stops accepting, closes idle connections, and lets in-flight requests finish. Safe from
  // any thread.
  void stop_accepting();
  // Closes every connection still open. Safe from any thread.
  void close_all();
  size_t open_connections() const;
  // How many times accepting paused for want of descriptors since start.
  uint64_t accept_pauses() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  uint16_t port_ = 0;
};

}  // namespace cn::http
