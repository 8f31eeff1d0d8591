// Webhooks: a project registers URLs that are told when its responses end (response.completed,
// response.failed, response.incomplete, response.cancelled), optionally only for one agent.
//
// Durable delivery: each event is written to an outbox (webhook_deliveries) in the same
// transaction that stores the response (runtime::TurnLedger), so an acknowledged response's event
// survives kill -9 and is delivered after a restart. A dispatcher POSTs due events, signed as
// Standard Webhooks do (webhook-id, webhook-timestamp, webhook-signature: v1,<base64
// HMAC-SHA256 of "id.timestamp.body">), with the payload OpenAI's webhooks use
// ({"object":"event","id","type","created_at","data":{"id": response id}}). A non-2xx answer or
// no answer is retried with exponential backoff (1 s doubling, at most 10 minutes apart, 8
// attempts), then the delivery is marked failed; every attempt's outcome is in the delivery log.
// Many nodes on one store: a dispatcher claims each due delivery (a conditional update that
// moves its next attempt a minute on) before it POSTs, so one node makes each attempt; a node
// lost mid-attempt leaves the delivery to be tried again after that minute.
//
// The signing secret (whsec_...) is shown once, at creation, and kept in the vault.
//
// Thread-safety: every member is safe from any thread; record() runs on the store's writer;
// the dispatcher runs on the io_context given to start().
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/object.hpp>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "http/client.hpp"
#include "identity/vault.hpp"
#include "runtime/observer.hpp"
#include "store/executor.hpp"

namespace cn::webhooks {

struct Webhook {
  std::string project_id, id, url, agent, description;  // agent "" = every agent and none
  std::vector<std::string> events;
  int64_t created_at = 0;
};

struct Delivery {
  std::string id, webhook_id, type, response_id, status;  // status: pending, delivered, failed
  int64_t attempts = 0, created_at = 0, next_at = 0, delivered_at = 0, last_code = 0;
  std::string last_error;
};

struct Options {
  bool allow_private = false;  // may a URL name a loopback or private address?
  int max_attempts = 8;
  std::chrono::milliseconds poll{200};
};

class Webhooks final : public runtime::TurnLedger {
 public:
  Webhooks(store::Executor& store, identity::Vault& vault, http::Client& client, Options opts = {});
  ~Webhooks() override;
  static std::vector<store::Migration> migrations();
  Status load();  // blocks (start-up)
  // Queues an event of `type` with `data` for the project's hooks that listen for it (and for
  // `agent`, when a hook names one); delivered as response events are. Not transactional with
  // anything: for events that are not a turn's (agent.eval.below_threshold).
  void emit(const std::string& project, const std::string& agent, const std::string& type, boost::json::object data);
  // Starts the dispatcher on `io` (pending deliveries of a previous process included).
  void start(boost::asio::io_context& io);
  void stop() { stopping_ = true; }

  // Validates {url, events?, agent?, description?} and stores it; returns it and its secret.
  boost::asio::awaitable<Result<std::pair<Webhook, std::string>>> create(std::string project, boost::json::object body);
  std::vector<Webhook> list(const std::string& project) const;
  std::optional<Webhook> get(const std::string& project, const std::string& id) const;
  boost::asio::awaitable<Status> remove(std::string project, std::string id);
  // Newest first, at most `limit`.
  boost::asio::awaitable<Result<std::vector<Delivery>>> deliveries(std::string project, std::string webhook_id, int limit);

  Status record(store::Database& db, const runtime::TurnRecord& r) override;

  // "v1,<signature>" of `body` for message `id` at `timestamp` with secret "whsec_<base64 key>".
  static std::string sign(const std::string& secret, const std::string& id, int64_t timestamp, const std::string& body);

 private:
  boost::asio::awaitable<void> dispatch_loop();
  boost::asio::awaitable<void> deliver(Delivery d, std::string project, std::string payload);
  boost::asio::awaitable<Result<std::string>> secret_of(std::string project, std::string webhook_id);

  store::Executor& store_;
  identity::Vault& vault_;
  http::Client& client_;
  const Options opts_;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, Webhook> hooks_;  // guarded by mu_
  std::map<std::string, std::string> secrets_;                    // webhook id -> secret; guarded by mu_
};

boost::json::object webhook_json(const Webhook& w);
boost::json::object delivery_json(const Delivery& d);

}  // namespace cn::webhooks
