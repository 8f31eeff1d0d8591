// Many nodes on one store (Options::shared): the records' change feed that keeps every node's
// vector indexes consistent with the records another node changed.
//
// A change to a record's vector (added, replaced, retired) or the erasure of a user's memories
// is written to `memory_changes` in the transaction that makes it, with the writing node, and
// announced ("mem:"). Each node applies the other nodes' changes to the indexes it holds
// (adds replace, so applying twice is harmless) when an announcement comes and before each
// search that uses an index: a search on one node sees a write acknowledged on another (read
// your writes). Feed sequence numbers are taken when a transaction writes, not when it
// commits, so a change can become visible after a later one: each read goes back a window of
// numbers before the last one applied and skips those it has applied.
//
// The feed keeps its last kFeedKept changes: every kPruneEvery-th change a node writes also
// deletes older ones. A node that fell further behind than that (it saw no announcement and made
// no search meanwhile) finds the feed's oldest change past its position and drops every index
// it holds; they are read again from the records on next use.
#include <spdlog/spdlog.h>

#include <atomic>

#include "base/node.hpp"
#include "memory/impl.hpp"

namespace cn::memory {

namespace {
constexpr int64_t kFeedWindow = 1024;
constexpr size_t kSeenKept = 4096;
constexpr int64_t kFeedKept = 100'000;
constexpr uint64_t kPruneEvery = 1024;
std::atomic<uint64_t> written{0};
}  // namespace

std::vector<store::Migration> feed_migrations() {
  return {{"memory", 3, R"sql(
CREATE TABLE memory_changes (
  seq INTEGER PRIMARY KEY,
  project_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  record_seq INTEGER NOT NULL,
  added INTEGER NOT NULL,
  node TEXT NOT NULL
);
ALTER TABLE memory_jobs ADD COLUMN node TEXT NOT NULL DEFAULT '';
)sql"}};
}

Status feed_change(store::Database& db, const std::string& project, const std::string& user, int64_t record_seq,
                   bool added) {
  if (db.dialect() != store::Dialect::postgres) return Status();
  auto& q = db.stmt("INSERT INTO memory_changes (project_id, user_id, record_seq, added, node) VALUES (?1, ?2, ?3, ?4, ?5)");
  if (Status st = q.bind(1, project).bind(2, user).bind(3, record_seq).bind(4, added ? 1 : 0).bind(5, this_node()).run();
      !st.ok())
    return st;
  if (written.fetch_add(1) % kPruneEvery == kPruneEvery - 1) {
    auto& p = db.stmt("DELETE FROM memory_changes WHERE seq < (SELECT MAX(seq) FROM memory_changes) - ?1");
    if (Status st = p.bind(1, kFeedKept).run(); !st.ok()) return st;
  }
  return db.notify("mem:");
}

Status Memory::Impl::catch_up(store::Database& db) {
  std::lock_guard lk(feed_mu);
  if (!feed_ready) return Status();
  auto& oldest = db.stmt("SELECT COALESCE(MIN(seq), 0) FROM memory_changes");
  int64_t first = oldest.step() ? oldest.int64(0) : 0;
  Status ost = oldest.status();
  oldest.reset();
  if (!ost.ok()) return ost;
  if (first > feed_pos + 1) {
    // Changes this node never applied were pruned: what it holds may be stale.
    spdlog::warn("memory: this node fell behind the change feed (at {}, oldest kept {}); dropping its indexes", feed_pos, first);
    {
      std::lock_guard ilk(idx_mu);
      indexes.clear();
    }
    feed_pos = first - 1;
  }
  auto& q = db.stmt(
      "SELECT c.seq, c.project_id, c.user_id, c.record_seq, c.added, r.embedding FROM memory_changes c"
      " LEFT JOIN memory_records r ON r.seq = c.record_seq WHERE c.seq > ?1 AND c.node <> ?2 ORDER BY c.seq");
  q.bind(1, feed_pos - kFeedWindow).bind(2, this_node());
  struct Row {
    std::string project, user;
    IndexChange change;
    bool erase = false;
  };
  std::vector<Row> rows;
  int64_t top = feed_pos;
  while (q.step()) {
    int64_t seq = q.int64(0);
    top = std::max(top, seq);
    if (!feed_seen.insert(seq).second) continue;
    feed_order.push_back(seq);
    Row r{q.text(1), q.text(2), {q.int64(4) != 0, q.text(2), q.int64(3), {}}};
    r.erase = r.change.seq < 0;
    if (r.change.add) {
      auto b = q.blob(5);
      if (b.empty()) continue;  // the record is gone again
      auto* f = reinterpret_cast<const float*>(b.data());
      r.change.vec.assign(f, f + b.size() / sizeof(float));
    }
    rows.push_back(std::move(r));
  }
  Status st = q.status();
  q.reset();
  if (!st.ok()) return st;
  while (feed_order.size() > kSeenKept) {
    feed_seen.erase(feed_order.front());
    feed_order.pop_front();
  }
  feed_pos = top;
  for (auto& r : rows) {
    if (r.erase)
      drop_index(r.project, r.user);
    else
      apply(r.project, {std::move(r.change)});
  }
  return Status();
}

Status Memory::Impl::start_feed(store::Database& db) {
  std::lock_guard lk(feed_mu);
  auto& q = db.stmt("SELECT COALESCE(MAX(seq), 0) FROM memory_changes");
  feed_pos = q.step() ? q.int64(0) : 0;
  Status st = q.status();
  q.reset();
  feed_ready = st.ok();
  return st;
}

awaitable<void> Memory::Impl::follow_feed() {
  if (!opts.shared) co_return;
  std::function<Status(store::Database&)> fn = [this](store::Database& db) { return catch_up(db); };
  Status st = co_await read_async<Status>(store, std::move(fn));
  if (!st.ok()) spdlog::warn("memory: reading the change feed failed: {}", st.message());
}

void Memory::on_changed() {
  if (!impl_->opts.shared || impl_->stopping.load()) return;
  impl_->store.read([im = impl_.get()](store::Database& db) {
    if (Status st = im->catch_up(db); !st.ok()) spdlog::warn("memory: reading the change feed failed: {}", st.message());
  });
}

}  // namespace cn::memory
