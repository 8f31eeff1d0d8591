// continuum-memory-bench: retrieval latency and recall for long-term memory.
//
// For 10k, 100k and 1M records in one namespace (synthetic texts from a fixed vocabulary,
// embedded with the built-in embedder) it measures: index build time and memory; search
// latency p50/p99 of the namespace index (HNSW past the threshold) and recall@10 against exact
// search in the same run; and, up to --full-max records, the whole hybrid retrieval through
// Memory (SQLite FTS5 + vector index + fusion) and the latency memory injection adds to a turn.
#include <CLI/CLI.hpp>
#include <boost/asio.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <unordered_set>
#include <future>
#include <cmath>

#include "base/log.hpp"
#include "memory/index.hpp"
#include "memory/memory.hpp"
#include "model/embed.hpp"
#include "store/executor.hpp"

namespace net = boost::asio;
using namespace cn;
using SteadyClock = std::chrono::steady_clock;

namespace {

std::vector<std::string> make_vocab(size_t n, std::mt19937_64& rng) {
  std::vector<std::string> v;
  const char* syll[] = {"ka", "lo", "mi", "ra", "ne", "to", "su", "vi", "da", "po", "re", "an", "el", "or", "us", "ti"};
  for (size_t i = 0; i < n; ++i) {
    std::string w;
    size_t len = 2 + rng() % 3;
    for (size_t j = 0; j < len; ++j) w += syll[rng() % 16];
    v.push_back(w + std::to_string(i % 97));
  }
  return v;
}

// Zipf-like word choice, as in real text: a few words are common, most are rare.
std::string make_text(const std::vector<std::string>& vocab, std::mt19937_64& rng) {
  std::string t = "The user";
  size_t n = 8 + rng() % 8;
  for (size_t i = 0; i < n; ++i) {
    double u = std::uniform_real_distribution<double>(0, 1)(rng);
    size_t idx = static_cast<size_t>(std::pow(u, 2.5) * static_cast<double>(vocab.size()));
    t += " " + vocab[std::min(idx, vocab.size() - 1)];
  }
  return t + ".";
}

double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

std::string fixed(double v, int prec = 3) {
  std::ostringstream o;
  o.setf(std::ios::fixed);
  o.precision(prec);
  o << v;
  return o.str();
}

long rss_kb() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"continuum-memory-bench"};
  std::string out_dir = "bench/results";
  std::vector<size_t> sizes{10'000, 100'000, 1'000'000};
  size_t full_max = 100'000;
  int queries = 300;
  std::vector<size_t> ef_sweep;
  size_t M = 16, ef_construction = 200;
  cli.add_option("--out", out_dir);
  cli.add_option("--sizes", sizes);
  cli.add_option("--full-max", full_max, "largest size also measured through SQLite + Memory");
  cli.add_option("--queries", queries);
  cli.add_option("--ef-sweep", ef_sweep, "also report recall and latency at these ef_search values");
  cli.add_option("--M", M);
  cli.add_option("--ef-construction", ef_construction);
  CLI11_PARSE(cli, argc, argv);
  spdlog::set_level(spdlog::level::warn);

  std::mt19937_64 rng(42);
  auto vocab = make_vocab(20'000, rng);
  std::ostringstream md, sweep_md;
  md << "# Memory retrieval benchmark\n\nCommand: `make bench` (continuum-memory-bench). One namespace; synthetic "
        "texts (Zipf-distributed words from a 20k vocabulary) embedded by the built-in 256-d embedder. Index: "
        "exact below 20k vectors, HNSW (M=16, ef_construction=200, ef_search=200) above; recall@10 against "
        "exact search in the same run (a result counts when it is as similar as the 10th exact neighbour).\n\n";
  md << "| records | index | build s | index MiB | search p50 ms | search p99 ms | exact p50 ms | recall@10 | hybrid p50 ms | hybrid p99 ms | injection p50 ms |\n";
  md << "|---|---|---|---|---|---|---|---|---|---|---|\n";

  for (size_t n : sizes) {
    std::vector<std::string> texts(n);
    std::vector<int64_t> labels(n);
    std::vector<float> flat(n * model::kLocalDims);
    for (size_t i = 0; i < n; ++i) {
      texts[i] = make_text(vocab, rng);
      labels[i] = static_cast<int64_t>(i + 1);
      auto v = model::local_embed(texts[i]);
      std::copy(v.begin(), v.end(), flat.begin() + static_cast<long>(i * model::kLocalDims));
    }
    long rss0 = rss_kb();
    auto t0 = SteadyClock::now();
    memory::VectorIndex::Params ip;
    ip.M = M;
    ip.ef_construction = ef_construction;
    memory::VectorIndex idx(model::kLocalDims, ip);
    idx.add_many(labels, flat, 2);
    double build_s = std::chrono::duration<double>(SteadyClock::now() - t0).count();
    double idx_mib = static_cast<double>(rss_kb() - rss0) / 1024.0;
    memory::VectorIndex::Params exact_p;
    exact_p.hnsw_threshold = SIZE_MAX;
    memory::VectorIndex exact(model::kLocalDims, exact_p);
    exact.add_many(labels, flat, 1);

    std::vector<double> lat, exact_lat;
    double recall = 0;
    for (int q = 0; q < queries; ++q) {
      // Queries share words with stored texts, as a user's question shares words with facts.
      const auto& base = texts[rng() % n];
      std::string query = base.substr(0, base.size() / 2) + " " + vocab[rng() % 200];
      auto qv = model::local_embed(query);
      auto a = SteadyClock::now();
      auto got = idx.search(qv.data(), 10);
      auto b = SteadyClock::now();
      auto truth = exact.search(qv.data(), 10);
      auto c = SteadyClock::now();
      lat.push_back(std::chrono::duration<double, std::milli>(b - a).count());
      exact_lat.push_back(std::chrono::duration<double, std::milli>(c - b).count());
      // A result counts when it is as similar as the 10th true neighbour (ties are common with
      // bag-of-words vectors, and any of the tied records is a correct answer).
      size_t hit = 0;
      float kth = truth.empty() ? 0.f : truth.back().first - 1e-5f;
      for (auto& [s, l] : got) hit += s >= kth ? 1 : 0;
      hit = std::min(hit, truth.size());
      recall += truth.empty() ? 1.0 : static_cast<double>(hit) / static_cast<double>(truth.size());
    }
    recall /= queries;

    for (size_t ef : ef_sweep) {
      if (!idx.is_hnsw()) break;
      idx.set_ef(ef);
      std::vector<double> l2;
      double rec2 = 0;
      std::mt19937_64 r2(7);
      for (int q = 0; q < queries; ++q) {
        const auto& base = texts[r2() % n];
        std::string query = base.substr(0, base.size() / 2) + " " + vocab[r2() % 200];
        auto qv = model::local_embed(query);
        auto a = SteadyClock::now();
        auto got = idx.search(qv.data(), 10);
        l2.push_back(std::chrono::duration<double, std::milli>(SteadyClock::now() - a).count());
        auto truth = exact.search(qv.data(), 10);
        size_t hit = 0;
        float kth = truth.empty() ? 0.f : truth.back().first - 1e-5f;
        for (auto& [s, l] : got) hit += s >= kth ? 1 : 0;
        rec2 += truth.empty() ? 1.0 : static_cast<double>(std::min(hit, truth.size())) / static_cast<double>(truth.size());
      }
      std::cerr << "n=" << n << " ef=" << ef << " p50 " << fixed(pct(l2, 0.5)) << " ms p99 " << fixed(pct(l2, 0.99))
                << " ms recall " << fixed(rec2 / queries, 3) << "\n";
      sweep_md << "| " << n << " | " << M << " | " << ef << " | " << fixed(pct(l2, 0.5)) << " | " << fixed(pct(l2, 0.99))
               << " | " << fixed(rec2 / queries, 3) << " |\n";
    }
    idx.set_ef(ip.ef_search);
    std::string hybrid50 = "-", hybrid99 = "-", inject50 = "-";
    if (n <= full_max) {
      // The same records in a real store, through Memory (FTS5 + index + fusion + rows).
      auto dir = std::filesystem::temp_directory_path() / ("cn-membench-" + std::to_string(::getpid()));
      std::filesystem::remove_all(dir);
      std::filesystem::create_directories(dir);
      auto ex = store::Executor::start({(dir / "db").string()}, memory::Memory::migrations());
      if (!ex.ok()) {
        std::cerr << ex.status().message() << "\n";
        return 1;
      }
      std::promise<Status> loaded;
      (*ex)->submit(
          [&](store::Database& db) -> Status {
            auto& ins = db.stmt(
                "INSERT INTO memory_records(project_id, id, user_id, agent_id, session_id, kind, text, metadata, source,"
                " created_at, updated_at, valid_from, status, embedding) VALUES ('p', ?1, 'u', '', '', 'fact', ?2, '{}',"
                " '{\"type\":\"api\"}', 1, 1, 1, 'active', ?3)");
            auto& fts = db.stmt("INSERT INTO memory_fts(rowid, text) VALUES (?1, ?2)");
            for (size_t i = 0; i < n; ++i) {
              std::string blob(reinterpret_cast<const char*>(flat.data() + i * model::kLocalDims), model::kLocalDims * sizeof(float));
              if (Status s = ins.bind(1, "mem_" + std::to_string(i)).bind(2, texts[i]).bind(3, blob).run(); !s.ok()) return s;
              if (Status s = fts.bind(1, static_cast<int64_t>(i + 1)).bind(2, texts[i]).run(); !s.ok()) return s;
            }
            return Status();
          },
          [&](Status s) { loaded.set_value(s); });
      if (Status s = loaded.get_future().get(); !s.ok()) {
        std::cerr << s.message() << "\n";
        return 1;
      }
      net::io_context io(1);
      model::Registry models;
      memory::Memory mem(io, **ex, models, memory::Options{});
      std::vector<double> hyb, inj;
      const std::string project = "p";
      memory::Namespace ns{"u", "", ""};
      memory::Filter f;
      f.user_id = "u";
      // Warm: the first search loads the namespace index.
      auto run = [&](auto fn) {
        net::co_spawn(io, fn, net::detached);
        io.restart();
        io.run();
      };
      std::string warm = "warm up";
      run([&]() -> net::awaitable<void> { (void)co_await mem.search(project, warm, f, 10); });
      for (int q = 0; q < queries; ++q) {
        const auto& base = texts[rng() % n];
        std::string query = base.substr(0, base.size() / 2);
        run([&]() -> net::awaitable<void> {
          auto a = SteadyClock::now();
          auto r = co_await mem.search(project, query, f, 10);
          auto b = SteadyClock::now();
          auto r2 = co_await mem.relevant(project, ns, query);
          auto c = SteadyClock::now();
          if (!r.ok() || !r2.ok()) std::cerr << "search failed\n";
          hyb.push_back(std::chrono::duration<double, std::milli>(b - a).count());
          inj.push_back(std::chrono::duration<double, std::milli>(c - b).count());
        });
      }
      hybrid50 = fixed(pct(hyb, 0.5));
      hybrid99 = fixed(pct(hyb, 0.99));
      inject50 = fixed(pct(inj, 0.5));
      mem.stop();
      (*ex)->stop();
      std::filesystem::remove_all(dir);
    }
    md << "| " << n << " | " << (idx.is_hnsw() ? "hnsw" : "exact") << " | " << fixed(build_s, 1) << " | "
       << fixed(idx_mib, 0) << " | " << fixed(pct(lat, 0.5)) << " | " << fixed(pct(lat, 0.99)) << " | "
       << fixed(pct(exact_lat, 0.5)) << " | " << fixed(recall, 3) << " | " << hybrid50 << " | " << hybrid99 << " | "
       << inject50 << " |\n";
    std::cerr << "n=" << n << " built in " << fixed(build_s, 1) << " s, p50 " << fixed(pct(lat, 0.5)) << " ms, recall "
              << fixed(recall, 3) << "\n";
  }
  md << "\n`hybrid` is Memory::search (FTS5 bm25 + vector index + reciprocal-rank fusion + row fetch, on the "
        "store's reader thread); `injection` is Memory::relevant, the step a turn with a user adds before calling "
        "the model.\n";
  if (!sweep_md.str().empty())
    md << "\n### ef_search sweep\n\n| records | M | ef_search | p50 ms | p99 ms | recall@10 |\n|---|---|---|---|---|---|\n"
       << sweep_md.str();
  std::filesystem::create_directories(out_dir);
  std::ofstream(out_dir + "/memory.md") << md.str();
  std::cout << md.str();
  return 0;
}
