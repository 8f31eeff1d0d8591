// Keeps a node's in-memory copies of shared configuration (agent definitions, agents as
// principals, policy sets, tool servers, webhooks, OAuth providers, eval gates, schedules) in
// step with a store that other nodes write too.
//
// A component that writes such a table announces "cfg:<topic>" in the same transaction
// (Database::notify; nothing on SQLite). Each node hands the announcement to changed(), and this
// follower's thread calls the topic's loader, which reads the whole table again and swaps it in.
// A notification is only a hint and can be lost (a dropped LISTEN connection): every topic is also
// read again every `sweep`, and all of them after the notifier reconnects (changed("")).
// Announcements that arrive while a topic is being read coalesce into one more read.
//
// Consistency: a change made on one node is in effect on the others a few milliseconds after it
// commits (one notification and one table read); a request reaching another node in those
// milliseconds may still see the old configuration.
//
// Thread-safety: add() before start(); changed() from any thread (it never blocks on the store);
// loaders run on the follower's thread, one at a time, and may block. stop() joins the thread;
// the destructor stops.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>

#include "base/status.hpp"

namespace cn::cluster {

class ConfigFollower {
 public:
  using Loader = std::function<Status()>;

  explicit ConfigFollower(std::chrono::milliseconds sweep = std::chrono::seconds(10)) : sweep_(sweep) {}
  ~ConfigFollower() { stop(); }
  ConfigFollower(const ConfigFollower&) = delete;
  ConfigFollower& operator=(const ConfigFollower&) = delete;

  // The loader of `topic` (the text after "cfg:").
  void add(std::string topic, Loader load);
  // `topic` changed on some node ("" or an unknown topic: read everything again).
  void changed(std::string_view topic);
  void start();
  void stop();

  // Tables read again since start, for metrics and tests.
  uint64_t reloads() const { return reloads_.load(); }

 private:
  void loop();

  const std::chrono::milliseconds sweep_;
  std::map<std::string, Loader> loaders_;  // fixed after start()
  std::mutex mu_;
  std::condition_variable cv_;
  std::set<std::string> dirty_;  // guarded by mu_
  bool stopping_ = false;        // guarded by mu_
  std::atomic<uint64_t> reloads_{0};
  std::thread thread_;
};

}  // namespace cn::cluster
