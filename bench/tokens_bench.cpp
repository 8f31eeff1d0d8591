// continuum-tokens-bench: how fast the BPE tokenizer counts. Counts a mixed corpus (English
// prose, code, JSON, non-Latin scripts) with o200k_base and cl100k_base, interleaved with the
// estimate (bytes / 4: the baseline, which does no tokenizing) in the same loop, and reports
// tokens and megabytes per second of each, the ratio to the baseline, and the cost of loading an
// encoding's rank file.
#include <CLI/CLI.hpp>

#include <chrono>
#include <iostream>

#include "tokens/counter.hpp"

using namespace cn;
using Clock_ = std::chrono::steady_clock;

namespace {

std::string corpus(size_t bytes) {
  static const char* parts[] = {
      "The quick brown fox jumps over the lazy dog, and then it rests under an old oak tree. ",
      "def handler(request):\n    if request.method != 'POST':\n        return 405\n    return json.loads(request.body)\n",
      R"({"id": "resp_0123456789", "status": "completed", "usage": {"input_tokens": 1234, "output_tokens": 56}} )",
      "東京の天気は晴れです。明日は雨が降るでしょう。 ",
      "Привет! Как дела у тебя сегодня? Всё хорошо. ",
      "    \n\n\t  whitespace   runs    and 3.14159, 2026-12-06, 0xDEADBEEF\n",
  };
  std::string out;
  for (size_t i = 0; out.size() < bytes; ++i) out += parts[i % std::size(parts)];
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"continuum-tokens-bench"};
  std::string dir = CONTINUUM_BENCH_ENCODINGS_DIR;
  size_t kib = 256;
  int rounds = 20;
  app.add_option("--encodings", dir, "directory of tiktoken's encoder files");
  app.add_option("--kib", kib, "corpus size in KiB");
  app.add_option("--rounds", rounds, "interleaved rounds");
  CLI11_PARSE(app, argc, argv);

  tokens::Counter counter(dir);
  for (const char* name : {"o200k_base", "cl100k_base"}) {
    auto t0 = Clock_::now();
    auto e = tokens::Encoding::load(dir + "/" + name + ".json", name);
    double ms = std::chrono::duration<double, std::milli>(Clock_::now() - t0).count();
    if (!e.ok()) {
      std::cerr << e.status().message() << "\n";
      return 1;
    }
    std::cout << name << ": rank file loaded in " << ms << " ms (" << (*e)->vocabulary() << " tokens)\n";
  }
  const std::string text = corpus(kib * 1024);
  auto o = counter.meter("gpt-4o"), c = counter.meter("gpt-4"), est = counter.meter("unknown-model");
  double t_o = 0, t_c = 0, t_e = 0;
  int64_t n_o = 0, n_c = 0, n_e = 0;
  volatile int64_t sink = 0;
  for (int r = 0; r < rounds; ++r) {
    auto a = Clock_::now();
    n_e = est.text(text);
    auto b = Clock_::now();
    n_o = o.text(text);
    auto d = Clock_::now();
    n_c = c.text(text);
    auto f = Clock_::now();
    sink = sink + n_e + n_o + n_c;
    t_e += std::chrono::duration<double>(b - a).count();
    t_o += std::chrono::duration<double>(d - b).count();
    t_c += std::chrono::duration<double>(f - d).count();
  }
  double mb = static_cast<double>(text.size()) * rounds / 1e6;
  auto line = [&](const char* what, int64_t n, double t) {
    std::cout << what << ": " << n << " tokens per pass, " << (static_cast<double>(n) * rounds / t / 1e6) << " M tokens/s, "
              << (mb / t) << " MB/s, " << (t / t_e) << "x the estimate's time\n";
  };
  std::cout << "corpus: " << text.size() << " bytes, " << rounds << " rounds\n";
  line("o200k_base", n_o, t_o);
  line("cl100k_base", n_c, t_c);
  line("estimate (baseline)", n_e, t_e);
  return 0;
}
