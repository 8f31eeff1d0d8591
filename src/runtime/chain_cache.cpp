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

NodePtr Runtime::Impl::cached_node(const std::string& project, const std::string& id) {
  std::lock_guard lk(mu);
  auto it = nodes.find(key_of(project, id));
  if (it == nodes.end()) {
    ++misses;
    return nullptr;
  }
  ++hits;
  return it->second;
}

// The node of a stored response, from the cache or loaded (with uncached ancestors) from disk.
awaitable<Result<NodePtr>> Runtime::Impl::load_node(const std::string& project, const std::string& id) {
  if (auto n = cached_node(project, id)) co_return n;
  using Chain = std::vector<ResponseRow>;  // child first, with items
  std::function<Result<Chain>(store::Database&)> store_fn0 = [this, project, id](store::Database& db) -> Result<Chain> {
    Chain chain;
    std::string cur = id;
    for (;;) {
      auto row = repo::get_response(db, project, cur, true);
      if (!row.ok()) {
        if (chain.empty()) return row.status();
        break;  // an expired ancestor: the chain starts here
      }
      // A deleted response is gone for its own id, but stays as its children's context.
      if (chain.empty() && row->deleted) return not_found_response(cur);
      row->body.clear();
      row->events.clear();
      std::optional<std::string> parent = row->parent_id;
      chain.push_back(std::move(*row));
      if (!parent) break;
      {
        std::lock_guard lk(mu);
        if (nodes.count(key_of(project, *parent))) break;
      }
      cur = *parent;
    }
    return chain;
  };
  auto loaded = co_await read_async<Result<Chain>>(store, std::move(store_fn0));
  if (!loaded.ok()) co_return loaded.status();
  auto& chain = *loaded;
  NodePtr parent;
  if (!chain.empty() && chain.back().parent_id) parent = cached_node(project, *chain.back().parent_id);
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    auto n = std::make_shared<ChainNode>();
    n->id = it->id;
    n->parent = parent;
    n->created_at = it->created_at;
    n->inputs = std::move(it->inputs);
    n->outputs = std::move(it->outputs);
    for (const auto& i : n->inputs) n->tokens += i->token_estimate();
    for (const auto& i : n->outputs) n->tokens += i->token_estimate();
    parent = n;
    cache_node(project, n);
  }
  co_return parent;
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
