// continuum-bench: the load generator for `make bench`.
//
// It starts a zero-latency OpenAI-compatible upstream in this process, starts the real
// `continuum` binary pointed at it, and measures, in the same run:
//   - per-turn latency through Continuum at history lengths 10, 100, 1000 (each measured turn
//     branches from the same tip, so the history length stays fixed), and the baseline: a
//     stateless client sending the same turn with its full history straight to the upstream;
//   - durable turns per second at concurrency 1 and 64 (fresh chains, store: true);
//   - the server's peak resident memory and bytes written to disk per turn (/proc/PID/io).
// Results go to bench/results/responses.{md,json}.
#include <CLI/CLI.hpp>
#include <boost/asio.hpp>
#include <boost/json.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
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
  pid_t pid = -1;
  uint16_t port = 0;
  std::string data;

  void start(const std::string& bin, uint16_t upstream_port, const std::string& dir) {
    data = dir;
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    port = static_cast<uint16_t>(20000 + (getpid() % 20000));
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

std::string fixed(double v, int prec = 3) {
  std::ostringstream o;
  o.setf(std::ios::fixed);
  o.precision(prec);
  o << v;
  return o.str();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"continuum-bench"};
  std::string out_dir = "bench/results";
  std::string bin;
  int samples = 300;
  int duration_s = 5;
  std::vector<int> histories{10, 100, 1000};
  cli.add_option("--out", out_dir, "results directory");
  cli.add_option("--bin", bin, "continuum binary (default: next to this one)");
  cli.add_option("--samples", samples, "measured turns per history length");
  cli.add_option("--seconds", duration_s, "duration of each throughput run");
  cli.add_option("--histories", histories, "history lengths");
  CLI11_PARSE(cli, argc, argv);
  if (bin.empty()) bin = (std::filesystem::path(argv[0]).parent_path() / "continuum").string();
  signal(SIGPIPE, SIG_IGN);
  spdlog::set_level(spdlog::level::warn);

  Upstream upstream;
  upstream.start();
  ServerProc server;
  std::string dir = (std::filesystem::temp_directory_path() / ("continuum-bench-" + std::to_string(getpid()))).string();
  server.start(bin, upstream.port, dir);

  net::io_context io(1);
  Driver drv;
  drv.base = "http://127.0.0.1:" + std::to_string(server.port);
  std::string upstream_url = "http://127.0.0.1:" + std::to_string(upstream.port) + "/v1/chat/completions";
  // Wait for readiness.
  for (int i = 0; i < 200; ++i) {
    http::ClientRequest r;
    r.method = "GET";
    r.url = drv.base + "/healthz";
    auto ok = run_sync(io, [&]() -> net::awaitable<std::optional<bool>> {
      auto res = co_await drv.client.call(r);
      co_return res.ok() && res->status == 200;
    });
    if (*ok) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }

  json::object report;
  std::ostringstream md;
  md << "# Responses benchmark\n\nCommand: `make bench` (continuum-bench). Zero-latency upstream in the "
        "bench process; the server is the real binary over loopback HTTP; durable (store: true, "
        "synchronous=FULL). Machine: " << std::thread::hardware_concurrency() << " cores.\n\n";
  md << "## Per-turn latency vs. history length (concurrency 1)\n\n";
  md << "| history (turns) | continuum p50 ms | continuum p99 ms | baseline p50 ms | baseline p99 ms | added p50 ms | added p99 ms | disk bytes/turn |\n";
  md << "|---|---|---|---|---|---|---|---|\n";
  json::array lat;

  for (int h : histories) {
    // Build the chain (and the baseline's identical history).
    std::string tip;
    json::array history;
    for (int i = 0; i < h; ++i) {
      std::string in = "turn " + std::to_string(i) + ": please remember the number " + std::to_string(i * 7919) + ".";
      tip = run_sync(io, [&]() -> net::awaitable<std::optional<std::string>> { co_return co_await drv.turn(in, tip); }).value();
      history.push_back(json::object{{"role", "user"}, {"content", in}});
      history.push_back(json::object{{"role", "assistant"}, {"content", "Sure, noted."}});
    }
    // Interleave samples so that noise hits both sides alike.
    Stats cont, base;
    long w0 = server.write_bytes();
    for (int s = 0; s < samples; ++s) {
      std::string in = "measured turn " + std::to_string(s);
      auto t0 = Clock::now();
      auto id = run_sync(io, [&]() -> net::awaitable<std::optional<std::string>> { co_return co_await drv.turn(in, tip); });
      auto t1 = Clock::now();
      auto ok = run_sync(io, [&]() -> net::awaitable<std::optional<bool>> { co_return co_await baseline_turn(drv.client, upstream_url, history, in); });
      auto t2 = Clock::now();
      if (id->empty() || !*ok) {
        std::cerr << "a measured turn failed\n";
        return 1;
      }
      cont.ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
      base.ms.push_back(std::chrono::duration<double, std::milli>(t2 - t1).count());
    }
    long w1 = server.write_bytes();
    double per_turn = w0 >= 0 && w1 >= 0 ? static_cast<double>(w1 - w0) / samples : -1;
    double c50 = cont.pct(0.5), c99 = cont.pct(0.99), b50 = base.pct(0.5), b99 = base.pct(0.99);
    md << "| " << h << " | " << fixed(c50) << " | " << fixed(c99) << " | " << fixed(b50) << " | " << fixed(b99) << " | "
       << fixed(c50 - b50) << " | " << fixed(c99 - b99) << " | " << fixed(per_turn, 0) << " |\n";
    lat.push_back(json::object{{"history", h}, {"continuum_p50_ms", c50}, {"continuum_p99_ms", c99},
                               {"baseline_p50_ms", b50}, {"baseline_p99_ms", b99},
                               {"added_p50_ms", c50 - b50}, {"added_p99_ms", c99 - b99},
                               {"disk_write_bytes_per_turn", per_turn}});
    std::cerr << "history " << h << ": continuum p50 " << fixed(c50) << " ms, baseline p50 " << fixed(b50) << " ms\n";
  }
  report["latency"] = lat;

  // Throughput: `conc` workers, each growing its own chain, for `duration_s` seconds.
  md << "\n## Durable turns per second\n\n| concurrency | turns/s | p50 ms | p99 ms | disk bytes/turn |\n|---|---|---|---|---|\n";
  json::array thr;
  for (int conc : {1, 64}) {
    std::atomic<uint64_t> done{0};
    Stats st;
    std::mutex mu;
    auto until = Clock::now() + std::chrono::seconds(duration_s);
    long w0 = server.write_bytes();
    auto t0 = Clock::now();
    for (int w = 0; w < conc; ++w) {
      net::co_spawn(io, [&, w]() -> net::awaitable<void> {
        std::string tip;
        int i = 0;
        while (Clock::now() < until) {
          auto a = Clock::now();
          tip = co_await drv.turn("worker " + std::to_string(w) + " turn " + std::to_string(i++), tip);
          if (tip.empty()) co_return;
          double ms = std::chrono::duration<double, std::milli>(Clock::now() - a).count();
          ++done;
          std::lock_guard lk(mu);
          st.ms.push_back(ms);
        }
      }, net::detached);
    }
    io.restart();
    io.run();
    double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    long w1 = server.write_bytes();
    double tps = static_cast<double>(done.load()) / secs;
    double per_turn = done ? static_cast<double>(w1 - w0) / static_cast<double>(done.load()) : 0;
    md << "| " << conc << " | " << fixed(tps, 0) << " | " << fixed(st.pct(0.5)) << " | " << fixed(st.pct(0.99)) << " | " << fixed(per_turn, 0) << " |\n";
    thr.push_back(json::object{{"concurrency", conc}, {"turns_per_second", tps}, {"p50_ms", st.pct(0.5)}, {"p99_ms", st.pct(0.99)}, {"disk_write_bytes_per_turn", per_turn}});
    std::cerr << "concurrency " << conc << ": " << fixed(tps, 0) << " turns/s\n";
  }
  report["throughput"] = thr;
  long peak = server.peak_rss_kb();
  report["server_peak_rss_kb"] = peak;
  report["upstream_requests"] = upstream.requests.load();
  md << "\nServer peak RSS: " << peak / 1024 << " MiB.\n";

  server.stop();
  upstream.stop();
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(out_dir);
  std::ofstream(out_dir + "/responses.md") << md.str();
  std::ofstream(out_dir + "/responses.json") << json::serialize(report) << "\n";
  std::cout << md.str();
  return 0;
}
