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

// Cancels in-flight calls: their connections are closed and they return `cancelled`. One token
// may cover several concurrent calls (a run's parallel tool calls); each registers its own hook.
class CancelToken {
 public:
  void cancel();
  bool cancelled() const { return cancelled_.load(); }
  // Registers how to abort one call (run at once, on the cancelling thread, if already
  // cancelled: then the hook runs before add_hook returns). Returns its handle for remove_hook.
  uint64_t add_hook(std::function<void()> hook);
  void remove_hook(uint64_t handle);

 private:
  std::atomic<bool> cancelled_{false};
  std::mutex mu_;
  uint64_t next_ = 1;                                   // guarded by mu_
  std::map<uint64_t, std::function<void()>> hooks_;     // guarded by mu_
};

struct ClientRequest {
  std::string method = "POST";
  std::string url;  // http://host:port/path
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::chrono::milliseconds timeout{120'000};  // whole call, including a streamed body
  // A kept body larger than this fails the call (resource_exhausted); 0 = no limit.
  size_t max_body = 0;
};

struct ClientResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;  // the whole body, unless it was handed to on_data
  // The first header named `name` (lower-case), or "".
  std::string header(std::string_view name) const;
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
