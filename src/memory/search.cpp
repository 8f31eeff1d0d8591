// Hybrid search: the vector ranking (the namespace index, or an exact scan) and the lexical
// ranking, computed in parallel and fused by reciprocal rank.
#include "memory/impl.hpp"

#include <algorithm>
#include <map>

#include "base/log.hpp"

namespace cn::memory {


// `lexical`, when given, is the lexical ranking computed beforehand (possibly in parallel with
// the vector search).
Result<std::vector<Record>> hybrid_search(store::Database& db, const std::string& project,
                                          const std::string& query, const std::vector<float>& qv,
                                          const Filter& f, size_t top_k,
                                          const std::vector<std::pair<float, int64_t>>* candidates,
                                          const std::vector<int64_t>* lexical) {
  constexpr double kRrf = 60;
  size_t depth = search_depth(top_k);
  std::unordered_map<int64_t, double> fused;
  Result<std::vector<int64_t>> lex = lexical ? Result<std::vector<int64_t>>(*lexical)
                                             : lexical_ranking(db, project, query, f, depth);
  if (!lex.ok()) return lex.status();
  for (size_t i = 0; i < lex->size(); ++i) fused[(*lex)[i]] += 1.0 / (kRrf + static_cast<double>(i + 1));
  // Vector ranking.
  if (candidates && index_covers(f)) {
    // The namespace index holds exactly the user's active records: no row needs checking.
    size_t rank = 0;
    for (const auto& [sim, seq] : *candidates) {
      if (rank >= depth) break;
      if (sim > 0.05f) fused[seq] += 1.0 / (kRrf + static_cast<double>(++rank));
    }
  } else if (candidates) {
    auto& q = db.stmt(std::string("SELECT ") + kCols + " FROM memory_records WHERE seq=?1");
    size_t rank = 0;
    for (const auto& [sim, seq] : *candidates) {
      if (rank >= depth) break;
      if (sim <= 0.05f) continue;
      q.bind(1, seq);
      bool ok = q.step() && q.text(1) == project && matches(row_of(q), f);
      q.reset();
      if (ok) fused[seq] += 1.0 / (kRrf + static_cast<double>(++rank));
    }
  } else {
    std::vector<std::string> binds;
    std::string cond = filter_sql(f, binds);
    std::string sql = "SELECT seq, embedding FROM memory_records WHERE project_id=?1" + cond;
    auto p = db.prepare(sql);
    if (!p.ok()) return p.status();
    auto& q = **p;
    q.bind(1, project);
    for (size_t i = 0; i < binds.size(); ++i) q.bind(static_cast<int>(i + 2), binds[i]);
    std::vector<std::pair<float, int64_t>> sims;
    while (q.step()) {
      auto blob = q.blob(1);
      if (blob.size() != qv.size() * sizeof(float)) continue;  // another embedder's vector
      float s = dot(qv.data(), reinterpret_cast<const float*>(blob.data()), qv.size());
      if (s > 0.05f) sims.emplace_back(s, q.int64(0));
    }
    Status st = q.status();
    q.reset();
    if (!st.ok()) return st;
    size_t n = std::min(depth, sims.size());
    std::partial_sort(sims.begin(), sims.begin() + static_cast<long>(n), sims.end(), std::greater<>());
    for (size_t i = 0; i < n; ++i) fused[sims[i].second] += 1.0 / (kRrf + static_cast<double>(i + 1));
  }
  std::vector<std::pair<double, int64_t>> ranked;
  for (auto& [seq, s] : fused) ranked.emplace_back(s, seq);
  std::sort(ranked.begin(), ranked.end(), std::greater<>());
  std::vector<Record> out;
  auto& q = db.stmt(std::string("SELECT ") + kCols + " FROM memory_records WHERE seq=?1");
  for (auto& [score, seq] : ranked) {
    if (out.size() >= top_k) break;
    q.bind(1, seq);
    if (q.step()) {
      // The index may lag a just-committed change by a moment: the row has the last word.
      auto r = row_of(q);
      r.score = score;
      if (r.project_id == project && matches(r, f)) out.push_back(std::move(r));
    }
    q.reset();
  }
  return out;
}

awaitable<Result<std::vector<Record>>> Memory::Impl::search(const std::string& project, const std::string& query, const Filter& f,
                                                            size_t top_k) {
  using R = Result<std::vector<Record>>;
  auto qr = co_await embed(query);
  if (!qr.ok()) co_return qr.status();
  auto q = std::move(*qr);
  std::shared_ptr<std::vector<std::pair<float, int64_t>>> cands;
  std::shared_ptr<std::vector<int64_t>> lexical;
  std::shared_ptr<VectorIndex> idx;
  if (f.user_id) {
    co_await follow_feed();  // read your writes, whichever node made them
    auto loaded = co_await index_for(project, *f.user_id, q.size());
    idx = std::move(loaded);
  }
  if (idx) {  // (without it, both rankings come from the rows)
    // The lexical ranking runs on a reader thread while this thread searches the index.
    struct Lexical {
      std::mutex mu;
      bool done = false;                                             // guarded by mu
      Result<std::vector<int64_t>> result = std::vector<int64_t>{};  // guarded by mu
    };
    auto lex = std::make_shared<Lexical>();
    auto ex = co_await net::this_coro::executor;
    auto timer = std::make_shared<net::steady_timer>(ex, std::chrono::steady_clock::time_point::max());
    size_t depth = search_depth(top_k);
    store.read([lex, timer, ex, project, query, f, depth, idx](store::Database& db) {
      auto r = lexical_ranking(db, project, query, f, depth, idx.get());
      {
        std::lock_guard lk(lex->mu);
        lex->result = std::move(r);
        lex->done = true;
      }
      net::post(ex, [timer] { timer->cancel(); });
    });
    size_t extra = (f.agent_id || f.session_id || f.kind || !f.metadata.empty()) ? 8 : 2;
    cands = std::make_shared<std::vector<std::pair<float, int64_t>>>(
        idx->search(q.data(), std::max<size_t>(top_k * 4, 40) * extra / 2));
    for (;;) {
      {
        std::lock_guard lk(lex->mu);
        if (lex->done) break;
      }
      co_await timer->async_wait(net::as_tuple(net::use_awaitable));
    }
    std::lock_guard lk(lex->mu);
    if (!lex->result.ok()) co_return lex->result.status();
    lexical = std::make_shared<std::vector<int64_t>>(std::move(*lex->result));
  }
  std::function<R(store::Database&)> fn = [project, query, q, f, top_k, cands, lexical](store::Database& db) {
    return hybrid_search(db, project, query, q, f, top_k, cands.get(), lexical.get());
  };
  co_return co_await read_async<R>(store, std::move(fn));
}

}  // namespace cn::memory
