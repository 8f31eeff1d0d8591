// Scheduled runs: a project's schedules start a background turn as an agent, with a fixed input
// and for an end user (or the project), on a cron expression (UTC) or every N seconds.
//
// At most once per slot: before a turn is started, the schedule's next slot is stored; a crash
// between the two skips that slot rather than running it twice. A slot missed while the server
// was down runs once at start-up, then the schedule goes on from the present. The responses
// carry metadata {"schedule_id": ...}; the schedule shows its last run (response id, time,
// error).
//
// Many nodes on one store: every node's loop finds a schedule due, and the slot goes to the node
// whose conditional update moves the stored next_run_at on from it (the others see the stored
// slot and skip). The table is read again when another node changes it
// (cluster/config_follower.hpp: "cfg:schedules").
//
// Thread-safety: every member is safe from any thread; the loop runs on the io_context given to
// start().
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/object.hpp>

#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "fleet/cron.hpp"
#include "fleet/registry.hpp"
#include "store/executor.hpp"

namespace cn::fleet {

// Starts a background turn as an agent (api/ implements it over the runtime); the response id.
class TurnStarter {
 public:
  virtual ~TurnStarter() = default;
  virtual boost::asio::awaitable<Result<std::string>> start_agent_turn(std::string project, std::string user, std::string agent_ref,
                                                                       std::string input, boost::json::object metadata) = 0;
};

struct Schedule {
  std::string project_id, id, agent, cron_text, input, user, description;
  int64_t every_seconds = 0;  // set instead of cron_text
  bool enabled = true;
  int64_t next_run_at = 0, last_run_at = 0, created_at = 0;
  std::string last_response_id, last_error;
  std::optional<Cron> cron;
};

class Schedules {
 public:
  Schedules(store::Executor& store, AgentRegistry& agents, std::shared_ptr<TurnStarter> starter)
      : store_(store), agents_(agents), starter_(std::move(starter)) {}
  static std::vector<store::Migration> migrations();
  Status load();  // blocks (start-up, and on the config follower's thread)
  void start(boost::asio::io_context& io);
  void stop() { stopping_ = true; }

  // {agent, cron | every_seconds, input, user?, description?, enabled?}; 400 naming the field.
  boost::asio::awaitable<Result<Schedule>> create(std::string project, boost::json::object body);
  std::vector<Schedule> list(const std::string& project) const;
  std::optional<Schedule> get(const std::string& project, const std::string& id) const;
  boost::asio::awaitable<Status> remove(std::string project, std::string id);
  // Runs the schedule now (its slots are unchanged); the response id.
  boost::asio::awaitable<Result<std::string>> run_now(std::string project, std::string id);

 private:
  boost::asio::awaitable<void> loop();
  boost::asio::awaitable<Result<std::string>> fire(Schedule s);
  // Moves the stored next_run_at from `slot` to s.next_run_at. Nothing when this node won the
  // slot; otherwise the stored slot (-1: the schedule is gone).
  boost::asio::awaitable<Result<std::optional<int64_t>>> claim(const Schedule& s, int64_t slot);
  boost::asio::awaitable<Status> save(const Schedule& s);
  int64_t next_after(const Schedule& s, int64_t t) const;

  store::Executor& store_;
  AgentRegistry& agents_;
  std::shared_ptr<TurnStarter> starter_;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, Schedule> schedules_;  // guarded by mu_
};

boost::json::object schedule_json(const Schedule& s);

}  // namespace cn::fleet
