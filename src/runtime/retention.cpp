// Retention (expired responses and conversations deleted with their cache entries), idle
// expiry of cached state, graceful shutdown of runs, and runtime statistics.
#include "runtime/impl.hpp"

#include "base/log.hpp"

namespace cn::runtime {

awaitable<Result<int64_t>> Runtime::expire_now() {
  auto& im = *impl_;
  if (im.opts.retention_seconds <= 0) co_return int64_t{0};
  int64_t cutoff = im.clock.now_seconds() - im.opts.retention_seconds;
  auto counts = std::make_shared<std::pair<int64_t, int64_t>>(0, 0);
  std::function<Status(store::Database&)> store_fn15 = [cutoff, counts](store::Database& db) {
    if (Status s = repo::expire(db, cutoff, &counts->first, &counts->second); !s.ok()) return s;
    return db.vacuum_step();
  };
  Status st = co_await write_async(im.store, std::move(store_fn15));
  if (!st.ok()) co_return st;
  {
    std::lock_guard lk(im.mu);
    for (auto it = im.nodes.begin(); it != im.nodes.end();) {
      if (it->second.node->created_at < cutoff) {
        im.node_lru.erase(it->second.lru);
        it = im.nodes.erase(it);
      } else {
        ++it;
      }
    }
    std::erase_if(im.convs, [&](const auto& kv) { return kv.second->created_at < cutoff; });
  }
  if (counts->first || counts->second)
    spdlog::info("retention: deleted {} responses and {} conversations", counts->first, counts->second);
  co_return counts->first + counts->second;
}

IdleDrop Runtime::drop_idle(std::chrono::steady_clock::time_point cutoff) {
  auto& im = *impl_;
  IdleDrop d;
  std::vector<ConvPtr> convs;  // destroyed after the lock is released
  std::lock_guard lk(im.mu);
  // The LRU list is in order of use: the idle nodes are at its front.
  while (!im.node_lru.empty()) {
    auto it = im.nodes.find(im.node_lru.front());
    if (it->second.used_at >= cutoff) break;
    im.nodes.erase(it);
    im.node_lru.pop_front();
    ++d.nodes;
  }
  while (!im.recent.empty() && im.recent.front().kept_at < cutoff) {
    im.evict_recent_locked();
    ++d.runs;
  }
  for (auto it = im.convs.begin(); it != im.convs.end();) {
    if (it->second.use_count() == 1 && it->second->used_at < cutoff) {
      convs.push_back(std::move(it->second));
      it = im.convs.erase(it);
      ++d.conversations;
    } else {
      ++it;
    }
  }
  return d;
}

awaitable<void> Runtime::shutdown(std::chrono::milliseconds grace) {
  auto& im = *impl_;
  {
    std::lock_guard lk(im.mu);
    im.shutting_down = true;
  }
  auto ex = co_await net::this_coro::executor;
  net::steady_timer t(ex);
  auto until = std::chrono::steady_clock::now() + grace;
  for (;;) {
    std::vector<std::shared_ptr<Run>> runs;
    {
      std::lock_guard lk(im.mu);
      if (im.active == 0) co_return;
      if (std::chrono::steady_clock::now() >= until)
        for (auto& [k, r] : im.live) runs.push_back(r);
    }
    for (auto& r : runs) im.request_cancel(r, "shutdown");
    if (!runs.empty()) until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    t.expires_after(std::chrono::milliseconds(20));
    co_await t.async_wait(net::as_tuple(net::use_awaitable));
  }
}

RuntimeStats Runtime::stats() const {
  auto& im = *impl_;
  std::lock_guard lk(im.mu);
  RuntimeStats s;
  s.active_runs = im.active;
  s.cached_nodes = im.nodes.size();
  s.chain_bytes = im.chain_meter->load(std::memory_order_relaxed);
  s.recent_runs = im.recent.size() + im.spilling.size();
  s.run_events_bytes = im.recent_bytes;
  s.conversation_bytes = im.conv_meter->load(std::memory_order_relaxed);
  s.cache_hits = im.hits;
  s.cache_misses = im.misses;
  return s;
}

}  // namespace cn::runtime
