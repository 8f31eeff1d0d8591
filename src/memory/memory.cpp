#include "memory/memory.hpp"

#include <filesystem>
#include <future>

#include "memory/index.hpp"
#include "model/embed.hpp"

#include <boost/asio.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "base/ids.hpp"
#include "base/log.hpp"
#include "store/async.hpp"
#include "wire/items.hpp"

namespace cn::memory {

namespace net = boost::asio;
namespace json = boost::json;
using store::read_async;
using store::write_async;

// ---- embedding ---------------------------------------------------------------------------------

namespace {

uint64_t fnv1a(std::string_view s, uint64_t seed = 1469598103934665603ull) {
  uint64_t h = seed;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

using model::words;

}  // namespace

namespace {

float dot(const float* a, const float* b, size_t n) {
  float s = 0;
  for (size_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

std::string blob_of(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

// A change the vector index must follow once the write that made it has committed.
struct IndexChange {
  bool add;
  std::string user_id;
  int64_t seq;
  std::vector<float> vec;
};
using Changes = std::vector<IndexChange>;

// ---- rows ----------------------------------------------------------------------------------------

constexpr const char* kCols =
    "seq, project_id, id, user_id, agent_id, session_id, kind, text, metadata, source, created_at,"
    " updated_at, valid_from, valid_to, status, superseded_by";

json::object source_json(const Source& s) {
  json::array items;
  for (const auto& i : s.item_ids) items.push_back(json::value(i));
  json::object o{{"type", s.type}};
  o["response_id"] = s.response_id.empty() ? json::value(nullptr) : json::value(s.response_id);
  o["conversation_id"] = s.conversation_id.empty() ? json::value(nullptr) : json::value(s.conversation_id);
  o["item_ids"] = std::move(items);
  return o;
}

Source source_of(std::string_view text) {
  Source s;
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec || !v.is_object()) return s;
  const auto& o = v.as_object();
  auto str = [&](const char* k) {
    auto* f = o.if_contains(k);
    return f && f->is_string() ? std::string(f->as_string()) : std::string();
  };
  s.type = str("type");
  s.response_id = str("response_id");
  s.conversation_id = str("conversation_id");
  if (auto* a = o.if_contains("item_ids"); a && a->is_array())
    for (const auto& i : a->as_array())
      if (i.is_string()) s.item_ids.emplace_back(i.as_string());
  return s;
}

Record row_of(store::Statement& q, int64_t* seq = nullptr) {
  Record r;
  if (seq) *seq = q.int64(0);
  r.project_id = q.text(1);
  r.id = q.text(2);
  r.ns = {q.text(3), q.text(4), q.text(5)};
  r.kind = q.text(6);
  r.text = q.text(7);
  r.metadata = q.text(8);
  r.source = source_of(q.text(9));
  r.created_at = q.int64(10);
  r.updated_at = q.int64(11);
  r.valid_from = q.int64(12);
  if (!q.is_null(13)) r.valid_to = q.int64(13);
  r.status = q.text(14);
  r.superseded_by = q.text_opt(15);
  return r;
}

Status not_found(const std::string& id) {
  return Status(Code::not_found, "Memory with id '" + id + "' not found.");
}

Result<Record> load(store::Database& db, const std::string& project, const std::string& id,
                    int64_t* seq = nullptr) {
  auto& q = db.stmt(std::string("SELECT ") + kCols + " FROM memory_records WHERE project_id=?1 AND id=?2");
  q.bind(1, project).bind(2, id);
  if (!q.step()) {
    Status st = q.status();
    q.reset();
    return st.ok() ? not_found(id) : st;
  }
  auto r = row_of(q, seq);
  q.reset();
  return r;
}

Status add_history(store::Database& db, const Record& r, const std::string& event,
                   const std::string& actor, const std::string& reason, int64_t at,
                   const std::optional<std::string>& related = std::nullopt) {
  auto& st = db.stmt(
      "INSERT INTO memory_history(project_id, record_id, at, event, text, actor, reason, related_id)"
      " VALUES (?1,?2,?3,?4,?5,?6,?7,?8)");
  st.bind(1, r.project_id).bind(2, r.id).bind(3, at).bind(4, event).bind(5, r.text).bind(6, actor);
  st.bind(7, reason).bind_opt(8, related);
  return st.run();
}

Status insert_record(store::Database& db, const Record& r, const std::string& reason,
                     const std::vector<float>& vec, Changes* ch) {
  auto& st = db.stmt(
      "INSERT INTO memory_records(project_id, id, user_id, agent_id, session_id, kind, text,"
      " metadata, source, created_at, updated_at, valid_from, valid_to, status, superseded_by,"
      " embedding) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,NULL,'active',NULL,?13)");
  st.bind(1, r.project_id).bind(2, r.id).bind(3, r.ns.user_id).bind(4, r.ns.agent_id).bind(5, r.ns.session_id);
  st.bind(6, r.kind).bind(7, r.text).bind(8, r.metadata).bind(9, json::serialize(source_json(r.source)));
  st.bind(10, r.created_at).bind(11, r.updated_at).bind(12, r.valid_from);
  st.bind_blob(13, blob_of(vec));
  if (Status s = st.run(); !s.ok()) return s;
  int64_t seq = sqlite3_last_insert_rowid(db.raw());
  if (ch) ch->push_back({true, r.ns.user_id, seq, vec});
  auto& fts = db.stmt("INSERT INTO memory_fts(rowid, text) VALUES (?1, ?2)");
  if (Status s = fts.bind(1, seq).bind(2, r.text).run(); !s.ok()) return s;
  return add_history(db, r, "created", r.source.type, reason, r.created_at);
}

// Ends a record's validity: superseded (by `by`) or deleted. Its text leaves the lexical index.
Status retire(store::Database& db, Record& r, int64_t seq, const std::string& status,
              const std::optional<std::string>& by, const std::string& actor,
              const std::string& reason, int64_t now, Changes* ch) {
  if (ch) ch->push_back({false, r.ns.user_id, seq, {}});
  auto& st = db.stmt("UPDATE memory_records SET status=?3, valid_to=?4, superseded_by=?5, updated_at=?4"
                     " WHERE project_id=?1 AND id=?2");
  st.bind(1, r.project_id).bind(2, r.id).bind(3, status).bind(4, now).bind_opt(5, by);
  if (Status s = st.run(); !s.ok()) return s;
  auto& fts = db.stmt("DELETE FROM memory_fts WHERE rowid=?1");
  if (Status s = fts.bind(1, seq).run(); !s.ok()) return s;
  r.status = status;
  r.valid_to = now;
  r.superseded_by = by;
  return add_history(db, r, status, actor, reason, now, by);
}

Status set_text(store::Database& db, Record& r, int64_t seq, const std::string& text,
                const std::vector<float>& vec, const std::string& actor, const std::string& reason,
                int64_t now, Changes* ch) {
  auto& st = db.stmt("UPDATE memory_records SET text=?3, embedding=?4, updated_at=?5"
                     " WHERE project_id=?1 AND id=?2");
  st.bind(1, r.project_id).bind(2, r.id).bind(3, text).bind_blob(4, blob_of(vec)).bind(5, now);
  if (ch) ch->push_back({true, r.ns.user_id, seq, std::move(vec)});
  if (Status s = st.run(); !s.ok()) return s;
  auto& del = db.stmt("DELETE FROM memory_fts WHERE rowid=?1");
  if (Status s = del.bind(1, seq).run(); !s.ok()) return s;
  auto& ins = db.stmt("INSERT INTO memory_fts(rowid, text) VALUES (?1, ?2)");
  if (Status s = ins.bind(1, seq).bind(2, text).run(); !s.ok()) return s;
  r.text = text;
  r.updated_at = now;
  return add_history(db, r, "updated", actor, reason, now);
}

// SQL conditions for a filter; binds start at ?2 (?1 is the project).
std::string filter_sql(const Filter& f, std::vector<std::string>& binds, const char* alias = "") {
  std::string sql;
  std::string a = alias;
  auto eq = [&](const char* col, const std::optional<std::string>& v) {
    if (!v) return;
    binds.push_back(*v);
    sql += " AND " + a + col + "=?" + std::to_string(binds.size() + 1);
  };
  eq("user_id", f.user_id);
  eq("agent_id", f.agent_id);
  eq("session_id", f.session_id);
  eq("kind", f.kind);
  if (!f.include_inactive && !f.valid_at) sql += " AND " + a + "status='active'";
  if (f.valid_at) {
    binds.push_back(std::to_string(*f.valid_at));
    std::string p = "?" + std::to_string(binds.size() + 1);
    sql += " AND " + a + "valid_from<=CAST(" + p + " AS INTEGER) AND (" + a + "valid_to IS NULL OR " + a +
           "valid_to>CAST(" + p + " AS INTEGER)) AND " + a + "status!='deleted'";
  }
  for (const auto& [k, v] : f.metadata) {
    binds.push_back("$." + k);
    std::string pk = "?" + std::to_string(binds.size() + 1);
    binds.push_back(v);
    std::string pv = "?" + std::to_string(binds.size() + 1);
    sql += " AND json_extract(" + a + "metadata, " + pk + ")=" + pv;
  }
  return sql;
}

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
  auto ws = words(text);
  std::sort(ws.begin(), ws.end());
  ws.erase(std::unique(ws.begin(), ws.end()), ws.end());
  std::vector<std::pair<int64_t, std::string>> terms;
  auto& q = db.stmt("SELECT doc FROM memory_fts_vocab WHERE term=?1");
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

// Hybrid retrieval inside one read: lexical (FTS5 bm25) and vector (exact cosine) rankings,
// fused by reciprocal rank (k = 60).
bool matches(const Record& r, const Filter& f) {
  if (f.user_id && r.ns.user_id != *f.user_id) return false;
  if (f.agent_id && r.ns.agent_id != *f.agent_id) return false;
  if (f.session_id && r.ns.session_id != *f.session_id) return false;
  if (f.kind && r.kind != *f.kind) return false;
  if (f.valid_at) {
    if (r.status == "deleted" || r.valid_from > *f.valid_at || (r.valid_to && *r.valid_to <= *f.valid_at)) return false;
  } else if (!f.include_inactive && r.status != "active") {
    return false;
  }
  if (!f.metadata.empty()) {
    boost::system::error_code ec;
    auto md = json::parse(r.metadata, ec);
    if (ec || !md.is_object()) return false;
    for (const auto& [k, v] : f.metadata) {
      auto* x = md.as_object().if_contains(k);
      if (!x || !x->is_string() || x->as_string() != v) return false;
    }
  }
  return true;
}

// Whether a user's namespace index answers the filter by itself: it holds the user's active
// records, so only filters on other columns need each candidate's row.
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
                                             const VectorIndex* members = nullptr) {
  std::vector<int64_t> out;
  if (f.include_inactive) return out;  // the lexical index holds active records only
  auto terms = informative_terms(db, query);
  std::unordered_map<int64_t, double> score;
  auto& q = db.stmt("SELECT rowid FROM memory_fts WHERE memory_fts MATCH ?1");
  for (const auto& [docs, w] : terms) {
    double idf = std::log(1.0 + 1e6 / static_cast<double>(docs));
    q.bind(1, "\"" + w + "\"");
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

// `lexical`, when given, is the lexical ranking computed beforehand (possibly in parallel with
// the vector search).
Result<std::vector<Record>> hybrid_search(store::Database& db, const std::string& project,
                                          const std::string& query, const std::vector<float>& qv,
                                          const Filter& f, size_t top_k,
                                          const std::vector<std::pair<float, int64_t>>* candidates = nullptr,
                                          const std::vector<int64_t>* lexical = nullptr) {
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

}  // namespace

namespace {

// The JSON schemas the model must follow (strict), and their validation.
json::object extraction_schema() {
  json::object mem{{"type", "object"},
                   {"properties", json::object{{"text", json::object{{"type", "string"}}},
                                               {"kind", json::object{{"type", "string"}, {"enum", json::array{"fact", "preference"}}}}}},
                   {"required", json::array{"text", "kind"}},
                   {"additionalProperties", false}};
  return json::object{
      {"type", "object"},
      {"properties", json::object{{"memories", json::object{{"type", "array"}, {"items", mem}}},
                                  {"summary", json::object{{"type", json::array{"string", "null"}}}}}},
      {"required", json::array{"memories", "summary"}},
      {"additionalProperties", false}};
}

json::object consolidation_schema() {
  return json::object{
      {"type", "object"},
      {"properties", json::object{{"decision", json::object{{"type", "string"}, {"enum", json::array{"add", "update", "supersede", "ignore"}}}},
                                  {"target", json::object{{"type", json::array{"integer", "null"}}}},
                                  {"text", json::object{{"type", "string"}}}}},
      {"required", json::array{"decision", "target", "text"}},
      {"additionalProperties", false}};
}

std::string format_json(const char* name, json::object schema) {
  return json::serialize(json::object{{"type", "json_schema"}, {"name", name}, {"strict", true}, {"schema", std::move(schema)}});
}

constexpr const char* kExtractionPrompt =
    "You maintain long-term memory about a user. From the conversation turn below, extract "
    "durable facts about the user and the user's preferences that would help in future, "
    "unrelated conversations (identity, health, constraints, likes, dislikes, language, plans). "
    "Write each as a short third-person sentence (\"The user is allergic to peanuts.\"). Ignore "
    "small talk and anything only about this turn. Also write a one-paragraph running summary of "
    "the session so far, or null when summaries are off. Answer with JSON only.";

constexpr const char* kConsolidationPrompt =
    "You keep a user's long-term memory consistent. Given existing memories (numbered) and one "
    "new memory, decide: \"add\" when it is new information; \"update\" when it refines or adds "
    "detail to existing memory <target> without contradicting it (give the merged text); "
    "\"supersede\" when it contradicts or replaces existing memory <target> (the old one stops "
    "being true; give the new text); \"ignore\" when it is already known. Answer with JSON only.";

// Collects a model's text output.
class TextSink final : public model::ModelSink {
 public:
  void reasoning_delta(std::string_view) override {}
  void text_delta(std::string_view t) override { text += t; }
  void tool_call_begin(int, std::string, std::string) override {}
  void tool_call_delta(int, std::string_view) override {}
  bool started() const override { return !text.empty(); }
  std::string text;
};

}  // namespace

struct Memory::Impl {
  net::io_context& io;
  store::Executor& store;
  model::Registry& models;
  Options opts;
  Clock& clock;
  std::atomic<bool> stopping{false};
  std::mutex mu;
  std::vector<std::shared_ptr<net::steady_timer>> sleepers;  // guarded by mu

  Impl(net::io_context& i, store::Executor& s, model::Registry& m, Options o, Clock& c)
      : io(i), store(s), models(m), opts(std::move(o)), clock(c) {
    // A namespace that outgrows exact search is rebuilt as HNSW in the background (index_for),
    // not converted inside the write that crossed the threshold.
    opts.index.grow_into_hnsw = false;
  }

  // ---- per-namespace vector indexes (one per project and user) --------------------------------

  struct IndexEntry {
    std::shared_ptr<VectorIndex> idx;  // null while loading
    Changes pending;                   // changes that committed while loading
    uint64_t last_used = 0;
    uint64_t generation = 0;           // which load made this entry
    bool rebuilding = false;           // an HNSW replacement is being built (changes go to pending too)
    std::vector<std::shared_ptr<net::steady_timer>> waiters;  // callers waiting for the load
  };
  uint64_t use_clock = 0;        // guarded by idx_mu
  uint64_t load_generation = 0;  // guarded by idx_mu
  // How long a search waits for its namespace's index before scanning rows instead.
  static constexpr std::chrono::seconds kIndexWait{2};
  net::thread_pool builder{1};  // loads and builds indexes off the serving threads

  // Keeps loaded indexes within a memory budget, dropping the least recently used (they are
  // reloaded from the store on next use). Caller holds idx_mu.
  void trim_indexes_locked(const std::string& keep) {
    size_t total = 0;
    for (auto& [k, e] : indexes)
      if (e.idx) total += e.idx->memory_bytes();
    while (total > opts.index_budget_bytes) {
      auto victim = indexes.end();
      for (auto it = indexes.begin(); it != indexes.end(); ++it)
        if (it->second.idx && it->first != keep && (victim == indexes.end() || it->second.last_used < victim->second.last_used))
          victim = it;
      if (victim == indexes.end()) break;
      total -= victim->second.idx->memory_bytes();
      indexes.erase(victim);
    }
  }
  std::mutex idx_mu;
  std::unordered_map<std::string, IndexEntry> indexes;  // guarded by idx_mu

  static std::string ns_key(const std::string& project, const std::string& user) { return project + "\x1f" + user; }
  std::string index_path(const std::string& key) const {
    return (std::filesystem::path(opts.index_dir) / (sha256_hex(key).substr(0, 32) + ".hnsw")).string();
  }

  // Applies, in order, changes that committed while `idx` was being loaded.
  static void replay(VectorIndex& idx, const Changes& pending) {
    for (const auto& c : pending) {
      if (!c.add) {
        idx.remove(c.seq);
      } else if (c.vec.size() == idx.dims()) {
        idx.add(c.seq, c.vec.data());
      }
    }
  }

  void apply(const std::string& project, const Changes& changes) {
    std::lock_guard lk(idx_mu);
    for (const auto& c : changes) {
      auto it = indexes.find(ns_key(project, c.user_id));
      if (it == indexes.end()) continue;
      auto& e = it->second;
      if (!e.idx || e.rebuilding) e.pending.push_back(c);  // replayed on the loaded index
      if (!e.idx) continue;
      if (c.add) {
        if (c.vec.size() != e.idx->dims()) continue;
        e.idx->add(c.seq, c.vec.data());
      } else {
        e.idx->remove(c.seq);
      }
    }
  }

  // The loaded index of a namespace, loading it on first use: from its saved file, brought up to
  // date with the store, or built from the store. Loading runs on the builder thread, so the
  // caller's thread keeps serving; concurrent callers wait for the same load. Returns null when
  // the index is not available within kIndexWait (a large build): the caller then scans rows.
  awaitable<std::shared_ptr<VectorIndex>> index_for(const std::string& project, const std::string& user, size_t dims) {
    std::string key = ns_key(project, user);
    auto ex = co_await net::this_coro::executor;
    auto deadline = std::chrono::steady_clock::now() + kIndexWait;
    uint64_t generation = 0;
    for (;;) {
      std::shared_ptr<net::steady_timer> wait;
      {
        std::lock_guard lk(idx_mu);
        auto it = indexes.find(key);
        if (it != indexes.end() && it->second.idx && it->second.idx->dims() == dims) {
          auto& e = it->second;
          e.last_used = ++use_clock;
          if (!e.rebuilding && !e.idx->is_hnsw() && e.idx->size() > opts.index.threshold_for(dims)) {
            // Outgrew exact search: build the HNSW index on the builder thread while the exact
            // one keeps answering.
            e.rebuilding = true;
            e.pending.clear();
            net::co_spawn(ex, rebuild(project, user, key, dims, e.generation), net::detached);
          }
          co_return e.idx;
        }
        if (it != indexes.end() && it->second.idx) {
          indexes.erase(it);  // the embedder changed
          it = indexes.end();
        }
        if (it == indexes.end()) {
          auto& e = indexes[key];  // mark loading: commits from now on are kept in `pending`
          e.generation = generation = ++load_generation;
          break;
        }
        if (std::chrono::steady_clock::now() >= deadline) co_return nullptr;
        wait = std::make_shared<net::steady_timer>(ex, deadline);
        it->second.waiters.push_back(wait);
      }
      co_await wait->async_wait(net::as_tuple(net::use_awaitable));
    }
    auto built = co_await load_index(project, user, key, dims);
    std::vector<std::shared_ptr<net::steady_timer>> waiters;
    std::shared_ptr<VectorIndex> out;
    {
      std::lock_guard lk(idx_mu);
      auto it = indexes.find(key);
      // Erased (or reloaded) while loading: what was loaded may hold erased records.
      bool current = it != indexes.end() && it->second.generation == generation;
      if (current) waiters.swap(it->second.waiters);
      if (current && built) {
        auto& e = it->second;
        replay(*built, e.pending);
        e.pending.clear();
        e.idx = built;
        e.last_used = ++use_clock;
        trim_indexes_locked(key);
        out = built;
      } else if (current) {
        indexes.erase(it);
      }
    }
    for (auto& w : waiters) net::post(w->get_executor(), [w] { w->cancel(); });
    co_return out;
  }

  // Replaces a namespace's exact index by one built from the store (see index_for); changes that
  // commit meanwhile are replayed on it.
  awaitable<void> rebuild(std::string project, std::string user, std::string key, size_t dims, uint64_t generation) {
    auto built = co_await load_index(project, user, key, dims);
    std::lock_guard lk(idx_mu);
    auto it = indexes.find(key);
    if (it == indexes.end() || it->second.generation != generation) co_return;  // erased meanwhile
    auto& e = it->second;
    e.rebuilding = false;
    if (built && built->dims() == dims) {
      replay(*built, e.pending);
      e.idx = built;
      trim_indexes_locked(key);
    }
    e.pending.clear();
  }

  // Reads a namespace's vectors and makes its index on the builder thread; null on failure or
  // when stopping.
  awaitable<std::shared_ptr<VectorIndex>> load_index(const std::string& project, const std::string& user,
                                                     const std::string& key, size_t dims) {
    struct Loaded {
      std::vector<int64_t> labels;
      std::vector<float> flat;
    };
    std::function<Result<Loaded>(store::Database&)> fn = [project, user, dims](store::Database& db) -> Result<Loaded> {
      auto& q = db.stmt("SELECT seq, embedding FROM memory_records WHERE project_id=?1 AND user_id=?2"
                        " AND status='active' ORDER BY seq");
      q.bind(1, project).bind(2, user);
      Loaded l;
      while (q.step()) {
        auto b = q.blob(1);
        if (b.size() != dims * sizeof(float)) continue;  // made by another embedder
        l.labels.push_back(q.int64(0));
        auto* f = reinterpret_cast<const float*>(b.data());
        l.flat.insert(l.flat.end(), f, f + dims);
      }
      Status st = q.status();
      q.reset();
      if (!st.ok()) return st;
      return l;
    };
    auto loaded = std::make_shared<Result<Loaded>>(co_await read_async<Result<Loaded>>(store, std::move(fn)));
    if (!loaded->ok()) {
      spdlog::warn("memory index load failed: {}", loaded->status().message());
      co_return nullptr;
    }
    std::string path = opts.index_dir.empty() ? std::string() : index_path(key);
    auto build = [this, loaded, path, dims]() -> std::shared_ptr<VectorIndex> {
      const auto& l = **loaded;
      auto started = std::chrono::steady_clock::now();
      auto took = [&] {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      };
      if (!path.empty() && l.labels.size() > opts.index.threshold_for(dims)) {
        std::string tag;
        if (auto saved = VectorIndex::load(path, dims, opts.index, &tag)) {
          size_t changed = saved->sync(l.labels, l.flat);
          spdlog::info("memory index loaded from disk: {} vectors, {} brought up to date, {:.1f} s",
                       l.labels.size(), changed, took());
          // Saved again (before anyone else sees it) so the next catch-up starts from here.
          if (changed > 0) saved->save(path, std::to_string(saved->size()));
          return std::shared_ptr<VectorIndex>(std::move(saved));
        }
      }
      auto idx = std::make_shared<VectorIndex>(dims, opts.index);
      idx->add_many(l.labels, l.flat, opts.index_build_threads, &stopping);
      if (stopping) return nullptr;
      if (idx->is_hnsw()) {
        spdlog::info("memory index built: {} vectors, {:.1f} s", l.labels.size(), took());
        // Saved at once, not only at shutdown: after a crash the next load catches up from this
        // file instead of rebuilding.
        if (!path.empty()) idx->save(path, std::to_string(idx->size()));
      }
      return idx;
    };
    std::function<std::shared_ptr<VectorIndex>()> job = std::move(build);
    auto done = on_builder(std::move(job));
    co_return co_await std::move(done);
  }

  // Runs `fn` on the builder thread and returns its result to the awaiting coroutine. Not a
  // coroutine itself (see store/async.hpp).
  awaitable<std::shared_ptr<VectorIndex>> on_builder(std::function<std::shared_ptr<VectorIndex>()> fn) {
    using R = std::shared_ptr<VectorIndex>;
    return net::async_initiate<decltype(net::use_awaitable), void(R)>(
        [this, fn = std::move(fn)](auto handler) mutable {
          auto h = std::make_shared<decltype(handler)>(std::move(handler));
          net::post(builder, [h, fn = std::move(fn)]() mutable {
            R result = fn();
            auto hex = net::get_associated_executor(*h);
            net::post(hex, [h, result]() mutable { (*h)(std::move(result)); });
          });
        },
        net::use_awaitable);
  }

  // At start-up: loads (or rebuilds, when the saved file is missing) the indexes of the largest
  // namespaces, within the memory budget, so their first searches find them ready.
  awaitable<void> warm() {
    struct Ns {
      std::string project, user;
      size_t count, dims;
    };
    size_t threshold = opts.index.threshold_for(size_t{1} << 16);  // the lowest, for any width
    std::function<Result<std::vector<Ns>>(store::Database&)> fn = [threshold](store::Database& db) -> Result<std::vector<Ns>> {
      auto& q = db.stmt("SELECT project_id, user_id, count(*), max(length(CAST(embedding AS BLOB))) FROM memory_records"
                        " WHERE status='active' AND user_id!='' GROUP BY project_id, user_id HAVING count(*)>?1"
                        " ORDER BY count(*) DESC");
      q.bind(1, static_cast<int64_t>(threshold));
      std::vector<Ns> out;
      while (q.step())
        out.push_back({q.text(0), q.text(1), static_cast<size_t>(q.int64(2)), static_cast<size_t>(q.int64(3)) / sizeof(float)});
      Status st = q.status();
      q.reset();
      if (!st.ok()) return st;
      return out;
    };
    auto found = co_await read_async<Result<std::vector<Ns>>>(store, std::move(fn));
    if (!found.ok()) {
      spdlog::warn("memory index warm-up: {}", found.status().message());
      co_return;
    }
    size_t bytes = 0;
    for (const auto& ns : *found) {
      if (stopping || bytes > opts.index_budget_bytes) break;
      if (ns.dims == 0 || ns.count <= opts.index.threshold_for(ns.dims)) continue;
      auto idx = co_await index_for(ns.project, ns.user, ns.dims);
      if (idx) bytes += idx->memory_bytes();
    }
  }

  // Every index_save_interval, saves the HNSW indexes that changed since their last save, one
  // at a time on the builder thread.
  awaitable<void> saver() {
    auto ex = co_await net::this_coro::executor;
    auto timer = std::make_shared<net::steady_timer>(ex);
    {
      std::lock_guard lk(mu);
      sleepers.push_back(timer);
    }
    auto next = std::chrono::steady_clock::now() + opts.index_save_interval;
    while (!stopping.load()) {
      timer->expires_at(next);
      co_await timer->async_wait(net::as_tuple(net::use_awaitable));  // also woken by notify()
      if (stopping.load() || std::chrono::steady_clock::now() < next) continue;
      std::vector<std::pair<std::string, std::shared_ptr<VectorIndex>>> due;
      {
        std::lock_guard lk(idx_mu);
        for (auto& [key, e] : indexes)
          if (e.idx && e.idx->is_hnsw() && e.idx->changes_since_save() > 0) due.emplace_back(index_path(key), e.idx);
      }
      for (auto& [path, idx] : due) {
        if (stopping.load()) break;
        std::function<std::shared_ptr<VectorIndex>()> job = [path, idx] {
          if (!idx->save(path, std::to_string(idx->size()))) spdlog::warn("memory index could not be saved to {}", path);
          return idx;
        };
        auto done = on_builder(std::move(job));
        (void)co_await std::move(done);
      }
      next = std::chrono::steady_clock::now() + opts.index_save_interval;
    }
  }

  void drop_index(const std::string& project, const std::string& user) {
    std::string key = ns_key(project, user);
    std::lock_guard lk(idx_mu);
    indexes.erase(key);
    if (!opts.index_dir.empty()) {
      std::error_code ec;
      std::filesystem::remove(index_path(key), ec);
      std::filesystem::remove(index_path(key) + ".tag", ec);
    }
  }

  void save_indexes() {
    if (opts.index_dir.empty()) return;
    std::error_code ec;
    std::filesystem::create_directories(opts.index_dir, ec);
    std::lock_guard lk(idx_mu);
    for (auto& [key, e] : indexes) {
      if (!e.idx || !e.idx->is_hnsw()) continue;
      e.idx->save(index_path(key), std::to_string(e.idx->size()));
    }
  }

  awaitable<Result<std::vector<float>>> embed(const std::string& text) {
    std::string t = text;
    auto r = co_await models.embedder().embed(std::move(t));
    if (!r.ok()) co_return Status(Code::unavailable, "embedding failed: " + r.status().message());
    co_return r;
  }

  // Hybrid search; the vector side comes from the namespace index when a user is given.
  awaitable<Result<std::vector<Record>>> search(const std::string& project, const std::string& query, const Filter& f,
                                                size_t top_k) {
    using R = Result<std::vector<Record>>;
    auto qr = co_await embed(query);
    if (!qr.ok()) co_return qr.status();
    auto q = std::move(*qr);
    std::shared_ptr<std::vector<std::pair<float, int64_t>>> cands;
    std::shared_ptr<std::vector<int64_t>> lexical;
    std::shared_ptr<VectorIndex> idx;
    if (f.user_id) {
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

  // Calls the model for structured output and parses the JSON object it returns.
  awaitable<Result<json::object>> ask(const std::string& model_name, const char* instructions,
                                      std::string user_text, const char* schema_name, json::object schema) {
    auto prov = models.route(model_name);
    if (!prov.ok()) co_return prov.status();
    model::ModelRequest mr;
    mr.model = model_name;
    mr.instructions = std::string(instructions);
    Item it;
    it.id = new_id("msg");
    it.role = "user";
    it.content.push_back({"input_text", std::move(user_text)});
    wire::finalize_wire(it);
    mr.context.push_back(std::make_shared<const Item>(std::move(it)));
    mr.text_format_json = format_json(schema_name, std::move(schema));
    mr.temperature = 0;
    TextSink sink;
    auto cancel = std::make_shared<http::CancelToken>();
    auto r = co_await (*prov)->generate(mr, sink, cancel);
    if (!r.ok()) co_return r.status();
    boost::system::error_code ec;
    auto v = json::parse(sink.text, ec);
    if (ec || !v.is_object())
      co_return Status(Code::invalid_argument, "the model's answer is not a JSON object: " + sink.text.substr(0, 200));
    co_return v.as_object();
  }

  // Claims the next due job, or returns nullopt.
  awaitable<std::optional<Job>> claim() {
    auto job = std::make_shared<std::optional<Job>>();
    int64_t now = clock.now_millis();
    std::function<Status(store::Database&)> fn = [job, now](store::Database& db) -> Status {
      auto& q = db.stmt("SELECT id, kind, payload, attempts, user_id FROM memory_jobs WHERE status='pending'"
                        " AND next_run_at<=?1 ORDER BY next_run_at LIMIT 1");
      q.bind(1, now);
      if (!q.step()) {
        Status st = q.status();
        q.reset();
        return st;
      }
      Job j;
      j.id = q.text(0);
      j.kind = q.text(1);
      j.payload = q.text(2);
      j.attempts = static_cast<int>(q.int64(3)) + 1;
      j.user_id = q.text(4);
      q.reset();
      auto& u = db.stmt("UPDATE memory_jobs SET status='running', attempts=?2, updated_at=?3 WHERE id=?1");
      if (Status s = u.bind(1, j.id).bind(2, j.attempts).bind(3, now / 1000).run(); !s.ok()) return s;
      *job = std::move(j);
      return Status();
    };
    Status st = co_await write_async(store, std::move(fn));
    if (!st.ok()) {
      spdlog::warn("memory job claim failed: {}", st.message());
      co_return std::nullopt;
    }
    co_return *job;
  }

  awaitable<void> finish(const Job& job, const Status& outcome) {
    std::string id = job.id;
    int attempts = job.attempts;
    int max_attempts = opts.max_attempts;
    int64_t now = clock.now_millis();
    std::string error = outcome.ok() ? "" : outcome.message();
    std::function<Status(store::Database&)> fn = [=](store::Database& db) {
      auto& u = db.stmt("UPDATE memory_jobs SET status=?2, last_error=?3, next_run_at=?4, updated_at=?5 WHERE id=?1");
      std::string status = outcome.ok() ? "done" : (attempts >= max_attempts ? "failed" : "pending");
      int64_t backoff = 500LL << std::min(attempts, 10);  // 1 s, 2 s, 4 s, ...
      return u.bind(1, id).bind(2, status).bind(3, error).bind(4, now + backoff).bind(5, now / 1000).run();
    };
    Status st = co_await write_async(store, std::move(fn));
    if (!st.ok()) spdlog::warn("memory job {} could not be recorded: {}", job.id, st.message());
    if (!outcome.ok())
      spdlog::warn("memory job {} attempt {} failed: {}", job.id, job.attempts, outcome.message());
  }

  awaitable<void> worker() {
    auto ex = co_await net::this_coro::executor;
    auto timer = std::make_shared<net::steady_timer>(ex);
    {
      std::lock_guard lk(mu);
      sleepers.push_back(timer);
    }
    while (!stopping.load()) {
      auto job = co_await claim();
      if (!job) {
        timer->expires_after(opts.poll_interval);
        co_await timer->async_wait(net::as_tuple(net::use_awaitable));
        continue;
      }
      Status st = co_await run_job(*job);
      co_await finish(*job, st);
    }
  }

  awaitable<Status> run_job(const Job& job) {
    if (job.kind != "extract") co_return Status(Code::internal, "unknown job kind " + job.kind);
    boost::system::error_code ec;
    auto v = json::parse(job.payload, ec);
    if (ec || !v.is_object()) co_return Status(Code::internal, "corrupt job payload");
    const auto& p = v.as_object();
    auto str = [&](const char* k) {
      auto* f = p.if_contains(k);
      return f && f->is_string() ? std::string(f->as_string()) : std::string();
    };
    std::string project = str("project_id"), model_name = str("model");
    if (!opts.extraction_model.empty()) model_name = opts.extraction_model;
    Namespace ns{str("user_id"), str("agent_id"), str("session_id")};
    Source src{"extraction", str("response_id"), str("conversation_id"), {}};
    std::string transcript;
    if (auto* items = p.if_contains("items"); items && items->is_array()) {
      for (const auto& iv : items->as_array()) {
        const auto& io = iv.as_object();
        src.item_ids.emplace_back(io.at("id").as_string());
        transcript += std::string(io.at("role").as_string()) + ": " + std::string(io.at("text").as_string()) + "\n";
      }
    }
    std::string task = transcript;
    if (!opts.extract_facts) task += "\n(Do not extract facts.)";
    if (!opts.extract_preferences) task += "\n(Do not extract preferences.)";
    if (!opts.extract_summary || src.conversation_id.empty()) task += "\n(Summary: null.)";
    const char* prompt = opts.extraction_prompt.empty() ? kExtractionPrompt : opts.extraction_prompt.c_str();
    auto out = co_await ask(model_name, prompt, task, "memory_extraction", extraction_schema());
    if (!out.ok()) co_return out.status();
    // Validate before acting on any of it.
    auto* mems = out->if_contains("memories");
    if (!mems || !mems->is_array()) co_return Status(Code::invalid_argument, "extraction output has no 'memories' array");
    std::vector<std::pair<std::string, std::string>> found;  // kind, text
    for (const auto& m : mems->as_array()) {
      if (!m.is_object()) co_return Status(Code::invalid_argument, "extraction output: a memory is not an object");
      const auto& mo = m.as_object();
      auto* t = mo.if_contains("text");
      auto* k = mo.if_contains("kind");
      if (!t || !t->is_string() || t->as_string().empty() || t->as_string().size() > 2000 || !k || !k->is_string() ||
          (k->as_string() != "fact" && k->as_string() != "preference"))
        co_return Status(Code::invalid_argument, "extraction output: a memory lacks a valid 'text' or 'kind'");
      if (k->as_string() == "fact" && !opts.extract_facts) continue;
      if (k->as_string() == "preference" && !opts.extract_preferences) continue;
      found.emplace_back(std::string(k->as_string()), std::string(t->as_string()));
    }
    for (auto& [kind, text] : found) {
      Namespace kns = scoped(ns, kind == "fact" ? opts.facts_scope : opts.preferences_scope);
      Status st = co_await consolidate(project, kns, kind, text, src, model_name);
      if (!st.ok()) co_return st;
    }
    if (auto* sum = out->if_contains("summary"); sum && sum->is_string() && !sum->as_string().empty() &&
        opts.extract_summary && !src.conversation_id.empty()) {
      Namespace sns = scoped(ns, opts.summary_scope);
      Status st = co_await replace_summary(project, sns, std::string(sum->as_string()), src);
      if (!st.ok()) co_return st;
    }
    co_return Status();
  }

  // The newest active summary of a session is superseded by the new one.
  awaitable<Status> replace_summary(const std::string& project, const Namespace& ns, std::string text, Source src) {
    int64_t now = clock.now_seconds();
    Record r{new_id("mem"), project, ns, "summary", std::move(text), "{}", std::move(src), now, now, now, std::nullopt, "active"};
    auto vr = co_await embed(r.text);
    if (!vr.ok()) co_return vr.status();
    auto vec = std::move(*vr);
    auto ch = std::make_shared<Changes>();
    std::function<Status(store::Database&)> fn = [r, vec, ch](store::Database& db) -> Status {
      auto& q = db.stmt("SELECT id FROM memory_records WHERE project_id=?1 AND user_id=?2 AND session_id=?3"
                        " AND agent_id=?4 AND kind='summary' AND status='active'");
      q.bind(1, r.project_id).bind(2, r.ns.user_id).bind(3, r.ns.session_id).bind(4, r.ns.agent_id);
      std::vector<std::string> old;
      while (q.step()) old.push_back(q.text(0));
      q.reset();
      if (Status s = insert_record(db, r, "session summary", vec, ch.get()); !s.ok()) return s;
      for (const auto& id : old) {
        int64_t seq;
        auto o = load(db, r.project_id, id, &seq);
        if (!o.ok()) return o.status();
        if (Status s = retire(db, *o, seq, "superseded", r.id, "extraction", "newer session summary", r.created_at, ch.get());
            !s.ok())
          return s;
      }
      return Status();
    };
    Status st = co_await write_async(store, std::move(fn));
    if (st.ok()) apply(project, *ch);
    co_return st;
  }

  // Decides add / update / supersede / ignore for one new memory against the most similar
  // existing ones, then applies it in one transaction.
  awaitable<Status> consolidate(const std::string& project, const Namespace& ns, const std::string& kind,
                                const std::string& text, const Source& src, const std::string& model_name) {
    Filter f;
    f.user_id = ns.user_id;
    if (!ns.agent_id.empty()) f.agent_id = ns.agent_id;
    auto similar = co_await search(project, text, f, 5);
    if (!similar.ok()) co_return similar.status();
    std::erase_if(*similar, [](const Record& r) { return r.kind == "summary"; });
    std::string decision = "add", new_text = text;
    std::optional<size_t> target;
    auto norm = [](std::string s) {
      auto ws = words(s);
      std::string o;
      for (auto& w : ws) o += w + " ";
      return o;
    };
    for (size_t i = 0; i < similar->size(); ++i)
      if (norm((*similar)[i].text) == norm(text)) decision = "ignore";
    if (decision != "ignore" && !similar->empty()) {
      std::string task = "Existing memories:\n";
      for (size_t i = 0; i < similar->size(); ++i) task += std::to_string(i) + ". " + (*similar)[i].text + "\n";
      task += "\nNew memory: " + text + "\n";
      const char* prompt = opts.consolidation_prompt.empty() ? kConsolidationPrompt : opts.consolidation_prompt.c_str();
      auto out = co_await ask(model_name, prompt, task, "memory_consolidation", consolidation_schema());
      if (!out.ok()) co_return out.status();
      auto* d = out->if_contains("decision");
      auto* t = out->if_contains("text");
      auto* tg = out->if_contains("target");
      if (!d || !d->is_string() || !t || !t->is_string())
        co_return Status(Code::invalid_argument, "consolidation output lacks 'decision' or 'text'");
      decision = std::string(d->as_string());
      if (decision != "add" && decision != "update" && decision != "supersede" && decision != "ignore")
        co_return Status(Code::invalid_argument, "consolidation output: unknown decision '" + decision + "'");
      if (!t->as_string().empty()) new_text = std::string(t->as_string());
      if (decision == "update" || decision == "supersede") {
        if (!tg || !tg->is_int64() || tg->as_int64() < 0 || static_cast<size_t>(tg->as_int64()) >= similar->size())
          co_return Status(Code::invalid_argument, "consolidation output: 'target' is not one of the listed memories");
        target = static_cast<size_t>(tg->as_int64());
      }
    }
    if (decision == "ignore") co_return Status();
    int64_t now = clock.now_seconds();
    Record r{new_id("mem"), project, ns, kind, new_text, "{}", src, now, now, now, std::nullopt, "active"};
    std::optional<std::string> target_id;
    if (target) target_id = (*similar)[*target].id;
    auto vr = co_await embed(r.text);
    if (!vr.ok()) co_return vr.status();
    auto vec = std::move(*vr);
    auto ch = std::make_shared<Changes>();
    std::function<Status(store::Database&)> fn = [r, vec, decision, target_id, now, ch](store::Database& db) -> Status {
      if (decision == "add") return insert_record(db, r, "extracted", vec, ch.get());
      int64_t seq;
      auto old = load(db, r.project_id, *target_id, &seq);
      if (!old.ok()) return old.status();
      if (old->status != "active") return insert_record(db, r, "extracted (target no longer active)", vec, ch.get());
      if (decision == "update") return set_text(db, *old, seq, r.text, vec, "extraction", "refined by a later turn", now, ch.get());
      if (Status s = insert_record(db, r, "supersedes " + old->id, vec, ch.get()); !s.ok()) return s;
      return retire(db, *old, seq, "superseded", r.id, "extraction", "contradicted by a later turn", now, ch.get());
    };
    Status st = co_await write_async(store, std::move(fn));
    if (st.ok()) apply(project, *ch);
    co_return st;
  }

  void wake() {
    std::lock_guard lk(mu);
    for (auto& t : sleepers) net::post(t->get_executor(), [t] { t->cancel(); });
  }
};

Namespace scoped(const Namespace& turn, std::string_view scope) {
  if (scope == "user") return {turn.user_id, "", ""};
  if (scope == "agent") return {turn.user_id, turn.agent_id, ""};
  return turn;
}

bool visible(const Record& r, const Namespace& ns) {
  return (r.ns.agent_id.empty() || r.ns.agent_id == ns.agent_id) &&
         (r.ns.session_id.empty() || r.ns.session_id == ns.session_id);
}

Memory::Memory(net::io_context& io, store::Executor& store, model::Registry& models, Options opts, Clock& clock)
    : impl_(std::make_unique<Impl>(io, store, models, std::move(opts), clock)) {}

Memory::~Memory() { stop(); }

std::vector<store::Migration> Memory::migrations() {
  return {{"memory", 1, R"sql(
CREATE TABLE memory_records (
  seq INTEGER PRIMARY KEY,
  project_id TEXT NOT NULL,
  id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  agent_id TEXT NOT NULL,
  session_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  text TEXT NOT NULL,
  metadata TEXT NOT NULL,
  source TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  valid_from INTEGER NOT NULL,
  valid_to INTEGER,
  status TEXT NOT NULL,
  superseded_by TEXT,
  embedding BLOB
);
CREATE UNIQUE INDEX memory_records_id ON memory_records(project_id, id);
CREATE INDEX memory_records_ns ON memory_records(project_id, user_id, agent_id, status);
CREATE VIRTUAL TABLE memory_fts USING fts5(text, tokenize = 'porter unicode61');
CREATE TABLE memory_history (
  project_id TEXT NOT NULL,
  record_id TEXT NOT NULL,
  n INTEGER PRIMARY KEY,
  at INTEGER NOT NULL,
  event TEXT NOT NULL,
  text TEXT NOT NULL,
  actor TEXT NOT NULL,
  reason TEXT NOT NULL,
  related_id TEXT
);
CREATE INDEX memory_history_record ON memory_history(project_id, record_id);
CREATE TABLE memory_jobs (
  id TEXT PRIMARY KEY,
  project_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  payload TEXT NOT NULL,
  status TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  last_error TEXT NOT NULL DEFAULT '',
  next_run_at INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX memory_jobs_due ON memory_jobs(status, next_run_at);
CREATE INDEX memory_jobs_user ON memory_jobs(project_id, user_id);
)sql"},
          // Plain unicode61 words (no stemming) so that fts5vocab's terms are the query's words:
          // retrieval asks it how common each word is and leaves out the ubiquitous ones.
          {"memory", 2, R"sql(
DROP TABLE memory_fts;
CREATE VIRTUAL TABLE memory_fts USING fts5(text, tokenize = 'unicode61');
INSERT INTO memory_fts(rowid, text) SELECT seq, text FROM memory_records WHERE status = 'active';
CREATE VIRTUAL TABLE memory_fts_vocab USING fts5vocab(memory_fts, 'row');
)sql"}};
}

Status Memory::start() {
  std::promise<Status> p;
  auto f = p.get_future();
  impl_->store.submit(
      [](store::Database& db) {
        return db.stmt("UPDATE memory_jobs SET status='pending' WHERE status='running'").run();
      },
      [&p](Status s) { p.set_value(std::move(s)); });
  Status st = f.get();
  if (!st.ok()) return st;
  for (int i = 0; i < impl_->opts.max_concurrent_jobs; ++i)
    net::co_spawn(net::make_strand(impl_->io), impl_->worker(), net::detached);
  if (impl_->opts.warm_indexes) net::co_spawn(net::make_strand(impl_->io), impl_->warm(), net::detached);
  if (!impl_->opts.index_dir.empty() && impl_->opts.index_save_interval.count() > 0)
    net::co_spawn(net::make_strand(impl_->io), impl_->saver(), net::detached);
  return {};
}

void Memory::stop() {
  if (impl_->stopping.exchange(true)) return;
  impl_->wake();
  impl_->builder.join();  // a build in progress gives up at once; a load from disk finishes
  impl_->save_indexes();
}

void Memory::notify() { impl_->wake(); }

Status Memory::enqueue_extraction(store::Database& db, const TurnForExtraction& t) {
  json::array items;
  for (const auto& it : t.items) {
    if (it->type != ItemType::message || it->role == "system" || it->role == "developer") continue;
    items.push_back(json::object{{"id", it->id}, {"role", it->role}, {"text", it->text()}});
  }
  if (items.empty()) return {};
  json::object payload{{"project_id", t.project_id}, {"response_id", t.response_id},
                       {"conversation_id", t.conversation_id}, {"model", t.model},
                       {"user_id", t.ns.user_id}, {"agent_id", t.ns.agent_id},
                       {"session_id", t.ns.session_id}, {"items", std::move(items)}};
  int64_t now = impl_->clock.now_millis();
  auto& st = db.stmt("INSERT INTO memory_jobs(id, project_id, user_id, kind, payload, status, next_run_at,"
                     " created_at, updated_at) VALUES (?1,?2,?3,'extract',?4,'pending',?5,?6,?6)");
  return st.bind(1, new_id("job")).bind(2, t.project_id).bind(3, t.ns.user_id).bind(4, json::serialize(payload))
      .bind(5, now).bind(6, now / 1000).run();
}

awaitable<Result<Record>> Memory::write(const std::string& project, Namespace ns, std::string kind, std::string text,
                                        std::string metadata, Source source) {
  int64_t now = impl_->clock.now_seconds();
  Record r{new_id("mem"), project, std::move(ns), std::move(kind), std::move(text), std::move(metadata),
           std::move(source), now, now, now, std::nullopt, "active"};
  auto vr = co_await impl_->embed(r.text);
  if (!vr.ok()) co_return vr.status();
  auto vec = std::move(*vr);
  auto ch = std::make_shared<Changes>();
  std::function<Status(store::Database&)> fn = [r, vec, ch](store::Database& db) { return insert_record(db, r, "written", vec, ch.get()); };
  Status st = co_await write_async(impl_->store, std::move(fn));
  if (!st.ok()) co_return st;
  impl_->apply(project, *ch);
  co_return r;
}

awaitable<Result<Record>> Memory::get(const std::string& project, const std::string& id) {
  std::function<Result<Record>(store::Database&)> fn = [project, id](store::Database& db) { return load(db, project, id); };
  auto r = co_await read_async<Result<Record>>(impl_->store, std::move(fn));
  if (r.ok() && r->status == "deleted") co_return not_found(id);
  co_return r;
}

awaitable<Result<std::vector<Record>>> Memory::list(const std::string& project, Filter f, int limit,
                                                    std::optional<std::string> after) {
  using R = Result<std::vector<Record>>;
  std::function<R(store::Database&)> fn = [project, f, limit, after](store::Database& db) -> R {
    std::vector<std::string> binds;
    std::string cond = filter_sql(f, binds);
    if (f.include_inactive) cond += " AND status!='deleted'";
    if (after) {
      int64_t seq;
      auto a = load(db, project, *after, &seq);
      if (!a.ok()) return Status(Code::invalid_argument, "No memory with id '" + *after + "'.", "after");
      binds.push_back(std::to_string(seq));
      cond += " AND seq<CAST(?" + std::to_string(binds.size() + 1) + " AS INTEGER)";
    }
    auto p = db.prepare(std::string("SELECT ") + kCols + " FROM memory_records WHERE project_id=?1" + cond +
                        " ORDER BY seq DESC LIMIT " + std::to_string(limit + 1));
    if (!p.ok()) return p.status();
    auto& q = **p;
    q.bind(1, project);
    for (size_t i = 0; i < binds.size(); ++i) q.bind(static_cast<int>(i + 2), binds[i]);
    std::vector<Record> out;
    while (q.step()) out.push_back(row_of(q));
    Status st = q.status();
    q.reset();
    if (!st.ok()) return st;
    return out;
  };
  co_return co_await read_async<R>(impl_->store, std::move(fn));
}

awaitable<Result<Record>> Memory::update(const std::string& project, const std::string& id,
                                         std::optional<std::string> text, std::optional<std::string> metadata) {
  auto out = std::make_shared<Record>();
  auto ch = std::make_shared<Changes>();
  int64_t now = impl_->clock.now_seconds();
  std::vector<float> vec;
  if (text) {
    auto vr = co_await impl_->embed(*text);
    if (!vr.ok()) co_return vr.status();
    vec = std::move(*vr);
  }
  std::function<Status(store::Database&)> fn = [=](store::Database& db) -> Status {
    int64_t seq;
    auto r = load(db, project, id, &seq);
    if (!r.ok()) return r.status();
    if (r->status == "deleted") return not_found(id);
    if (r->status != "active")
      return Status(Code::failed_precondition, "Memory '" + id + "' is " + r->status + " and cannot be changed.", "", "memory_not_active");
    if (metadata) {
      auto& st = db.stmt("UPDATE memory_records SET metadata=?3, updated_at=?4 WHERE project_id=?1 AND id=?2");
      if (Status s = st.bind(1, project).bind(2, id).bind(3, *metadata).bind(4, now).run(); !s.ok()) return s;
      r->metadata = *metadata;
      r->updated_at = now;
    }
    if (text && *text != r->text) {
      if (Status s = set_text(db, *r, seq, *text, vec, "api", "corrected through the API", now, ch.get()); !s.ok()) return s;
    }
    *out = std::move(*r);
    return Status();
  };
  Status st = co_await write_async(impl_->store, std::move(fn));
  if (!st.ok()) co_return st;
  impl_->apply(project, *ch);
  co_return *out;
}

awaitable<Result<Record>> Memory::remove(const std::string& project, const std::string& id) {
  auto out = std::make_shared<Record>();
  auto ch = std::make_shared<Changes>();
  int64_t now = impl_->clock.now_seconds();
  std::function<Status(store::Database&)> fn = [=](store::Database& db) -> Status {
    int64_t seq;
    auto r = load(db, project, id, &seq);
    if (!r.ok()) return r.status();
    if (r->status == "deleted") return not_found(id);
    if (Status s = retire(db, *r, seq, "deleted", std::nullopt, "api", "deleted through the API", now, ch.get()); !s.ok())
      return s;
    *out = std::move(*r);
    return Status();
  };
  Status st = co_await write_async(impl_->store, std::move(fn));
  if (!st.ok()) co_return st;
  impl_->apply(project, *ch);
  co_return *out;
}

awaitable<Result<std::vector<HistoryEntry>>> Memory::history(const std::string& project, const std::string& id,
                                                             std::optional<std::string> user) {
  using R = Result<std::vector<HistoryEntry>>;
  std::function<R(store::Database&)> fn = [project, id, user](store::Database& db) -> R {
    auto r = load(db, project, id);
    if (!r.ok()) return r.status();
    if (user && r->ns.user_id != *user) return not_found(id);
    auto& q = db.stmt("SELECT at, event, text, actor, reason, related_id FROM memory_history"
                      " WHERE project_id=?1 AND record_id=?2 ORDER BY n");
    q.bind(1, project).bind(2, id);
    std::vector<HistoryEntry> out;
    while (q.step()) out.push_back({q.int64(0), q.text(1), q.text(2), q.text(3), q.text(4), q.text_opt(5)});
    Status st = q.status();
    q.reset();
    if (!st.ok()) return st;
    return out;
  };
  co_return co_await read_async<R>(impl_->store, std::move(fn));
}

awaitable<Result<std::vector<Record>>> Memory::search(const std::string& project, std::string query, Filter f,
                                                      size_t top_k) {
  co_return co_await impl_->search(project, query, f, top_k);
}

awaitable<Result<std::vector<Record>>> Memory::relevant(const std::string& project, const Namespace& ns,
                                                        const std::string& query) {
  Filter f;
  f.user_id = ns.user_id;
  auto r = co_await search(project, query, f, impl_->opts.injection_top_k * 2);
  if (!r.ok()) co_return r;
  std::vector<Record> out;
  int64_t budget = impl_->opts.injection_token_budget;
  for (auto& rec : *r) {
    if (!visible(rec, ns)) continue;
    int64_t cost = static_cast<int64_t>(rec.text.size() / 4) + 4;
    if (cost > budget || out.size() >= impl_->opts.injection_top_k) break;
    budget -= cost;
    out.push_back(std::move(rec));
  }
  co_return out;
}

awaitable<Result<int64_t>> Memory::erase_user(const std::string& project, const std::string& user_id) {
  auto count = std::make_shared<int64_t>(0);
  std::function<Status(store::Database&)> fn = [=](store::Database& db) -> Status {
    auto& fts = db.stmt("DELETE FROM memory_fts WHERE rowid IN (SELECT seq FROM memory_records WHERE project_id=?1 AND user_id=?2)");
    if (Status s = fts.bind(1, project).bind(2, user_id).run(); !s.ok()) return s;
    auto& h = db.stmt("DELETE FROM memory_history WHERE project_id=?1 AND record_id IN"
                      " (SELECT id FROM memory_records WHERE project_id=?1 AND user_id=?2)");
    if (Status s = h.bind(1, project).bind(2, user_id).run(); !s.ok()) return s;
    auto& r = db.stmt("DELETE FROM memory_records WHERE project_id=?1 AND user_id=?2");
    if (Status s = r.bind(1, project).bind(2, user_id).run(); !s.ok()) return s;
    *count = db.changes();
    auto& j = db.stmt("DELETE FROM memory_jobs WHERE project_id=?1 AND user_id=?2");
    return j.bind(1, project).bind(2, user_id).run();
  };
  Status st = co_await write_async(impl_->store, std::move(fn));
  if (!st.ok()) co_return st;
  impl_->drop_index(project, user_id);
  co_return *count;
}

awaitable<Result<std::vector<Job>>> Memory::jobs(const std::string& project, std::optional<std::string> status, int limit,
                                                 std::optional<std::string> user) {
  using R = Result<std::vector<Job>>;
  std::function<R(store::Database&)> fn = [project, status, limit, user](store::Database& db) -> R {
    auto& q = db.stmt("SELECT id, kind, status, user_id, last_error, attempts, created_at, updated_at, next_run_at"
                      " FROM memory_jobs WHERE project_id=?1 AND (?2 IS NULL OR status=?2) AND (?4 IS NULL OR user_id=?4)"
                      " ORDER BY created_at DESC, id DESC LIMIT ?3");
    q.bind(1, project).bind_opt(2, status).bind(3, limit).bind_opt(4, user);
    std::vector<Job> out;
    while (q.step()) {
      Job j;
      j.id = q.text(0);
      j.kind = q.text(1);
      j.status = q.text(2);
      j.user_id = q.text(3);
      j.last_error = q.text(4);
      j.attempts = static_cast<int>(q.int64(5));
      j.created_at = q.int64(6);
      j.updated_at = q.int64(7);
      j.next_run_at = q.int64(8) / 1000;
      out.push_back(std::move(j));
    }
    Status st = q.status();
    q.reset();
    if (!st.ok()) return st;
    return out;
  };
  co_return co_await read_async<R>(impl_->store, std::move(fn));
}

}  // namespace cn::memory
