// The response tree's hot cache: immutable chain nodes shared by every branch, loaded from the
// store with their uncached ancestors in one read job on a miss, evicted oldest first.
#include "runtime/impl.hpp"

namespace cn::runtime {

void Runtime::Impl::cache_node(const std::string& project, NodePtr n) {
  std::lock_guard lk(mu);
  auto k = key_of(project, n->id);
  if (nodes.emplace(k, std::move(n)).second) node_order.push_back(k);
  while (nodes.size() > opts.chain_cache_nodes && !node_order.empty()) {
    nodes.erase(node_order.front());
    node_order.pop_front();
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
  return scope.sees(it->second->owner) ? it->second : nullptr;
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
      if (!scope.sees(it->second->owner)) co_return not_found_response(id);
      co_return it->second;
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
