// StdioProcess (see stdio.hpp): a local MCP server's process, its stdin/stdout JSON-RPC lines,
// and answers handed to the requests waiting for them.
#include "tools/mcp/stdio.hpp"

#include <boost/asio.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/json.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "base/log.hpp"

namespace cn::tools::mcp {

namespace net = boost::asio;
namespace json = boost::json;
using Clock = std::chrono::steady_clock;

constexpr size_t kMaxLine = 4 << 20;  // bytes of one message from the server

// One request's answer: the message (or a synthetic {"error": {...}}), sent once.
struct StdioProcess::Waiter {
  explicit Waiter(net::any_io_executor ex) : ch(ex, 1) {}
  net::experimental::concurrent_channel<void(boost::system::error_code, json::value)> ch;
  void answer(json::value v) { ch.try_send(boost::system::error_code{}, std::move(v)); }
  void fail(std::string message, std::string kind) {
    answer(json::object{{"error", json::object{{"message", std::move(message)}, {"kind", std::move(kind)}}}});
  }
};

bool StdioServer::allowed_for(const std::string& project) const {
  return projects.empty() || std::find(projects.begin(), projects.end(), project) != projects.end();
}

StdioProcess::StdioProcess(net::any_io_executor ex, StdioServer cfg) : ex_(std::move(ex)), cfg_(std::move(cfg)) {}

StdioProcess::~StdioProcess() {
  std::lock_guard lk(mu_);
  if (pid_ > 0) {
    ::kill(-pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  if (in_fd_ >= 0) ::close(in_fd_);
}

namespace {

std::string resolve(const std::string& cmd) {
  if (cmd.find('/') != std::string::npos) return cmd;
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string cand = dirs.substr(start, end - start) + "/" + cmd;
    if (::access(cand.c_str(), X_OK) == 0) return cand;
    start = end + 1;
  }
  return cmd;
}

}  // namespace

Result<uint64_t> StdioProcess::ensure_running() {
  std::unique_lock lk(mu_);
  if (running_) return generation_;
  auto now = Clock::now();
  if (generation_ > 0 && now - last_spawn_ < std::chrono::seconds(1))
    return Status(Code::unavailable, "MCP server '" + cfg_.label + "' exited and is restarting");
  last_spawn_ = now;
  if (pid_ > 0) {
    ::kill(-pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  if (in_fd_ >= 0) ::close(in_fd_);
  in_fd_ = -1;

  // argv and envp are built before fork(): the child only calls async-signal-safe functions.
  std::vector<std::string> args{resolve(cfg_.command)};
  args.insert(args.end(), cfg_.args.begin(), cfg_.args.end());
  std::vector<std::string> env;
  const char* path = std::getenv("PATH");
  env.push_back(std::string("PATH=") + (path ? path : "/usr/local/bin:/usr/bin:/bin"));
  if (const char* home = std::getenv("HOME")) env.push_back(std::string("HOME=") + home);
  env.push_back("LANG=C.UTF-8");
  for (const auto& [k, v] : cfg_.env) env.push_back(k + "=" + v);
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  int in[2], out[2], err[2];
  if (::pipe2(in, O_CLOEXEC) != 0) return Status(Code::unavailable, "pipe failed");
  if (::pipe2(out, O_CLOEXEC) != 0) {
    ::close(in[0]), ::close(in[1]);
    return Status(Code::unavailable, "pipe failed");
  }
  if (::pipe2(err, O_CLOEXEC) != 0) {
    ::close(in[0]), ::close(in[1]), ::close(out[0]), ::close(out[1]);
    return Status(Code::unavailable, "pipe failed");
  }
  pid_t pid = ::fork();
  if (pid == 0) {
    ::setpgid(0, 0);
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    ::syscall(SYS_close_range, 3u, ~0u, 0u);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(in[0]), ::close(out[1]), ::close(err[1]);
  if (pid < 0) {
    ::close(in[1]), ::close(out[0]), ::close(err[0]);
    return Status(Code::unavailable, "fork failed");
  }
  pid_ = pid;
  in_fd_ = in[1];
  running_ = true;
  uint64_t gen = ++generation_;
  lk.unlock();
  spdlog::info("MCP server '{}': started (pid {})", cfg_.label, pid);
  net::co_spawn(ex_, read_loop(shared_from_this(), out[0], gen), net::detached);
  net::co_spawn(ex_, log_loop(shared_from_this(), err[0]), net::detached);
  return gen;
}

bool StdioProcess::write_line(const std::string& line) {
  int fd;
  {
    std::lock_guard lk(mu_);
    if (!running_) return false;
    fd = in_fd_;
  }
  std::lock_guard wl(write_mu_);
  size_t off = 0;
  while (off < line.size()) {
    ssize_t n = ::write(fd, line.data() + off, line.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

void StdioProcess::notify(std::string method, json::object params) {
  (void)write_line(json::serialize(json::object{{"jsonrpc", "2.0"}, {"method", method}, {"params", params}}) + "\n");
}

net::awaitable<Result<json::value>> StdioProcess::request(std::string method, json::object params,
                                                          std::shared_ptr<http::CancelToken> cancel,
                                                          Clock::time_point deadline) {
  auto ex = co_await net::this_coro::executor;
  auto w = std::make_shared<Waiter>(ex);
  int64_t id;
  {
    std::lock_guard lk(mu_);
    id = next_id_++;
    pending_[id] = w;
  }
  auto forget = [&] {
    std::lock_guard lk(mu_);
    pending_.erase(id);
  };
  if (!write_line(json::serialize(json::object{{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}}) + "\n")) {
    forget();
    co_return Status(Code::unavailable, "MCP server '" + cfg_.label + "' is not running");
  }
  net::steady_timer timer(ex, deadline);
  timer.async_wait([w](boost::system::error_code e) {
    if (!e) w->fail("timed out", "deadline");
  });
  uint64_t hook = 0;
  if (cancel) hook = cancel->add_hook([w] { w->fail("cancelled", "cancelled"); });
  auto [e, msg] = co_await w->ch.async_receive(net::as_tuple(net::use_awaitable));
  timer.cancel();
  if (cancel) cancel->remove_hook(hook);
  forget();
  if (e) co_return Status(Code::unavailable, "MCP server '" + cfg_.label + "': " + e.message());
  auto& o = msg.as_object();
  if (auto* err = o.if_contains("error"); err && err->is_object()) {
    auto* kind = err->as_object().if_contains("kind");
    if (kind && (kind->as_string() == "deadline" || kind->as_string() == "cancelled")) {
      bool deadline_hit = kind->as_string() == "deadline";
      notify("notifications/cancelled", json::object{{"requestId", id}, {"reason", deadline_hit ? "timed out" : "cancelled"}});
      co_return Status(deadline_hit ? Code::deadline_exceeded : Code::cancelled,
                       "MCP server '" + cfg_.label + "': " + (deadline_hit ? "the call timed out" : "the call was cancelled"));
    }
    auto* m = err->as_object().if_contains("message");
    co_return Status(Code::unavailable, "MCP server error: " + (m && m->is_string() ? std::string(m->as_string()) : json::serialize(*err)));
  }
  if (auto* r = o.if_contains("result")) co_return std::move(*r);
  co_return Status(Code::unavailable, "MCP server '" + cfg_.label + "' sent an answer without a result");
}

net::awaitable<void> StdioProcess::read_loop(std::shared_ptr<StdioProcess> self, int fd, uint64_t gen) {
  net::posix::stream_descriptor in(ex_, fd);
  net::streambuf buf(kMaxLine);
  for (;;) {
    auto [e, n] = co_await net::async_read_until(in, buf, '\n', net::as_tuple(net::use_awaitable));
    if (e) break;
    std::string line(net::buffers_begin(buf.data()), net::buffers_begin(buf.data()) + static_cast<std::ptrdiff_t>(n));
    buf.consume(n);
    boost::system::error_code pe;
    auto v = json::parse(line, pe);
    if (pe || !v.is_object()) continue;  // servers may print other things; JSON-RPC lines are objects
    auto& o = v.as_object();
    if (auto* m = o.if_contains("method"); m && m->is_string()) {
      if (m->as_string() == "notifications/tools/list_changed") ++list_changes_;
      continue;  // notifications and server-to-client requests (not offered) are not answers
    }
    auto* id = o.if_contains("id");
    if (!id || !id->is_int64()) continue;
    std::shared_ptr<Waiter> w;
    {
      std::lock_guard lk(mu_);
      if (auto it = pending_.find(id->as_int64()); it != pending_.end()) w = it->second;
    }
    if (w) w->answer(std::move(v));
  }
  died(gen);
}

net::awaitable<void> StdioProcess::log_loop(std::shared_ptr<StdioProcess> self, int fd) {
  net::posix::stream_descriptor err(ex_, fd);
  net::streambuf buf(64 << 10);
  for (;;) {
    auto [e, n] = co_await net::async_read_until(err, buf, '\n', net::as_tuple(net::use_awaitable));
    if (e) break;
    std::string line(net::buffers_begin(buf.data()), net::buffers_begin(buf.data()) + static_cast<std::ptrdiff_t>(n) - 1);
    buf.consume(n);
    spdlog::debug("MCP server '{}': {}", cfg_.label, line);
  }
}

void StdioProcess::died(uint64_t gen) {
  std::map<int64_t, std::shared_ptr<Waiter>> pending;
  {
    std::lock_guard lk(mu_);
    if (gen != generation_) return;
    running_ = false;
    pending.swap(pending_);
    if (pid_ > 0) {
      ::kill(-pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }
  spdlog::warn("MCP server '{}': exited; it is started again on the next call", cfg_.label);
  for (auto& [id, w] : pending) w->fail("the server exited", "exited");
}

}  // namespace cn::tools::mcp
