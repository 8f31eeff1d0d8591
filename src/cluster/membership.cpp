// Membership: joining, the fencing guard, heartbeats, lease expiry and takeover.
#include "cluster/membership.hpp"

#include <future>
#include <set>

#include "base/log.hpp"

namespace cn::cluster {

namespace {

// Runs a write on the executor and waits for its commit (the membership thread may block).
Status write_blocking(store::Executor& ex, std::function<Status(store::Database&)> fn) {
  std::promise<Status> p;
  auto f = p.get_future();
  ex.submit(std::move(fn), [&p](Status st) { p.set_value(std::move(st)); });
  return f.get();
}

template <typename T>
T read_blocking(store::Executor& ex, std::function<T(store::Database&)> fn) {
  std::promise<T> p;
  auto f = p.get_future();
  ex.read([&p, &fn](store::Database& db) { p.set_value(fn(db)); });
  return f.get();
}

}  // namespace

std::vector<store::Migration> Membership::migrations() {
  store::Migration m{"cluster", 1, R"sql(
CREATE TABLE cluster_nodes (
  id TEXT PRIMARY KEY,
  fence INTEGER NOT NULL,
  address TEXT NOT NULL,
  started_at INTEGER NOT NULL,
  heartbeat_at INTEGER NOT NULL
);
)sql"};
  // Heartbeats are in the database's milliseconds, so that the nodes' clocks need not agree.
  m.pg_sql = m.sql + "CREATE SEQUENCE cluster_fence;";
  return {m};
}

Membership::Membership(store::Executor& store, MembershipOptions opts) : store_(store), opts_(std::move(opts)) {}

Membership::~Membership() { leave(); }

Status Membership::join() {
  auto fence = std::make_shared<int64_t>(0);
  std::string id = opts_.node_id, address = opts_.address;
  Status st = write_blocking(store_, [fence, id, address](store::Database& db) -> Status {
    auto& q = db.stmt(
        "INSERT INTO cluster_nodes(id, fence, address, started_at, heartbeat_at)"
        " VALUES (?1, nextval('cluster_fence'), ?2, now_ms(), now_ms())"
        " ON CONFLICT (id) DO UPDATE SET fence = excluded.fence, address = excluded.address,"
        " started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at RETURNING fence");
    *fence = q.bind(1, id).bind(2, address).step() ? q.int64(0) : 0;
    Status s = q.status();
    q.reset();
    return s;
  });
  if (!st.ok()) return st;
  fence_ = *fence;
  store_.set_group_guard([this](store::Database& db) { return guard(db); });
  spdlog::info("cluster: joined as {} (fencing token {})", opts_.node_id, fence_);
  return {};
}

Status Membership::guard(store::Database& db) {
  if (gone_.load())
    return Status(Code::unavailable, "This node has left the cluster: it writes nothing more.", "", "node_left");
  auto& q = db.stmt("UPDATE cluster_nodes SET heartbeat_at = now_ms() WHERE id=?1 AND fence=?2");
  if (Status st = q.bind(1, opts_.node_id).bind(2, fence_).run(); !st.ok()) return st;
  if (db.changes() == 1) return {};
  Status fenced(Code::unavailable, "This node lost its lease: another node has taken its runs over.", "", "node_fenced");
  if (!fenced_.exchange(true)) {
    spdlog::critical("cluster: node {} lost its lease (fencing token {} is no longer current); its writes are refused",
                     opts_.node_id, fence_);
    if (opts_.on_fenced) opts_.on_fenced();
  }
  return fenced;
}

void Membership::start() {
  thread_ = std::thread([this] { loop(); });
}

void Membership::loop() {
  std::unique_lock lk(mu_);
  while (!stopping_) {
    lk.unlock();
    tick_once();
    lk.lock();
    cv_.wait_for(lk, opts_.heartbeat, [this] { return stopping_; });
  }
}

void Membership::tick_once() {
  if (fenced_.load()) return;
  // The heartbeat: an empty write, renewed by the guard in its group's transaction.
  (void)write_blocking(store_, [](store::Database&) { return Status(); });
  // Owners first, nodes second: a node that owns a run now had joined before, so it is among the
  // nodes read next unless its lease has expired.
  Result<std::vector<std::string>> owners = opts_.run_owners ? opts_.run_owners() : std::vector<std::string>{};
  int64_t lease = opts_.lease.count();
  using Nodes = Result<std::pair<std::set<std::string>, std::vector<std::string>>>;
  Nodes nodes = read_blocking<Nodes>(store_, [lease](store::Database& db) -> Nodes {
    std::set<std::string> live;
    std::vector<std::string> expired;
    auto& q = db.stmt("SELECT id, heartbeat_at < now_ms() - ?1 FROM cluster_nodes");
    q.bind(1, lease);
    while (q.step()) {
      if (q.int64(1)) expired.push_back(q.text(0));
      else live.insert(q.text(0));
    }
    Status st = q.status();
    q.reset();
    if (!st.ok()) return st;
    return std::make_pair(std::move(live), std::move(expired));
  });
  if (!nodes.ok()) {
    spdlog::warn("cluster: reading the nodes failed: {}", nodes.status().message());
    return;
  }
  auto& live = nodes->first;
  for (const auto& dead : nodes->second) {
    // Rechecked in the delete: a node whose heartbeat came in meanwhile keeps its row, and its
    // runs.
    auto removed = std::make_shared<int64_t>(0);
    Status st = write_blocking(store_, [dead, lease, removed](store::Database& db) -> Status {
      auto& q = db.stmt("DELETE FROM cluster_nodes WHERE id=?1 AND heartbeat_at < now_ms() - ?2");
      Status s = q.bind(1, dead).bind(2, lease).run();
      *removed = db.changes();
      return s;
    });
    if (st.ok() && *removed) spdlog::warn("cluster: node {}'s lease expired; its runs are taken over", dead);
    else live.insert(dead);
  }
  live_.store(live.size());
  if (owners.ok() && opts_.take_over) {
    for (const auto& owner : *owners) {
      if (owner == opts_.node_id || live.count(owner)) continue;
      if (Status st = opts_.take_over(owner); !st.ok())
        spdlog::error("cluster: taking over node {}'s runs failed: {}", owner.empty() ? "(embedded)" : owner, st.message());
      else
        takeovers_.fetch_add(1);
    }
  } else if (!owners.ok()) {
    spdlog::warn("cluster: reading the runs' owners failed: {}", owners.status().message());
  }
  if (opts_.tick) opts_.tick();
}

void Membership::leave() {
  {
    std::lock_guard lk(mu_);
    if (left_) return;
    left_ = true;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (fence_ == 0 || fenced_.load()) return;
  std::string id = opts_.node_id;
  int64_t fence = fence_;
  Status st = write_blocking(store_, [id, fence](store::Database& db) {
    return db.stmt("DELETE FROM cluster_nodes WHERE id=?1 AND fence=?2").bind(1, id).bind(2, fence).run();
  });
  gone_.store(true);
  if (!st.ok()) spdlog::warn("cluster: leaving failed ({}); the lease expires by itself", st.message());
  else spdlog::info("cluster: node {} left", opts_.node_id);
}

}  // namespace cn::cluster
