// The code sandbox: runs a snippet of Python or shell in bubblewrap, with a read-only view of the
// system (/usr, /lib, parts of /etc; never the server's data or configuration), a
// private /work directory that persists across the turns of one conversation, no network
// (unless allowed for the project), new user, pid, ipc, uts and network namespaces, no
// capabilities, a seccomp filter (seccomp.hpp), and limits on CPU time, memory, processes, file
// size, wall time and output.
//
// Escapes are contained and reported: a write outside /work fails (read-only), a connection
// fails (no network), a fork bomb meets the process limit, an endless loop meets the CPU or wall
// limit (the whole sandbox is killed), huge output is cut at the output limit.
//
// The warm pool: Python sandboxes are started ahead of need (bubblewrap set up, the interpreter
// loaded) in fresh directories, and wait for a byte on their stdin. A run in a container whose
// directory does not exist yet takes one: its directory is renamed to the container's (the bind
// mount follows the directory), the snippet is written there and the process is woken. Other
// runs (an existing container, shell, network) start cold.
//
// Threads: run() is a coroutine on the caller's executor; it never blocks it (the child's output
// is read asynchronously and its exit is polled). The pool is guarded by a mutex; safe from any
// thread. The destructor kills what is still running or waiting.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/status.hpp"
#include "http/client.hpp"

namespace cn::tools::sandbox {

struct Limits {
  int cpu_seconds = 10;
  int64_t memory_bytes = 512ll << 20;
  int max_processes = 64;
  int64_t max_file_bytes = 64ll << 20;
  size_t max_output_bytes = 64 << 10;
  std::chrono::milliseconds wall{30'000};
};

struct Options {
  std::string bwrap = "/usr/bin/bwrap";
  std::string python = "/usr/bin/python3";
  std::string shell = "/bin/sh";
  std::string setpriv = "/usr/bin/setpriv";  // drops to the sandbox user when the server runs as root
  std::string root;  // where working directories live (one per project and container)
  Limits limits;
  bool allow_network = false;  // for every project
  std::vector<std::string> network_projects;  // projects whose sandboxes may use the network
  int warm_pool = 2;  // Python sandboxes kept started (0: none)
  // The uid the sandbox runs as when the server runs as root (never root itself).
  int uid = 65534, gid = 65534;
};

struct RunResult {
  std::string output;  // stdout and stderr, interleaved, cut at the output limit
  int exit_code = 0;   // -signal when killed by a signal
  bool timed_out = false, truncated = false, warm = false;
  std::chrono::microseconds first_output{0};  // from the request to the first byte of output (0: none)
};

// Owned by a shared_ptr (the pool's refills hold a weak reference).
class Sandbox : public std::enable_shared_from_this<Sandbox> {
 public:
  explicit Sandbox(Options opts);
  ~Sandbox();
  Sandbox(const Sandbox&) = delete;
  Sandbox& operator=(const Sandbox&) = delete;

  // Whether bubblewrap is installed (the code tool is offered only then).
  bool available() const;
  // Starts the warm pool (call once the server is up; a no-op without bubblewrap).
  void warm();
  // Runs `code` ("python" or "shell") in the working directory `workdir` (a name under the
  // root, created on first use) for `project`. Fails only when the sandbox cannot be started;
  // what the code does (errors, limits) is in the result.
  boost::asio::awaitable<Result<RunResult>> run(std::string language, std::string code, std::string workdir,
                                                std::string project, std::shared_ptr<http::CancelToken> cancel,
                                                std::chrono::steady_clock::time_point deadline);

  struct Child {
    int pid = -1;
    int out_fd = -1;  // stdout+stderr, read end
    int in_fd = -1;   // stdin, write end (warm children only)
    std::string dir;  // its working directory on the host
  };

 private:
  Result<Child> spawn(const std::string& dir, bool network, bool warm_python, const std::string& script);
  void refill();
  std::string prepare_dir(const std::string& dir, Status& st) const;

  const Options opts_;
  std::mutex mu_;
  std::deque<Child> pool_;
  bool closed_ = false;
};

}  // namespace cn::tools::sandbox
