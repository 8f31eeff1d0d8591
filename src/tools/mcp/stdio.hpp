// A local MCP server over stdio, configured by the operator ([[mcp.stdio]] in the configuration):
// the process is spawned on first use (its own process group, only its pipes inherited), sent
// newline-delimited JSON-RPC on stdin and read on stdout; stderr goes to the server's log at
// debug level. When it exits it is spawned again on the next request (at most once a second),
// and `generation()` changes so that the session initializes the new process.
//
// Requests are matched to answers by id; many may be in flight. A request given up on
// (deadline, cancel) is followed by notifications/cancelled. `notifications/tools/list_changed`
// is counted (list_changes()).
//
// Threads: every member is safe from any thread; answers are handed over through thread-safe
// channels. Owned by a shared_ptr (its reader holds one while the process lives).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/json/value.hpp>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/status.hpp"
#include "http/client.hpp"

namespace cn::tools::mcp {

struct StdioServer {
  std::string label;  // what requests name as server_label
  std::string command;
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> env;  // added to a minimal environment (PATH, HOME, LANG)
  std::vector<std::string> projects;                      // empty: every project
  std::vector<std::string> idempotent_tools;
  bool allowed_for(const std::string& project) const;
};

class StdioProcess : public std::enable_shared_from_this<StdioProcess> {
 public:
  StdioProcess(boost::asio::any_io_executor ex, StdioServer cfg);
  ~StdioProcess();

  const StdioServer& config() const { return cfg_; }
  // Spawns the process when it is not running; its generation (changes with every spawn).
  Result<uint64_t> ensure_running();
  // Sends {"method", "params"} with a fresh id and waits for its answer's `result`.
  boost::asio::awaitable<Result<boost::json::value>> request(std::string method, boost::json::object params,
                                                             std::shared_ptr<http::CancelToken> cancel,
                                                             std::chrono::steady_clock::time_point deadline);
  void notify(std::string method, boost::json::object params);
  // How many notifications/tools/list_changed the server has sent (a listing older than a
  // change is stale).
  uint64_t list_changes() const { return list_changes_.load(); }

  struct Waiter;

 private:
  boost::asio::awaitable<void> read_loop(std::shared_ptr<StdioProcess> self, int fd, uint64_t gen);
  boost::asio::awaitable<void> log_loop(std::shared_ptr<StdioProcess> self, int fd);
  bool write_line(const std::string& line);
  void died(uint64_t gen);

  boost::asio::any_io_executor ex_;
  const StdioServer cfg_;
  mutable std::mutex mu_;
  int pid_ = -1, in_fd_ = -1;                          // guarded by mu_
  uint64_t generation_ = 0;                            // guarded by mu_
  bool running_ = false;                               // guarded by mu_
  std::chrono::steady_clock::time_point last_spawn_;   // guarded by mu_
  int64_t next_id_ = 1;                                // guarded by mu_
  std::map<int64_t, std::shared_ptr<Waiter>> pending_;  // guarded by mu_
  std::atomic<uint64_t> list_changes_{0};
  std::mutex write_mu_;
};

}  // namespace cn::tools::mcp
