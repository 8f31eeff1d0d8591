// An HTTP/1.1 client for upstream calls (model providers), with keep-alive connection reuse,
// per-call deadlines, streamed bodies and cancellation.
//
// Thread-safety: a Client is safe from any thread; each call is a coroutine on the caller's
// executor. A CancelToken may be cancelled from any thread.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.hpp"

namespace cn::http {

// Cancels an in-flight call: the connection is closed and the call returns `cancelled`.
class CancelToken {
 public:
  void cancel();
  bool cancelled() const { return cancelled_.load(); }
  // Internal: the call registers how to abort itself; cleared when the call ends.
  void set_hook(std::function<void()> hook);
  void clear_hook();

 private:
  std::atomic<bool> cancelled_{false};
  std::mutex mu_;
  std::function<void()> hook_;  // guarded by mu_
};

struct ClientRequest {
  std::string method = "POST";
  std::string url;  // http://host:port/path
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::chrono::milliseconds timeout{120'000};  // whole call, including a streamed body
};

struct ClientResponse {
  int status = 0;
  std::string body;  // the whole body, unless it was handed to on_data
};

struct ClientOptions {
  // Extra PEM file of CA certificates trusted for https:// upstreams, besides the system's.
  std::string ca_file;
};

class Client {
 public:
  // Fails (throws std::runtime_error, at start-up only) when `ca_file` cannot be loaded.
  explicit Client(ClientOptions opts = {});
  ~Client();

  // Performs the call. When `on_data` is set and the status is 2xx, body bytes are handed to it
  // as they arrive (and not kept in `body`); returning false from it stops reading (the
  // connection is then not reused). Fails with unavailable on connection errors, with
  // deadline_exceeded when `timeout` passes, with cancelled when `cancel` fires.
  boost::asio::awaitable<Result<ClientResponse>> call(
      ClientRequest req, std::function<bool(std::string_view)> on_data = {},
      std::shared_ptr<CancelToken> cancel = {});

  // Drops idle pooled connections.
  void clear_pool();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cn::http
