// The response tree's hot cache: immutable chain nodes shared by every branch, loaded from the
// store with their uncached ancestors in one read job on a miss, and the budget that bounds it
// in bytes (least recently used nodes dropped first) — with the finished runs kept for replay,
// bounded alike.
#include "runtime/impl.hpp"

#include "base/log.hpp"

namespace cn::runtime {

std::string events_array(const std::vector<std::string>& events, const std::string& last) {
  std::string out = "[";
  for (const auto& e : events) (out += e) += ',';
  if (!last.empty()) (out += last) += ',';
  if (out.size() > 1) out.back() = ']';
  else out += ']';
  return out;
}

void Runtime::Impl::meter_node(ChainNode& n) const {
  int64_t b = sizeof(ChainNode) + static_cast<int64_t>(n.id.capacity() + n.owner.capacity());
  for (const auto& i : n.inputs) b += static_cast<int64_t>(i->approx_bytes());
  for (const auto& i : n.outputs) b += static_cast<int64_t>(i->approx_bytes());
  n.bytes = b;
  n.meter = chain_meter;
  chain_meter->fetch_add(b, std::memory_order_relaxed);
}

void Runtime::Impl::cache_node(const std::string& project, NodePtr n) {
  std::lock_guard lk(mu);
  auto k = key_of(project, n->id);
  auto [it, inserted] = nodes.try_emplace(k);
  if (inserted) {
    it->second.node = std::move(n);
    it->second.lru = node_lru.insert(node_lru.end(), k);
    it->second.used_at = std::chrono::steady_clock::now();
  } else {
    touch_locked(it->second);
  }
  trim_nodes_locked();
}

void Runtime::Impl::touch_locked(CachedNode& c) {
  node_lru.splice(node_lru.end(), node_lru, c.lru);
  c.used_at = std::chrono::steady_clock::now();
}

void Runtime::Impl::trim_nodes_locked() {
  // A node dropped while a cached child still holds it frees nothing until the child goes too;
  // the meter counts what is alive, so the loop goes on to older entries. The newest node stays:
  // the turn that made it is about to be continued.
  while (node_lru.size() > 1 && (nodes.size() > opts.chain_cache_nodes ||
                                 chain_meter->load(std::memory_order_relaxed) > static_cast<int64_t>(opts.chain_cache_bytes))) {
    nodes.erase(node_lru.front());
    node_lru.pop_front();
  }
}

NodePtr Runtime::Impl::cached_node(const Scope& scope, const std::string& id) {
  std::lock_guard lk(mu);
  auto it = nodes.find(key_of(scope.project, id));
  if (it == nodes.end()) {
    ++misses;
    return nullptr;
  }
  ++hits;
  touch_locked(it->second);
  return scope.sees(it->second.node->owner) ? it->second.node : nullptr;
}

void Runtime::Impl::keep_recent_locked(std::shared_ptr<Run> run) {
  int64_t size = 0;
  {
    std::lock_guard rl(run->mu_);
    const auto& st = *run->st_;
    // Only stored runs with an event log can be replayed; anything else holds nothing once its
    // followers are gone.
    if (!st.store || !st.record_events) return;
    for (const auto& e : st.events) size += static_cast<int64_t>(e.capacity());
    for (const auto& o : st.output) size += static_cast<int64_t>(o.text.capacity() + o.output.capacity());
    size += static_cast<int64_t>(sizeof(Run) + sizeof(Run::State));
  }
  recent_bytes += size;
  recent.push_back({std::move(run), size, std::chrono::steady_clock::now()});
  while (!recent.empty() &&
         (recent.size() > opts.recent_runs || recent_bytes > static_cast<int64_t>(opts.run_events_bytes)))
    evict_recent_locked();
}

void Runtime::Impl::evict_recent_locked() {
  auto old = std::move(recent.front().run);
  recent_bytes -= recent.front().bytes;
  recent.pop_front();
  if (old->background()) {  // its events were stored with its outcome
    drop_shipped(old->id());
    return;
  }
  // A streamed run's events exist only here: write them to its row, so that a stream resumed
  // by sequence number still finds them. Until that commits, the run is served from `spilling`.
  std::string blob;
  {
    std::lock_guard rl(old->mu_);
    blob = events_array(old->st_->events);
  }
  std::string key = key_of(old->project_id(), old->id());
  spilling[key] = old;
  std::string project = old->project_id(), id = old->id();
  store.submit(
      [project, id, blob = std::move(blob)](store::Database& db) {
        if (Status st = repo::put_events(db, project, id, blob); !st.ok() || db.dialect() != store::Dialect::postgres)
          return st;
        return db.stmt("DELETE FROM run_events WHERE response_id=?1").bind(1, id).run();
      },
      [this, key](Status st) {
        static LogThrottle log;
        if (!st.ok() && log.tick()) spdlog::warn("writing the events of an evicted run failed: {}", st.message());
        std::lock_guard lk(mu);
        spilling.erase(key);
      });
}

std::shared_ptr<Run> Runtime::Impl::live_run_locked(const Scope& scope, const std::string& id) const {
  auto it = live.find(key_of(scope.project, id));
  if (it == live.end() || !scope.sees(it->second->owner())) return nullptr;
  return it->second;
}

// The node of a stored response, from the cache or loaded (with uncached ancestors) from disk.
awaitable<Result<NodePtr>> Runtime::Impl::load_node(Scope scope, std::string id) {
  const std::string project = scope.project;
  {
    std::lock_guard lk(mu);
    if (auto it = nodes.find(key_of(project, id)); it != nodes.end()) {
      ++hits;
      touch_locked(it->second);
      if (!scope.sees(it->second.node->owner)) co_return not_found_response(id);
      co_return it->second.node;
    }
    ++misses;
  }
  // Built on the reader thread, child first; the parent links are set here, where the chain is
  // known whole (nodes are immutable once published).
  struct Loaded {
    std::vector<std::shared_ptr<ChainNode>> chain;
    std::optional<std::string> root_parent;  // the parent of the oldest loaded node, if cached
  };
  std::function<Result<Loaded>(store::Database&)> store_fn0 = [this, scope, id](store::Database& db) -> Result<Loaded> {
    const std::string& project = scope.project;
    Loaded out;
    std::string cur = id;
    // One read transaction for the whole walk: one snapshot, and one lock instead of one per
    // ancestor.
    (void)db.exec("BEGIN");
    struct End {
      store::Database& db;
      ~End() { (void)db.exec("COMMIT"); }
    } end{db};
    // The tip must be visible in the caller's scope; its ancestors are its context, whoever
    // they belong to.
    const Scope ancestors{project, std::nullopt};
    for (;;) {
      auto row = repo::get_response(db, out.chain.empty() ? scope : ancestors, cur, true);
      if (!row.ok()) {
        if (out.chain.empty()) return row.status();
        break;  // an expired ancestor: the chain starts here
      }
      // A deleted response is gone for its own id, but stays as its children's context.
      if (out.chain.empty() && row->deleted) return not_found_response(cur);
      auto n = std::make_shared<ChainNode>();
      n->id = std::move(row->id);
      n->owner = std::move(row->user_id);
      n->created_at = row->created_at;
      n->inputs = std::move(row->inputs);
      n->outputs = std::move(row->outputs);
      out.chain.push_back(std::move(n));
      if (!row->parent_id) break;
      cur = std::move(*row->parent_id);
      {
        std::lock_guard lk(mu);
        if (nodes.count(key_of(project, cur))) {
          out.root_parent = cur;
          break;
        }
      }
    }
    return out;
  };
  auto loaded = co_await read_async<Result<Loaded>>(store, std::move(store_fn0));
  if (!loaded.ok()) co_return loaded.status();
  auto& chain = loaded->chain;
  NodePtr parent;
  if (loaded->root_parent) parent = cached_node(Scope{project, std::nullopt}, *loaded->root_parent);
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    (*it)->parent = parent;
    count_tokens(**it);
    meter_node(**it);
    parent = *it;
    cache_node(project, parent);
  }
  co_return parent;
}

void count_tokens(ChainNode& n) {
  n.tokens = 0;
  for (const auto& i : n.inputs) n.tokens += i->token_estimate();
  for (const auto& i : n.outputs) n.tokens += i->token_estimate();
  n.path_tokens = n.tokens + (n.parent ? n.parent->path_tokens : 0);
}

std::vector<ItemPtr> Runtime::Impl::path_items(const NodePtr& tip) {
  std::vector<const ChainNode*> path;
  size_t n = 0;
  for (const ChainNode* c = tip.get(); c; c = c->parent.get()) {
    path.push_back(c);
    n += c->inputs.size() + c->outputs.size();
  }
  std::vector<ItemPtr> out;
  out.reserve(n);
  for (auto it = path.rbegin(); it != path.rend(); ++it) {
    out.insert(out.end(), (*it)->inputs.begin(), (*it)->inputs.end());
    out.insert(out.end(), (*it)->outputs.begin(), (*it)->outputs.end());
  }
  return out;
}

}  // namespace cn::runtime
