// Membership of the nodes that share one PostgreSQL store: each node's lease, its fencing, and
// the takeover of what a dead node left.
//
// A node joins with a row in `cluster_nodes` (its id, kept across restarts in its data
// directory, and a fencing token from a sequence: a new one per start, so that joining again
// fences the node's previous process if it still runs) and
// keeps it alive: every group commit of its store executor first runs the guard, which renews
// the heartbeat of exactly that (id, token) row inside the group's transaction. A node whose row
// is gone (another node found its lease expired and removed it) fails the guard, so none of its
// writes commit, and `on_fenced` is called (the server exits: a supervisor restarts it as a new
// node). Because the guard's update and a taker's delete lock the same row, either the group
// commits before the delete (whose expiry check then fails on the fresh heartbeat) or it does
// not commit at all: a node that comes back after losing its lease cannot write.
//
// A thread ticks every heartbeat interval: it sends a heartbeat (an empty write through the
// guard), removes the rows of nodes whose lease expired, and hands every node that owns
// unfinished runs but has no row (dead, or the embedded store's "") to `take_over`, which must
// be safe to call from several nodes at once (the runtime claims rows with a conditional update).
//
// Thread-safety: join(), start() and leave() from one thread (start-up, shutdown); the guard
// runs on the store's writer thread; the callbacks on the membership thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "store/executor.hpp"

namespace cn::cluster {

struct MembershipOptions {
  std::string node_id;  // the node's id (kept in its data directory: app/data_dir.hpp)
  std::string address;  // where the node listens, for operators
  std::chrono::milliseconds heartbeat{1000};
  std::chrono::milliseconds lease{5000};
  // The nodes that own unfinished runs (the runtime's view).
  std::function<Result<std::vector<std::string>>()> run_owners;
  // Takes over the unfinished runs of a node that is gone (resume or fail each).
  std::function<Status(const std::string& node)> take_over;
  // Each tick, after the takeover: refreshes what other nodes may have changed (keys).
  std::function<void()> tick;
  // The node lost its lease: called once, on the writer thread.
  std::function<void()> on_fenced;
};

class Membership {
 public:
  Membership(store::Executor& store, MembershipOptions opts);
  ~Membership();
  Membership(const Membership&) = delete;
  Membership& operator=(const Membership&) = delete;

  static std::vector<store::Migration> migrations();

  // Registers this node and installs the guard on the store's group commits. Blocking.
  Status join();
  // Starts the heartbeat and takeover thread.
  void start();
  // Stops the thread and removes this node's row (its lease ends now, not at expiry). Call after
  // the node's runs have drained: writes after it fail the guard. Idempotent.
  void leave();

  int64_t fence() const { return fence_; }
  // Nodes alive as of the last tick, and the takeovers done since start.
  size_t live_nodes() const { return live_.load(); }
  uint64_t takeovers() const { return takeovers_.load(); }

 private:
  void loop();
  void tick_once();
  Status guard(store::Database& db);

  store::Executor& store_;
  MembershipOptions opts_;
  int64_t fence_ = 0;
  std::atomic<bool> fenced_{false};
  std::atomic<bool> gone_{false};  // left: the guard refuses writes (without calling on_fenced)
  std::atomic<size_t> live_{0};
  std::atomic<uint64_t> takeovers_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
  bool left_ = false;      // guarded by mu_
  std::thread thread_;
};

}  // namespace cn::cluster
