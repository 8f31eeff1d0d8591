// Sandbox (see sandbox.hpp): bubblewrap, spawned with resource limits and a seccomp filter, its
// output read asynchronously, its whole process tree killed at the wall limit or on cancel; and
// the warm pool of Python sandboxes waiting for a snippet.
#include "tools/sandbox/sandbox.hpp"

#include <boost/asio.hpp>

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "base/ids.hpp"
#include "base/log.hpp"
#include "tools/sandbox/seccomp.hpp"

namespace cn::tools::sandbox {

namespace net = boost::asio;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kPythonSnippet = ".cn_snippet.py";
constexpr const char* kShellSnippet = ".cn_snippet.sh";
// A warm sandbox's program: say it is ready, wait for the go byte, then run the snippet as
// __main__.
constexpr const char* kWarmBootstrap =
    "import sys\n"
    "sys.stdout.write('\\x06'); sys.stdout.flush()\n"
    "if sys.stdin.buffer.read(1):\n"
    "    p = '/work/.cn_snippet.py'\n"
    "    with open(p) as f: src = f.read()\n"
    "    sys.argv = [p]\n"
    "    exec(compile(src, p, 'exec'), {'__name__': '__main__', '__file__': p, '__builtins__': __builtins__})\n";

constexpr char kReady = '\x06';

// Waits (up to a second) for a warm sandbox's ready byte on its output.
net::awaitable<bool> warm_ready(int out_fd) {
  auto ex = co_await net::this_coro::executor;
  auto d = std::make_shared<net::posix::stream_descriptor>(ex, out_fd);
  net::steady_timer timer(ex, std::chrono::seconds(1));
  timer.async_wait([d](boost::system::error_code e) {
    if (!e) d->cancel();
  });
  char b = 0;
  auto [e, n] = co_await net::async_read(*d, net::buffer(&b, 1), net::as_tuple(net::use_awaitable));
  timer.cancel();
  d->release();  // the descriptor stays open for the run
  co_return !e && n == 1 && b == kReady;
}

void kill_and_reap(const Sandbox::Child& c) {
  if (c.pid > 0) {
    ::kill(-c.pid, SIGKILL);
    ::kill(c.pid, SIGKILL);  // also when its group did not exist yet
    ::waitpid(c.pid, nullptr, 0);
  }
  if (c.out_fd >= 0) ::close(c.out_fd);
  if (c.in_fd >= 0) ::close(c.in_fd);
}

}  // namespace

Sandbox::Sandbox(Options opts) : opts_(std::move(opts)) {}

Sandbox::~Sandbox() {
  std::deque<Child> pool;
  {
    std::lock_guard lk(mu_);
    closed_ = true;
    pool.swap(pool_);
  }
  for (auto& c : pool) {
    kill_and_reap(c);
    std::error_code ec;
    fs::remove_all(c.dir, ec);
  }
}

bool Sandbox::available() const { return ::access(opts_.bwrap.c_str(), X_OK) == 0; }

std::string Sandbox::prepare_dir(const std::string& dir, Status& st) const {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) st = Status(Code::unavailable, "cannot create the sandbox's working directory: " + ec.message());
  else if (::geteuid() == 0) ::chown(dir.c_str(), static_cast<uid_t>(opts_.uid), static_cast<gid_t>(opts_.gid));
  return dir;
}

Result<Sandbox::Child> Sandbox::spawn(const std::string& dir, bool network, bool warm_python, const std::string& script) {
  const bool as_root = ::geteuid() == 0;
  const std::string& filter = filter_program();
  // Only the system is visible (read-only): not the server's data, configuration or home.
  std::vector<std::string> args = {opts_.bwrap, "--ro-bind", "/usr", "/usr", "--ro-bind-try", "/bin", "/bin",
                                   "--ro-bind-try", "/sbin", "/sbin", "--ro-bind-try", "/lib", "/lib",
                                   "--ro-bind-try", "/lib64", "/lib64", "--ro-bind-try", "/etc/alternatives", "/etc/alternatives",
                                   "--ro-bind-try", "/etc/ssl", "/etc/ssl", "--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache",
                                   "--ro-bind-try", "/etc/localtime", "/etc/localtime",
                                   "--dev", "/dev", "--proc", "/proc",
                                   "--tmpfs", "/tmp", "--bind", dir, "/work", "--chdir", "/work", "--remount-ro", "/",
                                   "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
                                   "--die-with-parent", "--new-session", "--cap-drop", "ALL", "--hostname", "sandbox",
                                   "--clearenv", "--setenv", "HOME", "/work", "--setenv", "PATH", "/usr/local/bin:/usr/bin:/bin",
                                   "--setenv", "LANG", "C.UTF-8"};
  if (!network) args.push_back("--unshare-net");
  if (!filter.empty()) args.insert(args.end(), {"--seccomp", "3"});
  args.push_back("--");
  if (as_root) {
    // bwrap sets the sandbox up as root (it must reach the working directory inside the
    // server's private data directory); setpriv then becomes the sandbox user for good.
    args.insert(args.end() - 1, {"--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP"});
    args.insert(args.end(), {opts_.setpriv, "--reuid=" + std::to_string(opts_.uid), "--regid=" + std::to_string(opts_.gid),
                             "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"});
  } else {
    // Unprivileged: a user namespace maps the sandbox to the server's own user.
    args.insert(args.end() - 1, "--unshare-user");
  }
  if (warm_python) args.insert(args.end(), {opts_.python, "-I", "-c", kWarmBootstrap});
  else if (script == kPythonSnippet) args.insert(args.end(), {opts_.python, "-I", std::string("/work/") + script});
  else args.insert(args.end(), {opts_.shell, std::string("/work/") + script});

  // Everything the child needs is prepared before fork(): between fork and exec only
  // async-signal-safe calls are allowed (no allocation).
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int filter_fd = -1;
  if (!filter.empty()) {
    filter_fd = ::memfd_create("cn-seccomp", MFD_CLOEXEC);
    if (filter_fd < 0 || ::write(filter_fd, filter.data(), filter.size()) != static_cast<ssize_t>(filter.size()) ||
        ::lseek(filter_fd, 0, SEEK_SET) != 0) {
      if (filter_fd >= 0) ::close(filter_fd);
      return Status(Code::unavailable, "cannot prepare the seccomp filter");
    }
  }
  int out[2] = {-1, -1}, in[2] = {-1, -1};
  if (::pipe2(out, O_CLOEXEC) != 0 || (warm_python && ::pipe2(in, O_CLOEXEC) != 0)) {
    for (int fd : {filter_fd, out[0], out[1]})
      if (fd >= 0) ::close(fd);
    return Status(Code::unavailable, "pipe failed");
  }
  const Limits lim = opts_.limits;
  pid_t pid = ::fork();
  if (pid == 0) {
    // The child: its own process group (killed as one), only the descriptors it is given,
    // limits, the sandbox user, then bwrap.
    ::setpgid(0, 0);
    int stdin_fd = in[0] >= 0 ? in[0] : ::open("/dev/null", O_RDONLY);
    ::dup2(stdin_fd, 0);
    ::dup2(out[1], 1);
    ::dup2(out[1], 2);
    // The seccomp program becomes fd 3; every other descriptor of the server is closed.
    if (filter_fd >= 0) {
      if (filter_fd == 3) ::fcntl(3, F_SETFD, 0);
      else ::dup2(filter_fd, 3);
    }
    ::syscall(SYS_close_range, filter_fd >= 0 ? 4u : 3u, ~0u, 0u);
    auto limit = [](int res, rlim_t v) {
      rlimit r{v, v};
      ::setrlimit(res, &r);
    };
    limit(RLIMIT_CPU, static_cast<rlim_t>(lim.cpu_seconds));
    limit(RLIMIT_AS, static_cast<rlim_t>(lim.memory_bytes));
    limit(RLIMIT_FSIZE, static_cast<rlim_t>(lim.max_file_bytes));
    limit(RLIMIT_CORE, 0);
    // Processes are counted per user: as root, the sandbox user's (root itself is exempt).
    if (as_root) limit(RLIMIT_NPROC, static_cast<rlim_t>(lim.max_processes));
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  // The child's group exists before fork() returns here, not only once the child has run:
  // a kill of the group right after a spawn (a shutdown at start-up) must reach it.
  if (pid > 0) ::setpgid(pid, pid);
  ::close(out[1]);
  if (in[0] >= 0) ::close(in[0]);
  if (filter_fd >= 0) ::close(filter_fd);
  if (pid < 0) {
    ::close(out[0]);
    if (in[1] >= 0) ::close(in[1]);
    return Status(Code::unavailable, "fork failed");
  }
  return Child{pid, out[0], in[1], dir};
}

void Sandbox::warm() {
  if (!available()) return;
  // Pool directories a killed server left behind.
  std::error_code ec;
  for (auto it = fs::directory_iterator(opts_.root, ec); !ec && it != fs::directory_iterator(); it.increment(ec))
    if (it->path().filename().string().rfind(".warm", 0) == 0) fs::remove_all(it->path(), ec);
  if (opts_.warm_pool > 0) refill();
}

void Sandbox::refill() {
  for (;;) {
    {
      std::lock_guard lk(mu_);
      if (closed_ || pool_.size() >= static_cast<size_t>(opts_.warm_pool)) return;
    }
    Status st;
    // Pool directories start with '.', which no container's directory does.
    std::string dir = prepare_dir((fs::path(opts_.root) / ("." + new_id("warm"))).string(), st);
    if (!st.ok()) return;
    auto child = spawn(dir, false, true, kPythonSnippet);
    if (!child.ok()) {
      spdlog::warn("code sandbox: warm pool: {}", child.status().message());
      return;
    }
    std::lock_guard lk(mu_);
    pool_.push_back(*child);
  }
}

net::awaitable<Result<RunResult>> Sandbox::run(std::string language, std::string code, std::string workdir,
                                               std::string project, std::shared_ptr<http::CancelToken> cancel,
                                               Clock::time_point deadline) {
  if (!available()) co_return Status(Code::unavailable, "the code sandbox is not installed (bubblewrap)");
  if (!valid_id_syntax(workdir, 200)) co_return Status(Code::invalid_argument, "invalid working directory name");
  if (language != "python" && language != "shell")
    co_return Status(Code::invalid_argument, "language must be 'python' or 'shell'");
  const auto started = Clock::now();
  const bool network = opts_.allow_network || std::find(opts_.network_projects.begin(), opts_.network_projects.end(),
                                                        project) != opts_.network_projects.end();
  const fs::path dir = fs::path(opts_.root) / workdir;
  const std::string script = language == "python" ? kPythonSnippet : kShellSnippet;
  const bool as_root = ::geteuid() == 0;
  RunResult res;

  // A new container's Python run takes a warm sandbox: its directory becomes the container's.
  Child child;
  std::error_code ec;
  if (language == "python" && !network && !fs::exists(dir, ec)) {
    std::optional<Child> w;
    {
      std::lock_guard lk(mu_);
      if (!pool_.empty()) {
        w = pool_.front();
        pool_.pop_front();
      }
    }
    if (w) {
      // Ready means bwrap has mounted its directory (so the rename cannot race the mount) and
      // the interpreter has loaded.
      bool alive = co_await warm_ready(w->out_fd);
      if (alive && ::renameat2(AT_FDCWD, w->dir.c_str(), AT_FDCWD, dir.c_str(), RENAME_NOREPLACE) == 0) {
        w->dir = dir.string();
        child = *w;
        res.warm = true;
      } else {
        kill_and_reap(*w);
        fs::remove_all(w->dir, ec);
      }
    }
  }
  Status st;
  if (!res.warm) prepare_dir(dir.string(), st);
  if (!st.ok()) co_return st;

  // The snippet goes in through a file in /work (not argv: no size or quoting limits).
  {
    FILE* f = std::fopen((dir / script).c_str(), "w");
    if (!f) {
      if (res.warm) kill_and_reap(child);
      co_return Status(Code::unavailable, "cannot write the snippet");
    }
    std::fwrite(code.data(), 1, code.size(), f);
    std::fclose(f);
    if (as_root) ::chown((dir / script).c_str(), static_cast<uid_t>(opts_.uid), static_cast<gid_t>(opts_.gid));
  }
  if (res.warm) {
    char go = 1;
    bool woke = ::write(child.in_fd, &go, 1) == 1;
    ::close(child.in_fd);
    child.in_fd = -1;
    if (!woke) {
      kill_and_reap(child);
      co_return Status(Code::unavailable, "the warm sandbox did not start");
    }
  } else {
    auto c = spawn(dir.string(), network, false, script);
    if (!c.ok()) co_return c.status();
    child = *c;
  }
  auto ex = co_await net::this_coro::executor;
  // The pool is refilled after this run's first read is under way (a spawn costs a fork).
  if (opts_.warm_pool > 0 && res.warm)
    net::post(ex, [self = weak_from_this()] {
      if (auto s = self.lock()) s->refill();
    });
  // What the timer and cancel handlers touch is shared with them: they may run after this
  // frame has moved on.
  struct Watch {
    net::posix::stream_descriptor out;
    pid_t pid;
    bool killed = false, timed_out = false;
    void kill() {
      if (!killed) ::kill(-pid, SIGKILL);
      killed = true;
    }
  };
  auto w = std::make_shared<Watch>(Watch{net::posix::stream_descriptor(ex, child.out_fd), child.pid});
  const pid_t pid = child.pid;
  net::steady_timer wall(ex, std::min(deadline, Clock::now() + opts_.limits.wall));
  wall.async_wait([w](boost::system::error_code e) {
    if (e) return;
    w->timed_out = true;
    w->kill();
    w->out.cancel();
  });
  uint64_t hook = 0;
  if (cancel) hook = cancel->add_hook([w, ex] { net::post(ex, [w] { w->out.cancel(); }); });
  char buf[8192];
  for (;;) {
    auto [e, n] = co_await w->out.async_read_some(net::buffer(buf), net::as_tuple(net::use_awaitable));
    if (n > 0) {
      if (res.first_output.count() == 0)
        res.first_output = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started);
      size_t room = opts_.limits.max_output_bytes - std::min(opts_.limits.max_output_bytes, res.output.size());
      res.output.append(buf, std::min(room, n));
      if (n > room) {
        res.truncated = true;
        w->kill();
        break;
      }
    }
    if (e) break;
    if (cancel && cancel->cancelled()) {
      w->kill();
      break;
    }
  }
  if (cancel) cancel->remove_hook(hook);
  wall.cancel();
  if (cancel && cancel->cancelled()) w->kill();
  // Reap: the process has closed its output; it exits at once (or was killed).
  int status = 0;
  for (int i = 0; i < 400; ++i) {
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid || r < 0) break;
    if (i == 200) w->kill();
    net::steady_timer t(ex, std::chrono::milliseconds(5));
    co_await t.async_wait(net::as_tuple(net::use_awaitable));
  }
  res.timed_out = w->timed_out;
  ::kill(-pid, SIGKILL);  // stragglers of the group (the pid namespace dies with bwrap anyway)
  res.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? -WTERMSIG(status) : 0;
  // bwrap exits with 128 + N when the code was killed by signal N.
  if (res.exit_code > 128 && res.exit_code < 128 + 32) res.exit_code = -(res.exit_code - 128);
  std::remove((dir / script).c_str());
  co_return res;
}

}  // namespace cn::tools::sandbox
