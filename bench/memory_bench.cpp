// continuum-memory-bench: retrieval latency and recall for long-term memory.
//
// For 10k, 100k and 1M records in one namespace (two synthetic datasets: embedding-like vectors,
// and texts embedded by the built-in embedder) it measures: index build time and memory; search
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
#include "memory/simd.hpp"
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

// The records and queries of one benchmark run.
struct Dataset {
  std::string name;
  size_t dims = 0;
  std::vector<std::string> texts;
  std::vector<float> flat;  // texts.size() * dims
  std::vector<std::string> query_texts;
  std::vector<std::vector<float>> query_vecs;
};

// Texts with Zipf-distributed words, embedded by the built-in hashing embedder. Queries are half
// of a stored text plus a common word, as a user's question shares words with a fact.
Dataset text_dataset(size_t n, int queries, const std::vector<std::string>& vocab, std::mt19937_64& rng) {
  Dataset d;
  d.name = "texts";
  d.dims = model::kLocalDims;
  d.texts.resize(n);
  d.flat.resize(n * d.dims);
  for (size_t i = 0; i < n; ++i) {
    d.texts[i] = make_text(vocab, rng);
    auto v = model::local_embed(d.texts[i]);
    std::copy(v.begin(), v.end(), d.flat.begin() + static_cast<long>(i * d.dims));
  }
  for (int q = 0; q < queries; ++q) {
    const auto& base = d.texts[rng() % n];
    d.query_texts.push_back(base.substr(0, base.size() / 2) + " " + vocab[rng() % 200]);
    d.query_vecs.push_back(model::local_embed(d.query_texts.back()));
  }
  return d;
}

// Vectors shaped like a sentence-embedding model's: texts about a limited number of topics lie
// near a low-dimensional subspace. Each record draws a topic, a point around the topic's centre
// in a 64-dimensional latent space (topics overlap: the spread equals the centres' spread), maps
// it into `dims` dimensions with a fixed random matrix, adds isotropic noise (a quarter of the
// energy) and normalizes. Queries are fresh draws, not
// copies of stored records. Each record's text uses words of its topic, so the lexical side of
// hybrid search has something to find too.
struct Shape {
  size_t latent = 64;    // dimensions of the latent space
  size_t topics = 1000;  // topic centres, N(0, 1) in each latent dimension
  float spread = 1.0f;   // standard deviation of a record around its topic's centre
  float noise = 0.25f;   // share of a vector's energy that is isotropic noise
};

Dataset embedding_dataset(size_t n, size_t dims, int queries, const std::vector<std::string>& vocab,
                          std::mt19937_64& rng, const Shape& shape) {
  const size_t kLatent = shape.latent, kTopics = shape.topics, kTopicWords = 8;
  Dataset d;
  d.name = "embeddings";
  d.dims = dims;
  std::mt19937_64 fixed_rng(1234);  // the same topics and projection at every size
  std::normal_distribution<float> g(0, 1);
  std::vector<float> proj(dims * kLatent), centres(kTopics * kLatent);
  for (auto& x : proj) x = g(fixed_rng) / std::sqrt(static_cast<float>(dims));
  for (auto& x : centres) x = g(fixed_rng);
  std::vector<std::vector<std::string>> topic_words(kTopics);
  for (auto& tw : topic_words)
    for (size_t i = 0; i < kTopicWords; ++i) tw.push_back(vocab[200 + fixed_rng() % (vocab.size() - 200)]);
  // |Az|^2 is about latent * (1 + spread^2); the noise gets its share of the total.
  const float signal = static_cast<float>(kLatent) * (1 + shape.spread * shape.spread);
  const float noise = std::sqrt(signal * shape.noise / (1 - shape.noise) / static_cast<float>(dims));
  auto draw = [&](std::vector<float>& out, std::string& text, size_t own_words) {
    size_t t = rng() % kTopics;
    std::vector<float> z(kLatent);
    for (size_t j = 0; j < kLatent; ++j) z[j] = centres[t * kLatent + j] + shape.spread * g(rng);
    float norm = 0;
    for (size_t i = 0; i < dims; ++i) {
      float x = noise * g(rng);
      for (size_t j = 0; j < kLatent; ++j) x += proj[i * kLatent + j] * z[j];
      out[i] = x;
      norm += x * x;
    }
    for (auto& x : out) x /= std::sqrt(norm);
    text = "The user";
    for (size_t i = 0; i < own_words; ++i) text += " " + topic_words[t][rng() % kTopicWords];
    text += " " + make_text(vocab, rng).substr(9);
  };
  d.texts.resize(n);
  d.flat.resize(n * dims);
  std::vector<float> v(dims);
  for (size_t i = 0; i < n; ++i) {
    draw(v, d.texts[i], 3);
    std::copy(v.begin(), v.end(), d.flat.begin() + static_cast<long>(i * dims));
  }
  for (int q = 0; q < queries; ++q) {
    std::string text;
    draw(v, text, 2);
    d.query_texts.push_back(text.substr(0, text.size() / 2));
    d.query_vecs.push_back(v);
  }
  return d;
}

// An embedder that knows the benchmark's query vectors (the embedding provider's latency is not
// what is measured; with an upstream it is one /embeddings call per turn).
class TableEmbedder : public model::Embedder {
 public:
  explicit TableEmbedder(const Dataset& d) {
    for (size_t i = 0; i < d.query_texts.size(); ++i) table_[d.query_texts[i]] = d.query_vecs[i];
  }
  net::awaitable<Result<std::vector<float>>> embed(std::string text) override {
    auto it = table_.find(text);
    if (it == table_.end()) co_return Status(Code::not_found, "no vector for this text");
    co_return it->second;
  }
  std::string name() const override { return "benchmark-table"; }

 private:
  std::unordered_map<std::string, std::vector<float>> table_;
};

// recall@10 of `got` against `truth`: a result counts when it is as similar as the 10th true
// neighbour (ties are common with bag-of-words vectors, and any tied record is a right answer).
double recall_at(const std::vector<std::pair<float, int64_t>>& got, const std::vector<std::pair<float, int64_t>>& truth) {
  if (truth.empty()) return 1.0;
  size_t hit = 0;
  float kth = truth.back().first - 1e-5f;
  for (const auto& [s, l] : got) hit += s >= kth ? 1 : 0;
  return static_cast<double>(std::min(hit, truth.size())) / static_cast<double>(truth.size());
}

struct Row {
  std::string index, build_s, mib, p50, p99, exact50, recall, sims, speedup;
  std::string hybrid50 = "-", hybrid99 = "-", inject50 = "-", inject99 = "-";
};

// Hybrid search and injection through Memory, over the same records in a real SQLite store.
bool measure_memory(const Dataset& d, size_t ef_search, Row& row) {
  size_t n = d.texts.size();
  auto dir = std::filesystem::temp_directory_path() / ("cn-membench-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  auto ex = store::Executor::start({(dir / "db").string()}, memory::Memory::migrations());
  if (!ex.ok()) {
    std::cerr << ex.status().message() << "\n";
    return false;
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
          std::string blob(reinterpret_cast<const char*>(d.flat.data() + i * d.dims), d.dims * sizeof(float));
          if (Status s = ins.bind(1, "mem_" + std::to_string(i)).bind(2, d.texts[i]).bind_blob(3, blob).run(); !s.ok()) return s;
          if (Status s = fts.bind(1, static_cast<int64_t>(i + 1)).bind(2, d.texts[i]).run(); !s.ok()) return s;
        }
        return Status();
      },
      [&](Status s) { loaded.set_value(s); });
  if (Status s = loaded.get_future().get(); !s.ok()) {
    std::cerr << s.message() << "\n";
    return false;
  }
  net::io_context io(1);
  model::Registry models;
  if (d.name == "embeddings") models.set_embedder(std::make_unique<TableEmbedder>(d));
  memory::Options opts;
  opts.index.ef_search = ef_search;
  memory::Memory mem(io, **ex, models, opts);
  std::vector<double> hyb, inj;
  const std::string project = "p";
  memory::Namespace ns{"u", "", ""};
  memory::Filter f;
  f.user_id = "u";
  auto run = [&](auto fn) {
    net::co_spawn(io, fn, net::detached);
    io.restart();
    io.run();
  };
  bool ok = true;
  // Warm: the first search loads the namespace index.
  run([&]() -> net::awaitable<void> { (void)co_await mem.search(project, d.query_texts[0], f, 10); });
  std::cerr << d.name << " n=" << n << ": index loaded, querying through Memory" << std::endl;
  for (const auto& query : d.query_texts) {
    run([&]() -> net::awaitable<void> {
      auto a = SteadyClock::now();
      auto r = co_await mem.search(project, query, f, 10);
      auto b = SteadyClock::now();
      auto r2 = co_await mem.relevant(project, ns, query);
      auto c = SteadyClock::now();
      if (!r.ok() || !r2.ok() || r->empty() || r2->empty()) ok = false;
      hyb.push_back(std::chrono::duration<double, std::milli>(b - a).count());
      inj.push_back(std::chrono::duration<double, std::milli>(c - b).count());
    });
  }
  if (!ok) std::cerr << d.name << ": a search failed or found nothing\n";
  row.hybrid50 = fixed(pct(hyb, 0.5));
  row.hybrid99 = fixed(pct(hyb, 0.99));
  row.inject50 = fixed(pct(inj, 0.5));
  row.inject99 = fixed(pct(inj, 0.99));
  mem.stop();
  (*ex)->stop();
  std::filesystem::remove_all(dir);
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"continuum-memory-bench"};
  std::string out_dir = "bench/results";
  std::vector<size_t> sizes{10'000, 100'000, 1'000'000};
  std::vector<size_t> text_sizes{10'000, 100'000};
  size_t full_max = 100'000, dims = 384;
  int queries = 300;
  std::vector<size_t> ef_sweep;
  memory::VectorIndex::Params ip;
  cli.add_option("--out", out_dir);
  cli.add_option("--sizes", sizes, "record counts of the embeddings dataset");
  cli.add_option("--text-sizes", text_sizes, "record counts of the texts dataset");
  cli.add_option("--dims", dims, "dimensions of the embeddings dataset");
  cli.add_option("--full-max", full_max, "largest size also measured through SQLite + Memory");
  cli.add_option("--queries", queries);
  cli.add_option("--ef-sweep", ef_sweep, "also report recall and latency at these ef_search values");
  cli.add_option("--M", ip.M);
  cli.add_option("--ef-construction", ip.ef_construction);
  cli.add_option("--ef-search", ip.ef_search);
  Shape shape;
  cli.add_option("--latent", shape.latent, "embeddings dataset: latent dimensions");
  cli.add_option("--topics", shape.topics, "embeddings dataset: topics");
  cli.add_option("--spread", shape.spread, "embeddings dataset: spread around a topic centre");
  cli.add_option("--noise", shape.noise, "embeddings dataset: share of isotropic noise");
  CLI11_PARSE(cli, argc, argv);
  spdlog::set_level(spdlog::level::warn);

  std::mt19937_64 rng(42);
  auto vocab = make_vocab(20'000, rng);
  std::ostringstream md, sweep_md;
  md << "# Memory retrieval benchmark\n\nCommand: `make bench` (continuum-memory-bench). One namespace per run. "
        "Index: exact up to "
     << ip.threshold_for(model::kLocalDims) << " vectors at 256-d (" << ip.threshold_for(dims) << " at " << dims
     << "-d), HNSW above (M=" << ip.M << ", ef_construction=" << ip.ef_construction
     << ", ef_search=" << ip.ef_search << ", walked on 8-bit vectors, re-scored on floats; kernels: "
     << memory::simd::isa()
     << "). recall@10 is against exact search in the same run. Two datasets:\n\n"
        "- `embeddings`: "
     << dims
     << "-d vectors shaped like a sentence-embedding model's (1000 overlapping topics in a 64-d latent space, a "
        "fixed random projection, 25% isotropic noise); queries are fresh draws, not stored records.\n"
        "- `texts`: Zipf-distributed words from a 20k vocabulary embedded by the built-in 256-d hashing "
        "embedder (the default without an embeddings upstream). Random bags of words have no low-dimensional "
        "structure, which makes them the hard case for any graph index.\n\n";
  md << "| dataset | records | index | build s | index MiB | search p50 ms | search p99 ms | exact p50 ms | exact / search | recall@10 "
        "| hybrid p50 ms | hybrid p99 ms | injection p50 ms | injection p99 ms | similarity 1st / 10th / random |\n";
  md << "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";

  std::vector<std::pair<std::string, size_t>> runs;
  for (size_t n : sizes) runs.emplace_back("embeddings", n);
  for (size_t n : text_sizes) runs.emplace_back("texts", n);
  for (const auto& [kind, n] : runs) {
    Dataset d = kind == "texts" ? text_dataset(n, queries, vocab, rng) : embedding_dataset(n, dims, queries, vocab, rng, shape);
    std::vector<int64_t> labels(n);
    for (size_t i = 0; i < n; ++i) labels[i] = static_cast<int64_t>(i + 1);
    long rss0 = rss_kb();
    auto t0 = SteadyClock::now();
    memory::VectorIndex idx(d.dims, ip);
    idx.add_many(labels, d.flat, 2);
    double build_s = std::chrono::duration<double>(SteadyClock::now() - t0).count();
    double idx_mib = static_cast<double>(rss_kb() - rss0) / 1024.0;
    memory::VectorIndex::Params exact_p;
    exact_p.hnsw_threshold = SIZE_MAX;
    memory::VectorIndex exact(d.dims, exact_p);
    exact.add_many(labels, d.flat, 1);

    std::vector<std::vector<std::pair<float, int64_t>>> truth;
    std::vector<double> lat, exact_lat;
    double recall = 0;
    for (const auto& qv : d.query_vecs) {
      auto a = SteadyClock::now();
      auto got = idx.search(qv.data(), 10);
      auto b = SteadyClock::now();
      truth.push_back(exact.search(qv.data(), 10));
      auto c = SteadyClock::now();
      lat.push_back(std::chrono::duration<double, std::milli>(b - a).count());
      exact_lat.push_back(std::chrono::duration<double, std::milli>(c - b).count());
      recall += recall_at(got, truth.back());
    }
    recall /= static_cast<double>(d.query_vecs.size());
    // What the data looks like: the similarity of a query to its nearest and 10th neighbours,
    // and of two random records.
    double nn1 = 0, nn10 = 0, rnd = 0;
    for (const auto& t : truth) {
      nn1 += t.empty() ? 0 : t.front().first;
      nn10 += t.empty() ? 0 : t.back().first;
    }
    for (int i = 0; i < 1000; ++i) {
      size_t x = rng() % n, y = rng() % n;
      rnd += memory::simd::dot_f32(d.flat.data() + x * d.dims, d.flat.data() + y * d.dims, d.dims);
    }
    std::string sims = fixed(nn1 / static_cast<double>(truth.size()), 2) + " / " +
                       fixed(nn10 / static_cast<double>(truth.size()), 2) + " / " + fixed(rnd / 1000, 2);

    for (size_t ef : ef_sweep) {
      if (!idx.is_hnsw()) break;
      idx.set_ef(ef);
      std::vector<double> l2;
      double rec2 = 0;
      for (size_t q = 0; q < d.query_vecs.size(); ++q) {
        auto a = SteadyClock::now();
        auto got = idx.search(d.query_vecs[q].data(), 10);
        l2.push_back(std::chrono::duration<double, std::milli>(SteadyClock::now() - a).count());
        rec2 += recall_at(got, truth[q]);
      }
      rec2 /= static_cast<double>(d.query_vecs.size());
      std::cerr << kind << " n=" << n << " ef=" << ef << " p50 " << fixed(pct(l2, 0.5)) << " ms p99 "
                << fixed(pct(l2, 0.99)) << " ms recall " << fixed(rec2) << "\n";
      sweep_md << "| " << kind << " | " << n << " | " << ip.M << " | " << ef << " | " << fixed(pct(l2, 0.5)) << " | "
               << fixed(pct(l2, 0.99)) << " | " << fixed(rec2) << " |\n";
    }
    idx.set_ef(ip.ef_search);
    Row row{idx.is_hnsw() ? "hnsw" : "exact", fixed(build_s, 1), fixed(idx_mib, 0), fixed(pct(lat, 0.5)),
            fixed(pct(lat, 0.99)), fixed(pct(exact_lat, 0.5)), fixed(recall), sims,
            fixed(pct(exact_lat, 0.5) / std::max(pct(lat, 0.5), 1e-6), 1)};
    if (n <= full_max && !measure_memory(d, ip.ef_search, row)) return 1;
    md << "| " << kind << " | " << n << " | " << row.index << " | " << row.build_s << " | " << row.mib << " | "
       << row.p50 << " | " << row.p99 << " | " << row.exact50 << " | " << row.speedup << "x | " << row.recall << " | " << row.hybrid50
       << " | " << row.hybrid99 << " | " << row.inject50 << " | " << row.inject99 << " | " << row.sims << " |\n";
    std::cerr << kind << " n=" << n << " built in " << row.build_s << " s, p50 " << row.p50 << " ms, recall "
              << row.recall << ", injection p50 " << row.inject50 << " ms\n";
  }
  md << "\n`search` is the namespace's vector index alone. `hybrid` is Memory::search (lexical ranking over FTS5 + "
        "vector index + reciprocal-rank fusion + row fetch); `injection` is Memory::relevant, the step a turn with a user adds "
        "before calling the model. `index MiB` is the growth of resident memory while the index was built.\n";
  if (!sweep_md.str().empty())
    md << "\n### ef_search sweep\n\n| dataset | records | M | ef_search | p50 ms | p99 ms | recall@10 |\n"
          "|---|---|---|---|---|---|---|\n"
       << sweep_md.str();
  std::filesystem::create_directories(out_dir);
  std::ofstream(out_dir + "/memory.md") << md.str();
  std::cout << md.str();
  return 0;
}
