// Wakes this node when a transaction on the shared store announced a change (Database::notify):
// PostgreSQL's LISTEN on one dedicated connection, read by its own thread.
//
// Every announcement is a payload "topic:rest" on one channel. Delivery is PostgreSQL's: after
// the announcing transaction commits, to every listening connection (the announcing node's
// own included), in commit order, at most once. A notification is a hint, never the data: the
// data is in the store, and a handler reads it there. When the connection is lost, the
// notifications sent meanwhile are lost too; once it is back, every handler is called with an
// empty `rest` ("anything may have changed") so that it can read what it follows again.
//
// Thread-safety: on() before start(); handlers run on the notifier's thread, one at a time, and
// must not block (post work elsewhere). stop() joins the thread; the destructor stops.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>

#include "base/status.hpp"

namespace cn::store {

class Notifier {
 public:
  static constexpr const char* kChannel = "continuum";
  using Handler = std::function<void(std::string_view rest)>;

  explicit Notifier(std::string url);
  ~Notifier();
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // Routes payloads "topic:rest" to `h` (one handler per topic).
  void on(std::string topic, Handler h);
  // Connects and listens (fails if the first connection fails), then reads in a thread that
  // reconnects whenever the connection drops.
  Status start();
  void stop();

  // Notifications delivered and reconnections made, for metrics.
  uint64_t delivered() const { return delivered_.load(); }
  uint64_t reconnects() const { return reconnects_.load(); }

 private:
  struct Conn;
  void loop();
  Status connect();
  void dispatch(std::string_view payload);

  const std::string url_;
  std::unordered_map<std::string, Handler> handlers_;
  std::unique_ptr<Conn> conn_;
  int wake_[2] = {-1, -1};  // a pipe: stop() writes to end the thread's poll
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> delivered_{0}, reconnects_{0};
  std::thread thread_;
};

}  // namespace cn::store
