// The lexical index and ranking: a query's informative words (their document counts) looked up
// in the index, a record scoring the sum of the idf of the words it contains. On SQLite the index
// is FTS5 with its fts5vocab table; on PostgreSQL it is a table of (word, record) postings.
#include "memory/impl.hpp"

#include <unordered_set>

#include "model/embed.hpp"

namespace cn::memory {

bool stopword(std::string_view w) {
  static const std::unordered_set<std::string_view> kStop = {
      "the", "and", "for", "are", "but", "not", "you", "your", "with", "this", "that", "was", "were", "has",
      "have", "had", "his", "her", "she", "him", "they", "them", "their", "what", "which", "who", "when",
      "where", "why", "how", "all", "any", "can", "will", "would", "should", "could", "does", "did", "from",
      "into", "about", "than", "then", "there", "these", "those", "its", "our", "out", "over", "also", "just",
      "user", "users", "said", "some", "very", "much", "more", "most", "such", "only", "own", "same", "too"};
  return w.size() < 3 || kStop.count(w) > 0;
}

// The informative words of `text` with their document counts (from fts5vocab), rarest first:
// stopwords and words in more than kMaxDocs records are left out (they rank a large part of the
// store and say little), and the rarest kMaxTerms are kept.
std::vector<std::pair<int64_t, std::string>> informative_terms(store::Database& db, std::string_view text) {
  constexpr int64_t kMaxDocs = 2000;
  constexpr size_t kMaxTerms = 8, kMaxLookups = 32;
  auto ws = model::words(text);
  std::sort(ws.begin(), ws.end());
  ws.erase(std::unique(ws.begin(), ws.end()), ws.end());
  std::vector<std::pair<int64_t, std::string>> terms;
  bool pg = db.dialect() == store::Dialect::postgres;
  auto& q = db.stmt(pg ? "SELECT count(*) FROM memory_terms WHERE term=?1" : "SELECT doc FROM memory_fts_vocab WHERE term=?1");
  size_t lookups = 0;
  for (const auto& w : ws) {
    if (stopword(w)) continue;
    if (++lookups > kMaxLookups) break;
    q.bind(1, w);
    int64_t docs = q.step() ? q.int64(0) : 0;
    q.reset();
    if (docs == 0 || docs > kMaxDocs) continue;  // absent, or too common to help
    terms.emplace_back(docs, w);
  }
  std::sort(terms.begin(), terms.end());
  if (terms.size() > kMaxTerms) terms.resize(kMaxTerms);
  return terms;
}

Status lexical_add(store::Database& db, int64_t seq, std::string_view text) {
  if (db.dialect() == store::Dialect::sqlite)
    return db.stmt("INSERT INTO memory_fts(rowid, text) VALUES (?1, ?2)").bind(1, seq).bind(2, text).run();
  auto ws = model::words(text);
  std::sort(ws.begin(), ws.end());
  ws.erase(std::unique(ws.begin(), ws.end()), ws.end());
  auto& ins = db.stmt("INSERT INTO memory_terms(term, seq) VALUES (?1, ?2) ON CONFLICT DO NOTHING");
  for (const auto& w : ws)
    if (Status s = ins.bind(1, w).bind(2, seq).run(); !s.ok()) return s;
  return {};
}

Status lexical_remove(store::Database& db, int64_t seq) {
  return db.stmt(db.dialect() == store::Dialect::sqlite ? "DELETE FROM memory_fts WHERE rowid=?1"
                                                        : "DELETE FROM memory_terms WHERE seq=?1")
      .bind(1, seq)
      .run();
}

Status lexical_remove_user(store::Database& db, const std::string& project, const std::string& user_id) {
  return db.stmt(db.dialect() == store::Dialect::sqlite
                     ? "DELETE FROM memory_fts WHERE rowid IN (SELECT seq FROM memory_records WHERE project_id=?1 AND user_id=?2)"
                     : "DELETE FROM memory_terms WHERE seq IN (SELECT seq FROM memory_records WHERE project_id=?1 AND user_id=?2)")
      .bind(1, project)
      .bind(2, user_id)
      .run();
}

// Hybrid retrieval inside one read: lexical (FTS5 bm25) and vector (exact cosine) rankings,
// fused by reciprocal rank (k = 60).

bool index_covers(const Filter& f) {
  return !f.agent_id && !f.session_id && !f.kind && f.metadata.empty() && !f.valid_at && !f.include_inactive;
}

// `candidates`, when given, are the vector ranking from the namespace's index (most similar
// first); otherwise the vector ranking is an exact scan of the rows the filter selects.
size_t search_depth(size_t top_k) { return std::max<size_t>(top_k * 4, 20); }

// The lexical ranking, best first. Each informative word of the query is looked up in FTS5, and
// a record scores the sum of the inverse document frequencies of the words it contains: BM25
// without its term-frequency and length parts, which barely vary across one-sentence memories,
// and without FTS5's per-row bm25() cost. `members`, when given, is the namespace index of the
// filter's user and decides membership without reading rows; otherwise each candidate's row is
// checked against the filter, best first, until `depth` are found.
Result<std::vector<int64_t>> lexical_ranking(store::Database& db, const std::string& project,
                                             const std::string& query, const Filter& f, size_t depth,
                                             const VectorIndex* members) {
  std::vector<int64_t> out;
  if (f.include_inactive) return out;  // the lexical index holds active records only
  auto terms = informative_terms(db, query);
  std::unordered_map<int64_t, double> score;
  bool pg = db.dialect() == store::Dialect::postgres;
  auto& q = db.stmt(pg ? "SELECT seq FROM memory_terms WHERE term=?1" : "SELECT rowid FROM memory_fts WHERE memory_fts MATCH ?1");
  for (const auto& [docs, w] : terms) {
    double idf = std::log(1.0 + 1e6 / static_cast<double>(docs));
    if (pg) q.bind(1, w);
    else q.bind(1, "\"" + w + "\"");
    while (q.step()) score[q.int64(0)] += idf;
    Status st = q.status();
    q.reset();
    if (!st.ok()) return st;
  }
  std::vector<std::pair<double, int64_t>> ranked;
  ranked.reserve(score.size());
  for (const auto& [rowid, s] : score) ranked.emplace_back(s, rowid);
  std::sort(ranked.begin(), ranked.end(), std::greater<>());  // ties: the newer record first
  if (members && index_covers(f)) {
    for (const auto& [s, seq] : ranked) {
      if (out.size() >= depth) break;
      if (members->contains(seq)) out.push_back(seq);
    }
    return out;
  }
  std::vector<std::string> binds;
  std::string cond = filter_sql(f, binds);
  auto p = db.prepare("SELECT 1 FROM memory_records WHERE project_id=?1" + cond + " AND seq=?" +
                      std::to_string(binds.size() + 2));
  if (!p.ok()) return p.status();
  auto& check = **p;
  for (const auto& [s, seq] : ranked) {
    if (out.size() >= depth) break;
    check.bind(1, project);
    for (size_t i = 0; i < binds.size(); ++i) check.bind(static_cast<int>(i + 2), binds[i]);
    check.bind(static_cast<int>(binds.size() + 2), seq);
    bool ok = check.step();
    Status st = check.status();
    check.reset();
    if (!st.ok()) return st;
    if (ok) out.push_back(seq);
  }
  return out;
}

}  // namespace cn::memory
