// The audit log: hash-chained appends through the store's writer, bounded notes, listing and
// verification.
#include "identity/audit.hpp"

#include <sodium.h>

#include <future>

#include "store/async.hpp"

namespace cn::identity {

namespace {

std::string chain_hash(const std::string& prev, const AuditEntry& e) {
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, 32);
  auto add = [&](std::string_view v) {
    // Length-prefixed, so that field boundaries cannot be shifted.
    uint64_t n = v.size();
    crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(&n), sizeof n);
    crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(v.data()), v.size());
  };
  std::string seq = std::to_string(e.seq), at = std::to_string(e.at_ms);
  for (std::string_view v : {std::string_view(prev), std::string_view(seq), std::string_view(at),
                             std::string_view(e.project_id), std::string_view(e.actor), std::string_view(e.action),
                             std::string_view(e.target), std::string_view(e.detail)})
    add(v);
  unsigned char out[32];
  crypto_generichash_final(&st, out, sizeof out);
  static constexpr char hex[] = "0123456789abcdef";
  std::string s;
  for (unsigned char c : out) {
    s += hex[c >> 4];
    s += hex[c & 15];
  }
  return s;
}

constexpr const char* kCols = "seq, at_ms, project_id, actor, action, target, detail, hash";

AuditEntry entry_from(store::Statement& q) {
  return AuditEntry{q.int64(0), q.int64(1), q.text(2), q.text(3), q.text(4), q.text(5), q.text(6), q.text(7)};
}

}  // namespace

std::vector<store::Migration> Audit::migrations() {
  return {{"audit", 1, R"sql(
CREATE TABLE audit_log (
  seq INTEGER PRIMARY KEY,
  at_ms INTEGER NOT NULL,
  project_id TEXT NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  target TEXT NOT NULL,
  detail TEXT NOT NULL,
  hash TEXT NOT NULL
);
CREATE INDEX audit_project ON audit_log(project_id, seq);
)sql"}};
}

Audit::Audit(store::Executor& store, Clock& clock, int max_notes_per_second)
    : store_(store), clock_(clock), max_notes_(max_notes_per_second) {}

store::Executor::WriteFn Audit::append_fn(AuditEntry e) {
  return [e = std::move(e)](store::Database& db) mutable {
    // On the writer thread, inside the group's transaction: the last entry is the previous one.
    auto& last = db.stmt("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1");
    std::string prev;
    e.seq = 1;
    if (last.step()) {
      e.seq = last.int64(0) + 1;
      prev = last.text(1);
    }
    Status st = last.status();
    last.reset();
    if (!st.ok()) return st;
    e.hash = chain_hash(prev, e);
    auto& ins = db.stmt("INSERT INTO audit_log(seq, at_ms, project_id, actor, action, target, detail, hash)"
                        " VALUES (?1,?2,?3,?4,?5,?6,?7,?8)");
    ins.bind(1, e.seq).bind(2, e.at_ms).bind(3, e.project_id).bind(4, e.actor).bind(5, e.action);
    return ins.bind(6, e.target).bind(7, e.detail.empty() ? std::string("{}") : e.detail).bind(8, e.hash).run();
  };
}

boost::asio::awaitable<Status> Audit::record(AuditEntry e) {
  e.at_ms = clock_.now_millis();
  if (e.detail.empty()) e.detail = "{}";
  co_return co_await store::write_async(store_, append_fn(std::move(e)));
}

Status Audit::record_blocking(AuditEntry e) {
  e.at_ms = clock_.now_millis();
  if (e.detail.empty()) e.detail = "{}";
  std::promise<Status> p;
  auto f = p.get_future();
  store_.submit(append_fn(std::move(e)), [&p](Status s) { p.set_value(std::move(s)); });
  return f.get();
}

void Audit::note(AuditEntry e) {
  {
    std::lock_guard lk(mu_);
    int64_t s = clock_.now_seconds();
    if (s != window_s_) {
      window_s_ = s;
      notes_in_window_ = 0;
    }
    if (notes_in_window_ >= max_notes_) {
      dropped_.fetch_add(1);
      return;
    }
    ++notes_in_window_;
  }
  e.at_ms = clock_.now_millis();
  if (e.detail.empty()) e.detail = "{}";
  store_.submit(append_fn(std::move(e)), [](Status) {});
}

void Audit::note_key_use(const std::string& project, const std::string& key_id) {
  {
    std::lock_guard lk(mu_);
    int64_t minute = clock_.now_seconds() / 60;
    auto& last = key_used_minute_[key_id];
    if (last == minute) return;
    last = minute;
  }
  note(AuditEntry{0, 0, project, key_id, "key.used", key_id, "{}", ""});
}

boost::asio::awaitable<Result<std::vector<AuditEntry>>> Audit::list(std::string project, int64_t after, int limit,
                                                                     std::string action) {
  using R = Result<std::vector<AuditEntry>>;
  std::function<R(store::Database&)> fn = [project, after, limit, action](store::Database& db) -> R {
    auto& q = db.stmt(std::string("SELECT ") + kCols +
                      " FROM audit_log WHERE seq > ?1 AND (?2 = '' OR project_id = ?2) AND (?3 = '' OR action = ?3)"
                      " ORDER BY seq LIMIT ?4");
    q.bind(1, after).bind(2, project).bind(3, action).bind(4, static_cast<int64_t>(limit));
    std::vector<AuditEntry> out;
    while (q.step()) out.push_back(entry_from(q));
    Status st = q.status();
    q.reset();
    if (!st.ok()) return st;
    return out;
  };
  co_return co_await store::read_async<R>(store_, std::move(fn));
}

Result<int64_t> Audit::verify(store::Database& db) {
  auto& q = db.stmt(std::string("SELECT ") + kCols + " FROM audit_log ORDER BY seq");
  std::string prev;
  int64_t n = 0, expect = 1;
  while (q.step()) {
    AuditEntry e = entry_from(q);
    std::string why;
    if (e.seq != expect) why = "entry " + std::to_string(expect) + " is missing";
    else if (chain_hash(prev, e) != e.hash) why = "entry " + std::to_string(e.seq) + " was altered (its hash does not match)";
    if (!why.empty()) {
      q.reset();
      return Status(Code::failed_precondition, "audit chain broken: " + why);
    }
    prev = e.hash;
    ++expect;
    ++n;
  }
  Status st = q.status();
  q.reset();
  if (!st.ok()) return st;
  return n;
}

}  // namespace cn::identity
