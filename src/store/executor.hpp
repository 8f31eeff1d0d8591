// The store executor: where every database call runs, off the I/O threads. The same on both
// backends (SQLite, PostgreSQL); only the connections differ.
//
// One writer thread owns the read-write connection and groups commits: it takes every write
// queued since its last commit (up to `max_batch`), runs each inside its own SAVEPOINT of one
// transaction, commits once (one fsync in WAL mode with synchronous=FULL) and only then reports
// each write's outcome. A write therefore is acknowledged only after it is durable, and many
// concurrent turns share one fsync.
//
// Reader threads each own a read-only connection; reads see every commit reported before they
// were submitted (WAL snapshot isolation).
//
// Thread-safety: submit() and read() are safe from any thread. Callbacks run on the executor's
// threads; they must be short and must not call back into the executor synchronously.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "store/database.hpp"

namespace cn::store {

struct ExecutorOptions {
  std::string path;           // SQLite: the database file
  std::string url;            // PostgreSQL: its URL (postgres://...); when set, `path` is unused
  int64_t max_db_bytes = 0;   // > 0: the database file's size cap (beyond it: storage_full)
  // While the storage is full, how often the writer tries a small write to learn that space
  // came back.
  std::chrono::milliseconds probe_interval{1000};
  int readers = 2;            // reader threads
  size_t max_batch = 1024;    // writes per group commit
  size_t max_queue = 100000;  // queued writes beyond which submit() fails fast
};

struct ExecutorStats {
  uint64_t commits = 0;
  uint64_t writes = 0;
};

class Executor {
 public:
  using WriteFn = std::function<Status(Database&)>;
  using DoneFn = std::function<void(Status)>;
  using ReadFn = std::function<void(Database&)>;

  // Opens the connections and applies `migrations`. Fails if the file cannot be opened or a
  // migration fails; nothing is started then.
  static Result<std::unique_ptr<Executor>> start(ExecutorOptions opts,
                                                 const std::vector<Migration>& migrations);
  ~Executor();  // stop()s

  // Queues a write. `fn` runs on the writer inside a savepoint; a non-ok Status rolls back just
  // that write. `done` receives the final outcome after the group's commit (or its failure);
  // `fn`, and what it captured, is destroyed before `done` is called.
  // When the queue is full, `done` is called at once with resource_exhausted.
  void submit(WriteFn fn, DoneFn done);
  // Queues a read on a reader connection.
  void read(ReadFn fn);

  // A check every group commit runs first, inside its transaction (cluster membership's lease and
  // fence): when it fails, no write of the group commits and each is told its Status. Runs on the
  // writer thread; set it before writes that need it are queued.
  void set_group_guard(std::function<Status(Database&)> guard);

  // Finishes every queued write and read, then joins the threads. Idempotent.
  void stop();

  ExecutorStats stats() const { return {commits_.load(), writes_.load()}; }

  // Asks every connection to give back the memory it holds for pages (Database::
  // release_memory), each on its own thread between jobs: after a load, when the server idles.
  // Returns at once.
  void release_memory();

  // Storage full (read-only): set when a write fails with storage_full (or the start-up probe
  // does), cleared when the writer's probe — a 64 KiB write it tries every probe_interval while
  // full — commits, so the store returns to read-write by itself once space is freed. Writes are still attempted
  // while full (a delete may free space); callers that would do costly work before writing
  // (a turn calls the model first) check full() and refuse up front.
  bool full() const { return full_.load(std::memory_order_relaxed); }
  // Marks the storage full (a start-up write met a full disk before the writer ran any).
  void mark_full();
  // `fn` runs once, on the writer thread, the next time the storage becomes writable after
  // being full (at once, on the caller's thread, when it is not full). It must not wait for
  // the executor.
  void when_writable(std::function<void()> fn);

 private:
  Executor() = default;
  void writer_loop(std::unique_ptr<Database> db);
  void reader_loop(std::unique_ptr<Database> db);

  struct Write {
    WriteFn fn;
    DoneFn done;
  };

  ExecutorOptions opts_;
  std::mutex wmu_;
  std::condition_variable wcv_;
  std::deque<Write> writes_q_;  // guarded by wmu_
  bool stopping_ = false;       // guarded by wmu_

  std::mutex rmu_;
  std::condition_variable rcv_;
  std::deque<ReadFn> reads_q_;  // guarded by rmu_
  bool rstopping_ = false;      // guarded by rmu_

  std::thread writer_;
  std::vector<std::thread> readers_;
  std::atomic<uint64_t> commits_{0}, writes_{0};
  std::atomic<bool> stopped_{false};
  std::atomic<bool> full_{false};
  std::atomic<uint64_t> release_gen_{0};  // bumped by release_memory()
  std::vector<std::function<void()>> on_writable_;  // guarded by wmu_
  std::shared_ptr<std::function<Status(Database&)>> guard_;  // guarded by wmu_

  // Leaves the full state (the probe found space) and runs the when_writable() callbacks.
  void leave_full();
};

}  // namespace cn::store
