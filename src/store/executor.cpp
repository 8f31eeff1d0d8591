// Executor: the writer thread (grouped commits) and reader threads, and their orderly stop.
#include "store/executor.hpp"

#include "base/log.hpp"

namespace cn::store {

Result<std::unique_ptr<Executor>> Executor::start(ExecutorOptions opts,
                                                  const std::vector<Migration>& migrations) {
  auto open = [&](Database::Mode mode) {
    return opts.url.empty() ? Database::open(opts.path, mode, mode == Database::Mode::read_write ? opts.max_db_bytes : 0)
                            : Database::connect(opts.url, mode);
  };
  std::string where = opts.url.empty() ? opts.path : "PostgreSQL";
  auto w = open(Database::Mode::read_write);
  if (!w.ok()) {
    spdlog::error("store: opening {} for writing failed", where);
    return w.status();
  }
  if (Status st = (*w)->migrate(migrations); !st.ok()) {
    spdlog::error("store: checking the schema's migrations failed");
    return st;
  }
  std::vector<std::unique_ptr<Database>> rs;
  for (int i = 0; i < opts.readers; ++i) {
    auto r = open(Database::Mode::read_only);
    if (!r.ok()) {
      spdlog::error("store: opening a reader of {} failed", where);
      return r.status();
    }
    rs.push_back(std::move(*r));
  }
  std::unique_ptr<Executor> ex(new Executor());
  // Start read-only when the storage is already full: reads are served, writes refused until
  // the probe (writer_loop) finds space again.
  if (!(*w)->probe_writable()) ex->mark_full();
  ex->opts_ = std::move(opts);
  ex->writer_ = std::thread([e = ex.get(), db = std::move(*w)]() mutable {
    e->writer_loop(std::move(db));
  });
  for (auto& r : rs) {
    ex->readers_.emplace_back([e = ex.get(), db = std::move(r)]() mutable {
      e->reader_loop(std::move(db));
    });
  }
  return ex;
}

Executor::~Executor() { stop(); }

void Executor::submit(WriteFn fn, DoneFn done) {
  {
    std::lock_guard lk(wmu_);
    if (!stopping_ && writes_q_.size() < opts_.max_queue) {
      writes_q_.push_back({std::move(fn), std::move(done)});
      wcv_.notify_one();
      return;
    }
  }
  done(Status(Code::resource_exhausted, "store write queue is full or stopping"));
}

void Executor::set_group_guard(std::function<Status(Database&)> guard) {
  std::lock_guard lk(wmu_);
  guard_ = guard ? std::make_shared<std::function<Status(Database&)>>(std::move(guard)) : nullptr;
}

void Executor::mark_full() {
  if (!full_.exchange(true)) spdlog::error("storage is full: writes are refused until space is freed; reads are served");
}

void Executor::when_writable(std::function<void()> fn) {
  {
    std::lock_guard lk(wmu_);
    if (full_.load()) {
      on_writable_.push_back(std::move(fn));
      return;
    }
  }
  fn();
}

void Executor::leave_full() {
  std::vector<std::function<void()>> fns;
  {
    std::lock_guard lk(wmu_);
    full_.store(false);
    fns.swap(on_writable_);
  }
  spdlog::warn("storage is writable again");
  for (auto& fn : fns) fn();
}

void Executor::read(ReadFn fn) {
  std::lock_guard lk(rmu_);
  reads_q_.push_back(std::move(fn));
  rcv_.notify_one();
}

void Executor::release_memory() {
  {
    std::scoped_lock lk(wmu_, rmu_);
    release_gen_.fetch_add(1);
  }
  wcv_.notify_all();
  rcv_.notify_all();
}

namespace {
// SQLite keeps savepoint statements prepared; PostgreSQL cannot prepare them.
void savepoint(Database& db, const char* sql) {
  if (db.dialect() == Dialect::sqlite) (void)db.stmt(sql).run();
  else (void)db.exec(sql);
}
}  // namespace

void Executor::writer_loop(std::unique_ptr<Database> db) {
  std::vector<Write> batch;
  std::chrono::steady_clock::time_point last_probe{};
  std::vector<Status> outcomes;
  std::shared_ptr<std::function<Status(Database&)>> guard;
  uint64_t released = 0;
  // Memory is given back once the writes queued before the request have run (an idle sweep
  // queues the event logs it drops), so that they do not fill the cache again at once.
  auto release_when_idle = [&] {
    uint64_t gen = release_gen_.load();
    if (gen == released) return;
    {
      std::lock_guard lk(wmu_);
      if (!writes_q_.empty()) return;
    }
    released = gen;
    db->release_memory();
  };
  for (;;) {
    {
      std::unique_lock lk(wmu_);
      auto woken = [&] { return stopping_ || !writes_q_.empty() || release_gen_.load() != released; };
      if (full_.load()) {
        // Full: wake at least every probe interval, busy or not, to learn whether space is back.
        wcv_.wait_for(lk, opts_.probe_interval, woken);
      } else {
        wcv_.wait(lk, woken);
      }
      if (writes_q_.empty() && stopping_) return;
      while (!writes_q_.empty() && batch.size() < opts_.max_batch) {
        batch.push_back(std::move(writes_q_.front()));
        writes_q_.pop_front();
      }
      guard = guard_;
    }
    if (full_.load() && std::chrono::steady_clock::now() - last_probe >= opts_.probe_interval) {
      last_probe = std::chrono::steady_clock::now();
      if (db->probe_writable()) leave_full();
    }
    if (batch.empty()) {
      release_when_idle();
      continue;
    }
    outcomes.assign(batch.size(), Status());
    Status txn = db->begin();
    if (txn.ok() && guard) {
      txn = (*guard)(*db);
      if (!txn.ok()) (void)db->exec("ROLLBACK");
    }
    if (txn.ok()) {
      for (size_t i = 0; i < batch.size(); ++i) {
        savepoint(*db, "SAVEPOINT w");
        Status st;
        try {
          st = batch[i].fn(*db);
        } catch (const std::exception& e) {
          st = Status(Code::internal, std::string("store write threw: ") + e.what());
        }
        db->finish_statements();
        if (!st.ok() && !db->in_transaction()) {
          // The backend rolled the whole transaction back (SQLite may on a full disk or I/O
          // error; PostgreSQL when its connection is lost): the
          // group's earlier writes are gone too, so the group fails as one.
          txn = is_storage_full(st) ? st : Status(Code::internal, "the group's transaction was rolled back: " + st.message());
          break;
        }
        if (!st.ok()) savepoint(*db, "ROLLBACK TO w");
        savepoint(*db, "RELEASE w");
        outcomes[i] = std::move(st);
      }
      if (txn.ok()) {
        txn = db->exec("COMMIT");
        if (!txn.ok()) (void)db->exec("ROLLBACK");
      }
    }
    // Entering the full state is learnt from any write; leaving it only from the probe, so that
    // small writes squeezing into the last free pages do not make it flap.
    bool any_full = is_storage_full(txn);
    for (const auto& o : outcomes) any_full = any_full || is_storage_full(o);
    if (any_full) mark_full();
    else if (!txn.ok()) {
      static LogThrottle log;
      if (uint64_t n = log.tick()) spdlog::error("group commit failed: {} (x{} in the last second)", txn.message(), n);
    }
    commits_.fetch_add(1, std::memory_order_relaxed);
    writes_.fetch_add(batch.size(), std::memory_order_relaxed);
    for (size_t i = 0; i < batch.size(); ++i) {
      batch[i].fn = nullptr;  // what it captured is let go before its outcome is reported
      if (batch[i].done) batch[i].done(txn.ok() ? std::move(outcomes[i]) : txn);
    }
    batch.clear();
    release_when_idle();
  }
}

void Executor::reader_loop(std::unique_ptr<Database> db) {
  uint64_t released = 0;
  for (;;) {
    ReadFn fn;
    {
      std::unique_lock lk(rmu_);
      rcv_.wait(lk, [&] { return rstopping_ || !reads_q_.empty() || release_gen_.load() != released; });
      if (reads_q_.empty() && rstopping_) return;
      if (uint64_t gen = release_gen_.load(); gen != released) {
        released = gen;
        lk.unlock();
        db->release_memory();
        continue;
      }
      fn = std::move(reads_q_.front());
      reads_q_.pop_front();
    }
    try {
      fn(*db);
    } catch (const std::exception& e) {
      spdlog::error("store read threw: {}", e.what());
    }
    db->finish_statements();
  }
}

void Executor::stop() {
  if (stopped_.exchange(true)) return;
  // Readers first: the writer's connection must be the last to close, so that SQLite
  // checkpoints the WAL into the database file and removes it (it cannot while a reader's
  // connection is open), and the next start has no WAL to replay.
  {
    std::lock_guard lk(rmu_);
    rstopping_ = true;
  }
  rcv_.notify_all();
  for (auto& t : readers_) t.join();
  {
    std::lock_guard lk(wmu_);
    stopping_ = true;
  }
  wcv_.notify_all();
  if (writer_.joinable()) writer_.join();
}

}  // namespace cn::store
