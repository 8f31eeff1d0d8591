// continuum-sandbox-bench: the code sandbox's start-to-first-output (from the call to the first
// byte the snippet prints), with the warm pool and without it (cold: bubblewrap and the
// interpreter started per call), interleaved in one process. Also a cold shell snippet.
// Needs bubblewrap; runs as root or as a user allowed unprivileged user namespaces.
#include <CLI/CLI.hpp>

#include <boost/asio.hpp>

#include <algorithm>
#include <filesystem>
#include <iostream>

#include "base/ids.hpp"
#include "tools/sandbox/sandbox.hpp"

using namespace cn;
namespace net = boost::asio;

namespace {

struct Series {
  std::vector<double> ms;
  void add(std::chrono::microseconds us) { ms.push_back(us.count() / 1000.0); }
  double pct(double p) {
    std::sort(ms.begin(), ms.end());
    return ms.empty() ? 0 : ms[std::min(ms.size() - 1, static_cast<size_t>(p * ms.size()))];
  }
};

net::awaitable<void> measure(tools::sandbox::Sandbox& warm, tools::sandbox::Sandbox& cold, int n, Series& w,
                             Series& c, Series& sh, int& warm_hits) {
  auto far = std::chrono::steady_clock::now() + std::chrono::hours(1);
  for (int i = 0; i < n; ++i) {
    // A new container each time: the case the pool serves.
    auto a = co_await warm.run("python", "print('ready')", new_id("cntr"), "proj_bench", nullptr, far);
    auto b = co_await cold.run("python", "print('ready')", new_id("cntr"), "proj_bench", nullptr, far);
    auto s = co_await cold.run("shell", "echo ready", new_id("cntr"), "proj_bench", nullptr, far);
    if (!a.ok() || !b.ok() || !s.ok() || a->output != "ready\n" || b->output != "ready\n") {
      std::cerr << "sandbox failed: " << (a.ok() ? (b.ok() ? a->output + b->output : b.status().message()) : a.status().message())
                << "\n";
      co_return;
    }
    warm_hits += a->warm;
    w.add(a->first_output);
    c.add(b->first_output);
    sh.add(s->first_output);
    // Let the pool refill as it would between a model's calls.
    net::steady_timer t(co_await net::this_coro::executor, std::chrono::milliseconds(60));
    co_await t.async_wait(net::use_awaitable);
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"continuum-sandbox-bench"};
  int n = 100;
  app.add_option("-n", n, "calls per series");
  CLI11_PARSE(app, argc, argv);
  auto root = std::filesystem::temp_directory_path() / ("cn-sandbox-bench-" + new_id("b"));
  tools::sandbox::Options wo;
  wo.root = root.string();
  wo.warm_pool = 2;
  tools::sandbox::Options co = wo;
  co.warm_pool = 0;
  auto warm_p = std::make_shared<tools::sandbox::Sandbox>(wo);
  auto cold_p = std::make_shared<tools::sandbox::Sandbox>(co);
  auto& warm = *warm_p;
  auto& cold = *cold_p;
  if (!warm.available()) {
    std::cerr << "bubblewrap is not installed\n";
    return 1;
  }
  warm.warm();
  Series w, c, sh;
  int hits = 0;
  net::io_context io;
  net::co_spawn(io, measure(warm, cold, n, w, c, sh, hits), net::detached);
  io.run();
  std::filesystem::remove_all(root);
  std::printf("sandbox start-to-first-output, %d calls each, interleaved (warm pool hits: %d/%d)\n", n, hits, n);
  std::printf("  python, warm pool : p50 %7.2f ms  p99 %7.2f ms\n", w.pct(0.5), w.pct(0.99));
  std::printf("  python, cold      : p50 %7.2f ms  p99 %7.2f ms\n", c.pct(0.5), c.pct(0.99));
  std::printf("  shell,  cold      : p50 %7.2f ms  p99 %7.2f ms\n", sh.pct(0.5), sh.pct(0.99));
  std::printf("  warm / cold (python p50): %.2f\n", c.pct(0.5) > 0 ? w.pct(0.5) / c.pct(0.5) : 0);
  return 0;
}
