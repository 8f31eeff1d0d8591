// continuum-bench: the load generator for `make bench`.
//
// It starts a zero-latency OpenAI-compatible upstream in this process, starts the real
// `continuum` binary pointed at it, and measures, in the same run:
//   - per-turn latency through Continuum at history lengths 10 and 1000 (each measured turn
//     branches from the same tip, so the history length stays fixed), and the baseline: a
//     stateless client sending the same turn with its full history straight to the upstream;
//   - durable turns per second at concurrency 1 and 64 (fresh chains, store: true), with the
//     bytes written to disk per turn (/proc/PID/io) when each turn commits alone (1) and when
//     commits are grouped (64);
//   - bytes stored per turn (database growth over a 1000-turn chain, after the server's final
//     checkpoint) against the turn's JSON content (request body + response body);
//   - resume: a fresh process continuing the 1000-turn chain, from exec to the first streamed
//     token (p50 over several restarts);
//   - the server's peak resident memory.
// With --before BIN, another build (the previous storage format, say) is measured in the same
// run, interleaved with this one (latency sample by sample, throughput in alternating windows),
// and the report puts each figure next to its before-value.
// Results go to bench/results/responses.{md,json}.
#include <CLI/CLI.hpp>
#include <boost/asio.hpp>
#include <boost/json.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <numeric>
#include <sstream>
#include <thread>

#include "base/log.hpp"
#include "http/client.hpp"
#include "http/server.hpp"

namespace net = boost::asio;
namespace json = boost::json;
using namespace cn;
using Clock = std::chrono::steady_clock;

namespace {

const std::string kKey = "ck_bench_key_0000000000";

// ---- the zero-latency upstream ----------------------------------------------------------------

std::string upstream_reply() {
  std::string out;
  auto chunk = [&](const std::string& delta, const char* finish) {
    json::object c{{"id", "chatcmpl-b"}, {"object", "chat.completion.chunk"}, {"created", 1}, {"model", "bench"}};
    json::object d;
    if (!delta.empty()) d["content"] = delta;
    c["choices"] = json::array{json::object{{"index", 0}, {"delta", d}, {"finish_reason", finish ? json::value(finish) : json::value(nullptr)}}};
    out += "data: " + json::serialize(c) + "\n\n";
  };
  chunk("Sure, ", nullptr);
  chunk("noted.", nullptr);
  chunk("", "stop");
  out += R"(data: {"id":"chatcmpl-b","object":"chat.completion.chunk","created":1,"model":"bench","choices":[],"usage":{"prompt_tokens":10,"completion_tokens":2,"total_tokens":12}})" "\n\n";
  out += "data: [DONE]\n\n";
  return out;
}

struct Upstream {
  net::io_context io{1};
  std::unique_ptr<http::Server> server;
  std::thread thread;
  uint16_t port = 0;
  std::atomic<uint64_t> requests{0}, bytes{0};

  void start() {
    http::Router r;
    std::string reply = upstream_reply();
    r.add("POST", "/v1/chat/completions", [this, reply](http::Request& req, http::Stream&) -> net::awaitable<http::Response> {
      ++requests;
      bytes += req.body.size();
      http::Response res;
      res.content_type = "text/event-stream";
      res.body = reply;
      co_return res;
    });
    http::ServerOptions o;
    o.port = 0;
    o.max_body_bytes = 256 * 1024 * 1024;
    server = std::make_unique<http::Server>(io, o, std::move(r));
    if (!server->start().ok()) throw std::runtime_error("upstream did not start");
    port = server->port();
    thread = std::thread([this] { io.run(); });
  }
  void stop() {
    io.stop();
    thread.join();
  }
};

// ---- the server process -----------------------------------------------------------------------

struct ServerProc {
  static inline int next_port_ = 0;
  pid_t pid = -1;
  uint16_t port = 0;
  std::string data;

  // Starts the server on `dir` (emptied first when `fresh`).
  void start(const std::string& bin, uint16_t upstream_port, const std::string& dir, bool fresh = true) {
    data = dir;
    if (fresh) {
      std::filesystem::remove_all(dir);
      std::filesystem::create_directories(dir);
    }
    if (port == 0) port = static_cast<uint16_t>(20000 + (getpid() % 20000) + (next_port_++ % 7) * 3);
    pid = fork();
    if (pid == 0) {
      setenv("CONTINUUM_API_KEY", kKey.c_str(), 1);
      std::string up = "http://127.0.0.1:" + std::to_string(upstream_port) + "/v1";
      setenv("CONTINUUM_UPSTREAM_URL", up.c_str(), 1);
      std::string listen = "127.0.0.1:" + std::to_string(port);
      int devnull = open("/dev/null", O_WRONLY);
      dup2(devnull, 1);
      dup2(devnull, 2);
      execl(bin.c_str(), bin.c_str(), "serve", "--listen", listen.c_str(), "--data", dir.c_str(),
            "--log-level", "warn", nullptr);
      _exit(127);
    }
  }
  void stop() {
    if (pid > 0) {
      kill(pid, SIGTERM);
      int st;
      waitpid(pid, &st, 0);
      pid = -1;
    }
  }
  long proc_value(const std::string& file, const std::string& key) const {
    std::ifstream f("/proc/" + std::to_string(pid) + "/" + file);
    std::string line;
    while (std::getline(f, line)) {
      if (line.rfind(key, 0) == 0) return std::atol(line.c_str() + key.size());
    }
    return -1;
  }
  long peak_rss_kb() const { return proc_value("status", "VmHWM:"); }
  // CPU time (user + system) the server has used, in milliseconds.
  double cpu_ms() const {
    std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    auto close = stat.rfind(')');
    if (close == std::string::npos) return 0;
    std::istringstream in(stat.substr(close + 2));
    std::string field;
    double ticks = 0;
    for (int i = 3; i <= 15 && in >> field; ++i)
      if (i == 14 || i == 15) ticks += std::stod(field);  // utime, stime
    return ticks * 1000.0 / static_cast<double>(sysconf(_SC_CLK_TCK));
  }
  long write_bytes() const { return proc_value("io", "write_bytes:"); }
};

// ---- measurement helpers ----------------------------------------------------------------------

struct Stats {
  std::vector<double> ms;
  double pct(double p) {
    if (ms.empty()) return 0;
    std::sort(ms.begin(), ms.end());
    size_t i = std::min(ms.size() - 1, static_cast<size_t>(p * static_cast<double>(ms.size())));
    return ms[i];
  }
};

template <typename F>
auto run_sync(net::io_context& io, F&& f) {
  using T = typename decltype(f())::value_type;
  std::optional<T> out;
  net::co_spawn(io, [&]() -> net::awaitable<void> { out.emplace(co_await f()); }, net::detached);
  io.restart();
  io.run();
  return std::move(*out);
}

struct Driver {
  http::Client client;
  std::string base;

  net::awaitable<std::string> turn(const std::string& input, const std::string& prev) {
    json::object b{{"model", "bench-model"}, {"input", input}};
    if (!prev.empty()) b["previous_response_id"] = prev;
    http::ClientRequest r;
    r.url = base + "/v1/responses";
    r.headers = {{"authorization", "Bearer " + kKey}, {"content-type", "application/json"}};
    r.body = json::serialize(b);
    auto res = co_await client.call(std::move(r));
    if (!res.ok() || res->status != 200) {
      std::cerr << "turn failed: " << (res.ok() ? res->body : res.status().message()) << "\n";
      co_return std::string();
    }
    auto v = json::parse(res->body);
    co_return std::string(v.at("id").as_string());
  }
};

// The stateless baseline: the client holds the history and sends all of it every turn.
net::awaitable<bool> baseline_turn(http::Client& client, const std::string& url, json::array& history,
                                   const std::string& input) {
  json::array msgs = history;
  msgs.push_back(json::object{{"role", "user"}, {"content", input}});
  json::object body{{"model", "bench-model"}, {"messages", std::move(msgs)}, {"stream", true},
                    {"stream_options", json::object{{"include_usage", true}}}};
  http::ClientRequest r;
  r.url = url;
  r.headers = {{"content-type", "application/json"}};
  r.body = json::serialize(body);
  std::string text;
  std::function<bool(std::string_view)> on_data = [&](std::string_view d) { text.append(d); return true; };
  auto res = co_await client.call(std::move(r), std::move(on_data));
  co_return res.ok() && res->status == 200 && text.find("[DONE]") != std::string::npos;
}

// CPU time (user + system) this process (client and upstream) has used, in milliseconds.
double self_cpu_ms() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  auto ms = [](const timeval& t) { return static_cast<double>(t.tv_sec) * 1000 + static_cast<double>(t.tv_usec) / 1000; };
  return ms(ru.ru_utime) + ms(ru.ru_stime);
}

std::string fixed(double v, int prec = 3) {
  std::ostringstream o;
  o.setf(std::ios::fixed);
  o.precision(prec);
  o << v;
  return o.str();
}

struct Figures {
  json::array latency;
  json::array throughput;
  double stored_per_turn = 0, content_per_turn = 0;
  double resume_p50_ms = 0, resume_p99_ms = 0;
  long peak_rss_kb = 0;
};

struct Options {
  int samples = 300;
  int duration_s = 5;
  std::vector<int> histories{10, 1000};
  int resume_runs = 9;
  int chain_for_storage = 1000;
};

long file_size(const std::string& path) {
  std::error_code ec;
  auto n = std::filesystem::file_size(path, ec);
  return ec ? 0 : static_cast<long>(n);
}

bool wait_ready(net::io_context& io, Driver& drv) {
  for (int i = 0; i < 4000; ++i) {
    http::ClientRequest r;
    r.method = "GET";
    r.url = drv.base + "/healthz";
    auto ok = run_sync(io, [&]() -> net::awaitable<std::optional<bool>> {
      auto res = co_await drv.client.call(r);
      co_return res.ok() && res->status == 200;
    });
    if (*ok) return true;
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  return false;
}

// One streamed turn continuing `prev`; returns the time its first text delta arrived.
std::optional<Clock::time_point> first_token(net::io_context& io, Driver& drv, const std::string& prev) {
  json::object b{{"model", "bench-model"}, {"input", "resumed turn"}, {"previous_response_id", prev}, {"stream", true}};
  std::optional<Clock::time_point> at;
  for (int attempt = 0; attempt < 20000 && !at; ++attempt) {
    http::ClientRequest r;
    r.url = drv.base + "/v1/responses";
    r.headers = {{"authorization", "Bearer " + kKey}, {"content-type", "application/json"}};
    r.body = json::serialize(b);
    bool refused = false;
    run_sync(io, [&]() -> net::awaitable<std::optional<bool>> {
      std::function<bool(std::string_view)> on_data = [&](std::string_view d) {
        if (!at && d.find("response.output_text.delta") != std::string_view::npos) at = Clock::now();
        return true;
      };
      auto res = co_await drv.client.call(std::move(r), std::move(on_data));
      refused = !res.ok();
      co_return true;
    });
    if (refused) std::this_thread::sleep_for(std::chrono::microseconds(200));
    else if (!at) return std::nullopt;
  }
  return at;
}

// One build under test: its server process, its client, and what was measured of it.
struct Suite {
  std::string bin, label, dir;
  ServerProc server;
  Driver drv;
  Figures f;
  std::vector<std::string> worker_tips;  // throughput chains, kept across windows
  struct Window {
    uint64_t done = 0;
    double secs = 0, server_cpu_ms = 0, self_cpu_ms = 0;
    long bytes = 0;
    Stats lat;
  };
  std::map<int, Window> windows;  // by concurrency
};

std::string chain_input(int i) {
  return "turn " + std::to_string(i) + ": please remember the number " + std::to_string(i * 7919) + ".";
}

// One throughput window of `secs` seconds at `conc` workers, each continuing its own chain.
void throughput_window(net::io_context& io, Suite& s, int conc, double secs) {
  auto& w = s.windows[conc];
  if (s.worker_tips.size() < static_cast<size_t>(conc)) s.worker_tips.resize(static_cast<size_t>(conc));
  std::atomic<uint64_t> done{0};
  std::mutex mu;
  auto until = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(secs));
  long w0 = s.server.write_bytes();
  double server_cpu0 = s.server.cpu_ms(), self_cpu0 = self_cpu_ms();
  auto t0 = Clock::now();
  for (int k = 0; k < conc; ++k) {
    net::co_spawn(io, [&, k]() -> net::awaitable<void> {
      auto& tip = s.worker_tips[static_cast<size_t>(k)];
      int i = 0;
      while (Clock::now() < until) {
        auto a = Clock::now();
        auto next = co_await s.drv.turn("worker " + std::to_string(k) + " turn " + std::to_string(i++), tip);
        if (next.empty()) co_return;
        tip = next;
        double ms = std::chrono::duration<double, std::milli>(Clock::now() - a).count();
        ++done;
        std::lock_guard lk(mu);
        w.lat.ms.push_back(ms);
      }
    }, net::detached);
  }
  io.restart();
  io.run();
  w.secs += std::chrono::duration<double>(Clock::now() - t0).count();
  w.done += done.load();
  w.bytes += s.server.write_bytes() - w0;
  w.server_cpu_ms += s.server.cpu_ms() - server_cpu0;
  w.self_cpu_ms += self_cpu_ms() - self_cpu0;
}

// Bytes stored per turn and resume, on a fresh data directory of its own.
void storage_and_resume(net::io_context& io, Suite& s, Upstream& upstream, const Options& o) {
  std::string sdir = s.dir + "-storage";
  ServerProc s2;
  s2.start(s.bin, upstream.port, sdir);
  Driver d2;
  d2.base = "http://127.0.0.1:" + std::to_string(s2.port);
  if (!wait_ready(io, d2)) throw std::runtime_error(s.label + ": server did not start");
  s2.stop();
  long empty = file_size(sdir + "/continuum.db") + file_size(sdir + "/continuum.db-wal");
  s2.start(s.bin, upstream.port, sdir, false);
  if (!wait_ready(io, d2)) throw std::runtime_error(s.label + ": server did not restart");
  std::string tip;
  double content = 0;
  for (int i = 0; i < o.chain_for_storage; ++i) {
    json::object b{{"model", "bench-model"}, {"input", chain_input(i)}};
    if (!tip.empty()) b["previous_response_id"] = tip;
    http::ClientRequest r;
    r.url = d2.base + "/v1/responses";
    r.headers = {{"authorization", "Bearer " + kKey}, {"content-type", "application/json"}};
    r.body = json::serialize(b);
    content += static_cast<double>(r.body.size());
    auto res = run_sync(io, [&]() -> net::awaitable<std::optional<Result<http::ClientResponse>>> { co_return co_await d2.client.call(r); });
    if (!res->ok() || (*res)->status != 200) throw std::runtime_error("a storage turn failed");
    content += static_cast<double>((*res)->body.size());
    tip = std::string(json::parse((*res)->body).at("id").as_string());
  }
  s2.stop();
  long full = file_size(sdir + "/continuum.db") + file_size(sdir + "/continuum.db-wal");
  s.f.stored_per_turn = static_cast<double>(full - empty) / o.chain_for_storage;
  s.f.content_per_turn = content / o.chain_for_storage;
  std::cerr << s.label << ": stored " << fixed(s.f.stored_per_turn, 0) << " B/turn for " << fixed(s.f.content_per_turn, 0) << " B of JSON\n";

  // Resume: a fresh process continues the chain; exec to first token.
  Stats resume;
  for (int i = 0; i < o.resume_runs; ++i) {
    d2.client.clear_pool();
    auto t0 = Clock::now();
    s2.start(s.bin, upstream.port, sdir, false);
    auto at = first_token(io, d2, tip);
    if (!at) throw std::runtime_error("the resumed turn failed");
    resume.ms.push_back(std::chrono::duration<double, std::milli>(*at - t0).count());
    s2.stop();
  }
  s.f.resume_p50_ms = resume.pct(0.5);
  s.f.resume_p99_ms = resume.pct(0.99);
  std::cerr << s.label << ": resume p50 " << fixed(s.f.resume_p50_ms) << " ms\n";
  std::filesystem::remove_all(sdir);
}

// Measures every suite in the same run, interleaved so that the machine's noise hits them
// alike: latency sample by sample (each suite, then the stateless baseline), throughput in
// alternating windows; storage and resume one suite after the other.
void run_suites(std::vector<Suite*> suites, Upstream& upstream, const Options& o) {
  net::io_context io(1);
  for (auto* s : suites) {
    s->dir = (std::filesystem::temp_directory_path() / ("continuum-bench-" + std::to_string(getpid()) + "-" + s->label)).string();
    s->server.start(s->bin, upstream.port, s->dir);
    s->drv.base = "http://127.0.0.1:" + std::to_string(s->server.port);
    if (!wait_ready(io, s->drv)) throw std::runtime_error(s->label + ": server did not start");
  }
  std::string upstream_url = "http://127.0.0.1:" + std::to_string(upstream.port) + "/v1/chat/completions";
  for (int h : o.histories) {
    // Build each chain (and the baseline's identical history).
    std::vector<std::string> tips(suites.size());
    json::array history;
    for (int i = 0; i < h; ++i) {
      std::string in = chain_input(i);
      for (size_t k = 0; k < suites.size(); ++k)
        tips[k] = run_sync(io, [&]() -> net::awaitable<std::optional<std::string>> { co_return co_await suites[k]->drv.turn(in, tips[k]); }).value();
      history.push_back(json::object{{"role", "user"}, {"content", in}});
      history.push_back(json::object{{"role", "assistant"}, {"content", "Sure, noted."}});
    }
    std::vector<Stats> cont(suites.size());
    Stats base;
    for (int n = 0; n < o.samples; ++n) {
      std::string in = "measured turn " + std::to_string(n);
      for (size_t k = 0; k < suites.size(); ++k) {
        auto t0 = Clock::now();
        auto id = run_sync(io, [&]() -> net::awaitable<std::optional<std::string>> { co_return co_await suites[k]->drv.turn(in, tips[k]); });
        if (id->empty()) throw std::runtime_error("a measured turn failed");
        cont[k].ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      }
      auto t1 = Clock::now();
      auto ok = run_sync(io, [&]() -> net::awaitable<std::optional<bool>> { co_return co_await baseline_turn(suites[0]->drv.client, upstream_url, history, in); });
      if (!*ok) throw std::runtime_error("a baseline turn failed");
      base.ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t1).count());
    }
    double b50 = base.pct(0.5), b99 = base.pct(0.99);
    for (size_t k = 0; k < suites.size(); ++k) {
      double c50 = cont[k].pct(0.5), c99 = cont[k].pct(0.99);
      suites[k]->f.latency.push_back(json::object{{"history", h}, {"continuum_p50_ms", c50}, {"continuum_p99_ms", c99},
                                                  {"baseline_p50_ms", b50}, {"baseline_p99_ms", b99},
                                                  {"added_p50_ms", c50 - b50}, {"added_p99_ms", c99 - b99}});
      std::cerr << suites[k]->label << ": history " << h << ": added p50 " << fixed(c50 - b50) << " ms\n";
    }
  }

  constexpr int kRounds = 5;
  for (int conc : {1, 64}) {
    for (int r = 0; r < kRounds; ++r)
      for (auto* s : suites) throughput_window(io, *s, conc, static_cast<double>(o.duration_s) / kRounds);
    for (auto* s : suites) {
      auto& w = s->windows[conc];
      double n = std::max<double>(1, static_cast<double>(w.done));
      double tps = static_cast<double>(w.done) / w.secs;
      s->f.throughput.push_back(json::object{{"concurrency", conc}, {"turns_per_second", tps}, {"p50_ms", w.lat.pct(0.5)},
                                             {"p99_ms", w.lat.pct(0.99)}, {"disk_write_bytes_per_turn", static_cast<double>(w.bytes) / n},
                                             {"server_cpu_us_per_turn", w.server_cpu_ms * 1000 / n},
                                             {"bench_cpu_us_per_turn", w.self_cpu_ms * 1000 / n}});
      std::cerr << s->label << ": concurrency " << conc << ": " << fixed(tps, 0) << " turns/s, "
                << fixed(static_cast<double>(w.bytes) / n, 0) << " B/turn\n";
    }
  }
  for (auto* s : suites) {
    s->f.peak_rss_kb = s->server.peak_rss_kb();
    s->server.stop();
    std::filesystem::remove_all(s->dir);
  }
  for (auto* s : suites) storage_and_resume(io, *s, upstream, o);
  // Pooled connections are bound to `io`: close them before it goes.
  for (auto* s : suites) s->drv.client.clear_pool();
}

double num(const json::value& v) { return v.is_double() ? v.as_double() : static_cast<double>(v.as_int64()); }

// "after (before)" when a before-value exists.
std::string cell(double after, const std::optional<double>& before, int prec = 3) {
  std::string s = fixed(after, prec);
  if (before) s += " (" + fixed(*before, prec) + ")";
  return s;
}

json::object to_json(const Figures& f) {
  return json::object{{"latency", f.latency}, {"throughput", f.throughput}, {"stored_bytes_per_turn", f.stored_per_turn},
                      {"content_bytes_per_turn", f.content_per_turn}, {"resume_p50_ms", f.resume_p50_ms},
                      {"resume_p99_ms", f.resume_p99_ms}, {"server_peak_rss_kb", f.peak_rss_kb}};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"continuum-bench"};
  std::string out_dir = "bench/results";
  std::string bin, before_bin;
  Options o;
  cli.add_option("--out", out_dir, "results directory");
  cli.add_option("--bin", bin, "continuum binary (default: next to this one)");
  cli.add_option("--before", before_bin, "another continuum binary to measure first, in the same run, as the before-values");
  cli.add_option("--samples", o.samples, "measured turns per history length");
  cli.add_option("--seconds", o.duration_s, "duration of each throughput run");
  cli.add_option("--histories", o.histories, "history lengths");
  cli.add_option("--resume-runs", o.resume_runs, "restarts measured for resume");
  CLI11_PARSE(cli, argc, argv);
  if (bin.empty()) bin = (std::filesystem::path(argv[0]).parent_path() / "continuum").string();
  o.chain_for_storage = o.histories.empty() ? 1000 : o.histories.back();
  signal(SIGPIPE, SIG_IGN);
  spdlog::set_level(spdlog::level::warn);

  Upstream upstream;
  upstream.start();
  std::optional<Figures> before;
  try {
    Suite after_suite{bin, "after"}, before_suite{before_bin, "before"};
    std::vector<Suite*> suites{&after_suite};
    if (!before_bin.empty()) suites.push_back(&before_suite);
    run_suites(suites, upstream, o);
    Figures after = after_suite.f;
    if (!before_bin.empty()) before = before_suite.f;
    upstream.stop();

    auto bv = [&](auto get) -> std::optional<double> { return before ? std::optional<double>(get(*before)) : std::nullopt; };
    std::ostringstream md;
    md << "# Responses benchmark\n\nCommand: `make bench` (continuum-bench";
    if (before) md << " --before " << std::filesystem::path(before_bin).filename().string();
    md << "). Zero-latency upstream in the bench process; the server is the real binary over loopback HTTP; "
          "durable (store: true, synchronous=FULL). Machine: " << std::thread::hardware_concurrency() << " cores.";
    if (before) md << " Each cell: this build (the `--before` build, measured in the same run).";
    md << "\n\n## Runtime-added latency (concurrency 1)\n\n";
    md << "| history (turns) | continuum p50 ms | baseline p50 ms | added p50 ms | added p99 ms |\n|---|---|---|---|---|\n";
    for (size_t i = 0; i < after.latency.size(); ++i) {
      const auto& a = after.latency[i].as_object();
      auto b = [&](const char* k) { return bv([&](const Figures& f) { return num(f.latency[i].as_object().at(k)); }); };
      md << "| " << a.at("history").as_int64() << " | " << cell(num(a.at("continuum_p50_ms")), b("continuum_p50_ms")) << " | "
         << cell(num(a.at("baseline_p50_ms")), b("baseline_p50_ms")) << " | " << cell(num(a.at("added_p50_ms")), b("added_p50_ms"))
         << " | " << cell(num(a.at("added_p99_ms")), b("added_p99_ms")) << " |\n";
    }
    md << "\n## Durable turns per second, and bytes written per turn\n\n"
          "Concurrency 1: each turn commits alone. Concurrency 64: commits are grouped.\n\n"
          "Server and bench CPU: microseconds of CPU (user + system) per turn in the server process, and "
          "in the bench process (its client and the zero-latency upstream); the machine has "
       << std::thread::hardware_concurrency() << " cores for both.\n\n"
          "| concurrency | turns/s | p50 ms | p99 ms | disk bytes written/turn | server CPU µs/turn | bench CPU µs/turn |\n|---|---|---|---|---|---|---|\n";
    for (size_t i = 0; i < after.throughput.size(); ++i) {
      const auto& a = after.throughput[i].as_object();
      auto b = [&](const char* k) { return bv([&](const Figures& f) { return num(f.throughput[i].as_object().at(k)); }); };
      md << "| " << a.at("concurrency").as_int64() << " | " << cell(num(a.at("turns_per_second")), b("turns_per_second"), 0) << " | "
         << cell(num(a.at("p50_ms")), b("p50_ms")) << " | " << cell(num(a.at("p99_ms")), b("p99_ms")) << " | "
         << cell(num(a.at("disk_write_bytes_per_turn")), b("disk_write_bytes_per_turn"), 0) << " | "
         << cell(num(a.at("server_cpu_us_per_turn")), b("server_cpu_us_per_turn"), 0) << " | "
         << cell(num(a.at("bench_cpu_us_per_turn")), b("bench_cpu_us_per_turn"), 0) << " |\n";
    }
    md << "\n## Storage and resume\n\n| figure | value |\n|---|---|\n";
    md << "| bytes stored per turn (" << o.chain_for_storage << "-turn chain) | "
       << cell(after.stored_per_turn, bv([](const Figures& f) { return f.stored_per_turn; }), 0) << " |\n";
    md << "| the turn's JSON content (request + response body) | "
       << cell(after.content_per_turn, bv([](const Figures& f) { return f.content_per_turn; }), 0) << " |\n";
    md << "| stored / content | "
       << cell(after.stored_per_turn / after.content_per_turn, bv([](const Figures& f) { return f.stored_per_turn / f.content_per_turn; }), 2) << " |\n";
    md << "| resume: exec to first token, " << o.chain_for_storage << "-turn chain, p50 ms | "
       << cell(after.resume_p50_ms, bv([](const Figures& f) { return f.resume_p50_ms; })) << " |\n";
    md << "| resume p99 ms (" << o.resume_runs << " restarts) | "
       << cell(after.resume_p99_ms, bv([](const Figures& f) { return f.resume_p99_ms; })) << " |\n";
    md << "| server peak RSS MiB | " << cell(static_cast<double>(after.peak_rss_kb) / 1024, bv([](const Figures& f) { return static_cast<double>(f.peak_rss_kb) / 1024; }), 0) << " |\n";

    json::object report{{"after", to_json(after)}};
    if (before) report["before"] = to_json(*before);
    std::filesystem::create_directories(out_dir);
    std::ofstream(out_dir + "/responses.md") << md.str();
    std::ofstream(out_dir + "/responses.json") << json::serialize(report) << "\n";
    std::cout << md.str();
  } catch (const std::exception& e) {
    std::cerr << "continuum-bench: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
