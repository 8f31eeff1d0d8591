// Per-namespace vector indexes (one per project and user): loaded or built on a builder thread,
// rebuilt as HNSW when a namespace outgrows exact search, kept within a memory budget, saved
// periodically and at shutdown, and caught up with the store after a load; plus embeddings.
#include "memory/impl.hpp"

#include <filesystem>

#include "base/ids.hpp"
#include "base/log.hpp"
#include "model/embed.hpp"

namespace cn::memory {

void Memory::Impl::trim_indexes_locked(const std::string& keep) {
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

std::string Memory::Impl::index_path(const std::string& key) const {
  return (std::filesystem::path(opts.index_dir) / (sha256_hex(key).substr(0, 32) + ".hnsw")).string();
}

void Memory::Impl::replay(VectorIndex& idx, const Changes& pending) {
  for (const auto& c : pending) {
    if (!c.add) {
      idx.remove(c.seq);
    } else if (c.vec.size() == idx.dims()) {
      idx.add(c.seq, c.vec.data());
    }
  }
}

void Memory::Impl::apply(const std::string& project, const Changes& changes) {
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

awaitable<std::shared_ptr<VectorIndex>> Memory::Impl::index_for(const std::string& project, const std::string& user, size_t dims) {
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

awaitable<void> Memory::Impl::rebuild(std::string project, std::string user, std::string key, size_t dims, uint64_t generation) {
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

awaitable<std::shared_ptr<VectorIndex>> Memory::Impl::load_index(const std::string& project, const std::string& user,
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

awaitable<std::shared_ptr<VectorIndex>> Memory::Impl::on_builder(std::function<std::shared_ptr<VectorIndex>()> fn) {
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

awaitable<void> Memory::Impl::warm() {
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

awaitable<void> Memory::Impl::saver() {
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

void Memory::Impl::drop_index(const std::string& project, const std::string& user) {
  std::string key = ns_key(project, user);
  std::lock_guard lk(idx_mu);
  indexes.erase(key);
  if (!opts.index_dir.empty()) {
    std::error_code ec;
    std::filesystem::remove(index_path(key), ec);
    std::filesystem::remove(index_path(key) + ".tag", ec);
  }
}

void Memory::Impl::save_indexes() {
  if (opts.index_dir.empty()) return;
  std::error_code ec;
  std::filesystem::create_directories(opts.index_dir, ec);
  std::lock_guard lk(idx_mu);
  for (auto& [key, e] : indexes) {
    if (!e.idx || !e.idx->is_hnsw()) continue;
    e.idx->save(index_path(key), std::to_string(e.idx->size()));
  }
}

awaitable<Result<std::vector<float>>> Memory::Impl::embed(const std::string& text) {
  std::string t = text;
  auto r = co_await models.embedder().embed(std::move(t));
  if (!r.ok()) co_return Status(Code::unavailable, "embedding failed: " + r.status().message());
  co_return r;
}

}  // namespace cn::memory
