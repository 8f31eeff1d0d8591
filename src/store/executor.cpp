// Executor: the writer thread (grouped commits) and reader threads, and their orderly stop.
#include "store/executor.hpp"

#include "base/log.hpp"

namespace cn::store {

Result<std::unique_ptr<Executor>> Executor::start(ExecutorOptions opts,
                                                  const std::vector<Migration>& migrations) {
  auto w = Database::open(opts.path, Database::Mode::read_write);
  if (!w.ok()) return w.status();
  if (Status st = (*w)->migrate(migrations); !st.ok()) return st;
  std::vector<std::unique_ptr<Database>> rs;
  for (int i = 0; i < opts.readers; ++i) {
    auto r = Database::open(opts.path, Database::Mode::read_only);
    if (!r.ok()) return r.status();
    rs.push_back(std::move(*r));
  }
  std::unique_ptr<Executor> ex(new Executor());
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

void Executor::read(ReadFn fn) {
  std::lock_guard lk(rmu_);
  reads_q_.push_back(std::move(fn));
  rcv_.notify_one();
}

void Executor::writer_loop(std::unique_ptr<Database> db) {
  std::vector<Write> batch;
  std::vector<Status> outcomes;
  for (;;) {
    {
      std::unique_lock lk(wmu_);
      wcv_.wait(lk, [&] { return stopping_ || !writes_q_.empty(); });
      if (writes_q_.empty() && stopping_) return;
      while (!writes_q_.empty() && batch.size() < opts_.max_batch) {
        batch.push_back(std::move(writes_q_.front()));
        writes_q_.pop_front();
      }
    }
    outcomes.assign(batch.size(), Status());
    Status txn = db->exec("BEGIN IMMEDIATE");
    if (txn.ok()) {
      for (size_t i = 0; i < batch.size(); ++i) {
        (void)db->stmt("SAVEPOINT w").run();
        Status st;
        try {
          st = batch[i].fn(*db);
        } catch (const std::exception& e) {
          st = Status(Code::internal, std::string("store write threw: ") + e.what());
        }
        if (!st.ok()) (void)db->stmt("ROLLBACK TO w").run();
        (void)db->stmt("RELEASE w").run();
        outcomes[i] = std::move(st);
      }
      txn = db->exec("COMMIT");
      if (!txn.ok()) (void)db->exec("ROLLBACK");
    }
    if (!txn.ok()) spdlog::error("group commit failed: {}", txn.message());
    commits_.fetch_add(1, std::memory_order_relaxed);
    writes_.fetch_add(batch.size(), std::memory_order_relaxed);
    for (size_t i = 0; i < batch.size(); ++i) {
      if (batch[i].done) batch[i].done(txn.ok() ? std::move(outcomes[i]) : txn);
    }
    batch.clear();
  }
}

void Executor::reader_loop(std::unique_ptr<Database> db) {
  for (;;) {
    ReadFn fn;
    {
      std::unique_lock lk(rmu_);
      rcv_.wait(lk, [&] { return rstopping_ || !reads_q_.empty(); });
      if (reads_q_.empty() && rstopping_) return;
      fn = std::move(reads_q_.front());
      reads_q_.pop_front();
    }
    try {
      fn(*db);
    } catch (const std::exception& e) {
      spdlog::error("store read threw: {}", e.what());
    }
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
