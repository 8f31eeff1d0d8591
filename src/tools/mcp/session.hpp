// A client session with one MCP server over Streamable HTTP (protocol 2025-11-25, the revision
// the deployed SDKs speak): `initialize` on first use, then JSON-RPC requests POSTed with the
// session id and protocol-version headers; answers as JSON or as an SSE stream (progress and
// list_changed notifications are read on the way to the answer). An SSE answer that ends before
// the response (the server closed the stream, as 2025-11-25 servers may to make clients poll) is
// resumed with GET and Last-Event-ID, after the retry delay the server asked for.
//
// Listing: tools/list is paginated (nextCursor) and its result cached in the session until the
// server says notifications/tools/list_changed or the cache ages out.
// Calls: tools/call with a deadline and the run's cancel token; a call given up on (deadline or
// cancel) is followed by notifications/cancelled. A session the server forgot (404) is
// initialized again once. Over stdio (stdio.hpp) the same requests go to a local process.
//
// Notifications outside answers: once a Streamable HTTP session has an id, a standing GET
// stream is opened (text/event-stream, resumed with Last-Event-ID, reopened with backoff) so that
// list_changed reaches the client while no request is in flight. A server that answers 405 has
// no such stream; one that forgot the session gets a new stream after it is initialized again.
// The stream never keeps the Session alive: it ends when the Session is destroyed.
//
// Thread-safety: a Session is shared by the runs that use the same server with the same
// credentials; every member is safe from any thread (state under a mutex, calls are coroutines
// on the caller's executor).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/json/value.hpp>

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/status.hpp"
#include "http/client.hpp"
#include "tools/mcp/stdio.hpp"

namespace cn::tools::mcp {

inline constexpr const char* kProtocolVersion = "2025-11-25";

struct Endpoint {
  std::string url;                                             // http:// or https://
  std::vector<std::pair<std::string, std::string>> headers;    // sent on every request (auth)
};

// One tool as listed by the server.
struct ListedTool {
  std::string name, description;
  boost::json::value input_schema;  // an object
  boost::json::value annotations;   // object or null
  bool read_only = false, idempotent = false;
};

// A tool call's answer: MCP content turned into the text the model reads.
struct CallResult {
  std::string output;  // structuredContent as JSON when present, else the text blocks joined
  bool is_error = false;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(http::Client& client, Endpoint ep, std::chrono::milliseconds list_ttl = std::chrono::minutes(5));
  // A session with a local server over stdio (a new process is initialized again).
  Session(http::Client& client, std::shared_ptr<StdioProcess> proc, std::chrono::milliseconds list_ttl);
  ~Session();

  // How many list_changed notifications arrived on the standing stream (tests, metrics).
  uint64_t stream_notifications() const;

  // The server's tools (every page), from the cache when it is fresh.
  boost::asio::awaitable<Result<std::vector<ListedTool>>> list_tools(std::shared_ptr<http::CancelToken> cancel,
                                                                     std::chrono::steady_clock::time_point deadline);
  // Calls `name` with `arguments` (a JSON object text).
  boost::asio::awaitable<Result<CallResult>> call_tool(std::string name, std::string arguments,
                                                       std::shared_ptr<http::CancelToken> cancel,
                                                       std::chrono::steady_clock::time_point deadline);

 private:
  struct Answer {
    boost::json::value result;
  };
  boost::asio::awaitable<Status> ensure_initialized(std::shared_ptr<http::CancelToken> cancel,
                                                    std::chrono::steady_clock::time_point deadline);
  // One JSON-RPC request; the `result` member of its answer.
  boost::asio::awaitable<Result<boost::json::value>> request(std::string method, boost::json::object params,
                                                             std::shared_ptr<http::CancelToken> cancel,
                                                             std::chrono::steady_clock::time_point deadline,
                                                             bool initializing = false);
  boost::asio::awaitable<void> notify(std::string method, boost::json::object params);
  std::vector<std::pair<std::string, std::string>> headers(bool initializing) const;
  std::optional<Result<boost::json::value>> find_answer(std::vector<boost::json::value> msgs, int64_t id);
  // Drops the cached listing when `msgs` hold notifications/tools/list_changed; true if so.
  bool note_changes(const std::vector<boost::json::value>& msgs);
  // The standing GET stream of session `self` (see above); ends when `self` is gone or `stop` fires.
  static boost::asio::awaitable<void> listen(std::weak_ptr<Session> self, std::shared_ptr<http::CancelToken> stop,
                                             http::Client* client, std::string url);

  http::Client& client_;
  const Endpoint ep_;
  const std::chrono::milliseconds list_ttl_;
  mutable std::mutex mu_;
  bool initialized_ = false;                    // guarded by mu_
  std::string session_id_;                      // guarded by mu_
  std::string version_ = kProtocolVersion;      // guarded by mu_
  int64_t next_id_ = 1;                         // guarded by mu_
  std::optional<std::vector<ListedTool>> tools_;  // guarded by mu_
  std::chrono::steady_clock::time_point listed_at_;  // guarded by mu_
  const std::shared_ptr<StdioProcess> proc_;         // null: Streamable HTTP
  uint64_t init_gen_ = 0, seen_changes_ = 0;          // guarded by mu_ (stdio: the process initialized, changes seen)
  bool listening_ = false;                             // guarded by mu_: a standing stream runs (or is refused)
  std::string stream_last_id_;                         // guarded by mu_
  uint64_t stream_notifications_ = 0;                  // guarded by mu_
  const std::shared_ptr<http::CancelToken> stop_ = std::make_shared<http::CancelToken>();
};

}  // namespace cn::tools::mcp
