// Webhooks (see webhooks.hpp): registrations, the outbox written with each turn, the signed and
// retried delivery.
#include "webhooks/webhooks.hpp"

#include <boost/asio.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <sodium.h>

#include <future>

#include "base/clock.hpp"
#include "base/ids.hpp"
#include "base/log.hpp"
#include "store/async.hpp"
#include "tools/mcp/source.hpp"

namespace cn::webhooks {

namespace json = boost::json;
namespace net = boost::asio;

namespace {

const char* kEvents[] = {"response.completed", "response.failed", "response.incomplete", "response.cancelled"};
// Sent only to hooks that name it: an agent version's online evaluation fell below its bar.
const char* kBelowThreshold = "agent.eval.below_threshold";
constexpr int64_t kMaxBackoff = 600;
constexpr int64_t kClaimSeconds = 60;  // a claimed delivery is due again after this: longer than an attempt

Status bad(const std::string& field, std::string msg) { return invalid_param(field, std::move(msg)); }

std::string b64(const unsigned char* data, size_t n) {
  std::string out(sodium_base64_encoded_len(n, sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), data, n, sodium_base64_VARIANT_ORIGINAL);
  out.resize(std::strlen(out.c_str()));
  return out;
}

std::string provider_of(const std::string& id) { return "webhook." + id; }

int64_t now_s() { return static_cast<int64_t>(std::time(nullptr)); }

}  // namespace

json::object webhook_json(const Webhook& w) {
  json::array events;
  for (const auto& e : w.events) events.push_back(json::value(e));
  return json::object{{"object", "webhook"},  {"id", w.id},
                      {"url", w.url},         {"events", std::move(events)},
                      {"agent", w.agent.empty() ? json::value(nullptr) : json::value(w.agent)},
                      {"description", w.description}, {"created_at", w.created_at}};
}

json::object delivery_json(const Delivery& d) {
  return json::object{{"object", "webhook.delivery"}, {"id", d.id}, {"webhook_id", d.webhook_id}, {"type", d.type},
                      {"response_id", d.response_id}, {"status", d.status}, {"attempts", d.attempts},
                      {"last_status_code", d.last_code ? json::value(d.last_code) : json::value(nullptr)},
                      {"last_error", d.last_error.empty() ? json::value(nullptr) : json::value(d.last_error)},
                      {"next_attempt_at", d.status == "pending" ? json::value(d.next_at) : json::value(nullptr)},
                      {"delivered_at", d.delivered_at ? json::value(d.delivered_at) : json::value(nullptr)},
                      {"created_at", d.created_at}};
}

Webhooks::Webhooks(store::Executor& store, identity::Vault& vault, http::Client& client, Options opts)
    : store_(store), vault_(vault), client_(client), opts_(opts) {}
Webhooks::~Webhooks() = default;

std::vector<store::Migration> Webhooks::migrations() {
  return {{"webhooks", 1, R"sql(
CREATE TABLE webhooks (
  project_id TEXT NOT NULL,
  id TEXT NOT NULL,
  config TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (project_id, id)
) WITHOUT ROWID;
CREATE TABLE webhook_deliveries (
  project_id TEXT NOT NULL,
  id TEXT NOT NULL,
  webhook_id TEXT NOT NULL,
  type TEXT NOT NULL,
  response_id TEXT NOT NULL,
  payload TEXT NOT NULL,
  status TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_at INTEGER NOT NULL,
  last_code INTEGER NOT NULL DEFAULT 0,
  last_error TEXT NOT NULL DEFAULT '',
  delivered_at INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (project_id, id)
) WITHOUT ROWID;
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_hook ON webhook_deliveries(project_id, webhook_id, created_at);
)sql"}};
}

Status Webhooks::load() {
  std::promise<Status> done;
  auto f = done.get_future();
  store_.read([this, &done](store::Database& db) {
    auto& q = db.stmt("SELECT project_id, id, config, created_at FROM webhooks");
    std::map<std::pair<std::string, std::string>, Webhook> m;
    while (q.step()) {
      boost::system::error_code ec;
      auto v = json::parse(q.text(2), ec);
      if (ec || !v.is_object()) continue;
      const auto& o = v.as_object();
      Webhook w{q.text(0), q.text(1), std::string(o.at("url").as_string()), std::string(o.at("agent").as_string()),
                std::string(o.at("description").as_string()), {}, q.int64(3)};
      for (const auto& e : o.at("events").as_array()) w.events.emplace_back(e.as_string());
      m[{w.project_id, w.id}] = std::move(w);
    }
    Status st = q.status();
    q.reset();
    if (st.ok()) {
      std::lock_guard lk(mu_);
      hooks_ = std::move(m);
    }
    done.set_value(st);
  });
  return f.get();
}

boost::asio::awaitable<Result<std::pair<Webhook, std::string>>> Webhooks::create(std::string project, json::object body) {
  for (const auto& [k, v] : body)
    if (k != "url" && k != "events" && k != "agent" && k != "description") co_return bad(std::string(k), "Unknown parameter: '" + std::string(k) + "'.");
  Webhook w;
  w.project_id = project;
  auto* url = body.if_contains("url");
  if (!url || !url->is_string() || url->as_string().size() > 2048) co_return bad("url", "Missing or invalid 'url': expected an http(s) URL.");
  w.url = std::string(url->as_string());
  auto u = boost::urls::parse_absolute_uri(w.url);
  if (!u || (u->scheme() != "https" && u->scheme() != "http") || u->host().empty())
    co_return bad("url", "Invalid 'url': expected an http:// or https:// URL.");
  if (!opts_.allow_private && tools::mcp::private_host(std::string(u->host())))
    co_return bad("url", "Invalid 'url': private and loopback addresses are not allowed on this server.");
  if (auto* e = body.if_contains("events"); e && !e->is_null()) {
    if (!e->is_array() || e->as_array().empty()) co_return bad("events", "Invalid 'events': expected a non-empty array of event types.");
    for (const auto& ev : e->as_array()) {
      bool known = ev.is_string() && (std::any_of(std::begin(kEvents), std::end(kEvents), [&](const char* k) { return ev.as_string() == k; }) ||
                                      ev.as_string() == kBelowThreshold);
      if (!known)
        co_return bad("events", std::string("Invalid 'events': the types are response.completed, response.failed, response.incomplete, "
                                            "response.cancelled and ") + kBelowThreshold + ".");
      w.events.emplace_back(ev.as_string());
    }
  } else {
    w.events.assign(std::begin(kEvents), std::end(kEvents));
  }
  if (auto* a = body.if_contains("agent"); a && !a->is_null()) {
    if (!a->is_string() || !valid_id_syntax(a->as_string(), 64)) co_return bad("agent", "Invalid 'agent': expected an agent name.");
    w.agent = std::string(a->as_string());
  }
  if (auto* d = body.if_contains("description"); d && !d->is_null()) {
    if (!d->is_string() || d->as_string().size() > 512) co_return bad("description", "Invalid 'description': a string of at most 512 characters.");
    w.description = std::string(d->as_string());
  }
  w.id = new_id("wh");
  w.created_at = now_s();
  unsigned char key[24];
  randombytes_buf(key, sizeof key);
  std::string secret = "whsec_" + b64(key, sizeof key);
  std::string provider = provider_of(w.id), kind = "api_key", meta = "{}", value = secret;
  identity::SecretOwner owner{"project", ""};
  auto sealed = co_await vault_.put(project, owner, provider, kind, value, meta);
  if (!sealed.ok()) co_return sealed.status();
  json::object config = webhook_json(w);
  config["agent"] = w.agent;
  std::string cfg = json::serialize(config);
  Webhook row = w;
  std::function<Status(store::Database&)> fn = [row, cfg](store::Database& db) {
    return db.stmt("INSERT INTO webhooks(project_id, id, config, created_at) VALUES (?1,?2,?3,?4)")
        .bind(1, row.project_id).bind(2, row.id).bind(3, cfg).bind(4, row.created_at).run();
  };
  fn = store::announced("cfg:webhooks", std::move(fn));
  Status st = co_await store::write_async(store_, std::move(fn));
  if (!st.ok()) co_return st;
  {
    std::lock_guard lk(mu_);
    hooks_[{project, w.id}] = w;
    secrets_[w.id] = secret;
  }
  co_return std::make_pair(std::move(w), std::move(secret));
}

std::vector<Webhook> Webhooks::list(const std::string& project) const {
  std::lock_guard lk(mu_);
  std::vector<Webhook> out;
  for (auto it = hooks_.lower_bound({project, ""}); it != hooks_.end() && it->first.first == project; ++it) out.push_back(it->second);
  return out;
}

std::optional<Webhook> Webhooks::get(const std::string& project, const std::string& id) const {
  std::lock_guard lk(mu_);
  auto it = hooks_.find({project, id});
  if (it == hooks_.end()) return std::nullopt;
  return it->second;
}

boost::asio::awaitable<Status> Webhooks::remove(std::string project, std::string id) {
  if (!get(project, id)) co_return Status(Code::not_found, "Webhook '" + id + "' not found.");
  std::function<Status(store::Database&)> fn = [project, id](store::Database& db) {
    if (Status s = db.stmt("DELETE FROM webhooks WHERE project_id=?1 AND id=?2").bind(1, project).bind(2, id).run(); !s.ok()) return s;
    return db.stmt("UPDATE webhook_deliveries SET status='failed', last_error='the webhook was deleted' WHERE project_id=?1 AND webhook_id=?2 AND status='pending'")
        .bind(1, project).bind(2, id).run();
  };
  fn = store::announced("cfg:webhooks", std::move(fn));
  Status st = co_await store::write_async(store_, std::move(fn));
  if (!st.ok()) co_return st;
  std::lock_guard lk(mu_);
  hooks_.erase({project, id});
  secrets_.erase(id);
  co_return Status();
}

boost::asio::awaitable<Result<std::vector<Delivery>>> Webhooks::deliveries(std::string project, std::string webhook_id, int limit) {
  using R = Result<std::vector<Delivery>>;
  std::function<R(store::Database&)> fn = [project, webhook_id, limit](store::Database& db) -> R {
    auto& q = db.stmt(
        "SELECT id, webhook_id, type, response_id, status, attempts, created_at, next_at, delivered_at, last_code, last_error"
        " FROM webhook_deliveries WHERE project_id=?1 AND webhook_id=?2 ORDER BY created_at DESC, id DESC LIMIT ?3");
    q.bind(1, project).bind(2, webhook_id).bind(3, static_cast<int64_t>(limit));
    std::vector<Delivery> out;
    while (q.step())
      out.push_back(Delivery{q.text(0), q.text(1), q.text(2), q.text(3), q.text(4), q.int64(5), q.int64(6), q.int64(7), q.int64(8),
                             q.int64(9), q.text(10)});
    Status st = q.status();
    q.reset();
    if (!st.ok()) return st;
    return out;
  };
  co_return co_await store::read_async(store_, std::move(fn));
}

void Webhooks::emit(const std::string& project, const std::string& agent, const std::string& type, json::object data) {
  std::vector<Webhook> matching;
  {
    std::lock_guard lk(mu_);
    for (auto it = hooks_.lower_bound({project, ""}); it != hooks_.end() && it->first.first == project; ++it) {
      const Webhook& w = it->second;
      if (!w.agent.empty() && w.agent != agent) continue;
      if (std::find(w.events.begin(), w.events.end(), type) != w.events.end()) matching.push_back(w);
    }
  }
  if (matching.empty()) return;
  int64_t now = Clock::system().now_seconds();
  store_.submit(
      [project, type, data = std::move(data), matching, now](store::Database& db) -> Status {
        for (const auto& w : matching) {
          std::string id = new_id("evt");
          std::string payload = json::serialize(json::object{{"object", "event"}, {"id", id}, {"type", type}, {"created_at", now}, {"data", data}});
          auto& st = db.stmt(
              "INSERT INTO webhook_deliveries(project_id, id, webhook_id, type, response_id, payload, status, next_at, created_at)"
              " VALUES (?1,?2,?3,?4,'',?5,'pending',?6,?6)");
          if (Status s = st.bind(1, project).bind(2, id).bind(3, w.id).bind(4, type).bind(5, payload).bind(6, now).run(); !s.ok()) return s;
        }
        return Status();
      },
      [type](Status st) {
        if (!st.ok()) spdlog::warn("queueing a {} event failed: {}", type, st.message());
      });
}

Status Webhooks::record(store::Database& db, const runtime::TurnRecord& r) {
  std::string type = "response." + r.status;
  std::vector<Webhook> matching;
  {
    std::lock_guard lk(mu_);
    for (auto it = hooks_.lower_bound({r.project, ""}); it != hooks_.end() && it->first.first == r.project; ++it) {
      const Webhook& w = it->second;
      if (!w.agent.empty() && w.agent != r.agent) continue;
      if (std::find(w.events.begin(), w.events.end(), type) != w.events.end()) matching.push_back(w);
    }
  }
  for (const auto& w : matching) {
    std::string id = new_id("evt");
    std::string payload = json::serialize(json::object{
        {"object", "event"}, {"id", id}, {"type", type}, {"created_at", r.at}, {"data", json::object{{"id", r.response_id}}}});
    auto& st = db.stmt(
        "INSERT INTO webhook_deliveries(project_id, id, webhook_id, type, response_id, payload, status, next_at, created_at)"
        " VALUES (?1,?2,?3,?4,?5,?6,'pending',?7,?7)");
    if (Status s = st.bind(1, r.project).bind(2, id).bind(3, w.id).bind(4, type).bind(5, r.response_id).bind(6, payload).bind(7, r.at).run();
        !s.ok())
      return s;
  }
  return {};
}

std::string Webhooks::sign(const std::string& secret, const std::string& id, int64_t timestamp, const std::string& body) {
  std::string encoded = secret.starts_with("whsec_") ? secret.substr(6) : secret;
  std::string key(encoded.size(), '\0');
  size_t key_len = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(key.data()), key.size(), encoded.data(), encoded.size(), nullptr, &key_len,
                        nullptr, sodium_base64_VARIANT_ORIGINAL) != 0)
    key_len = 0;
  std::string content = id + "." + std::to_string(timestamp) + "." + body;
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(key.data()), key_len);
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(content.data()), content.size());
  crypto_auth_hmacsha256_final(&st, mac);
  return "v1," + b64(mac, sizeof mac);
}

boost::asio::awaitable<Result<std::string>> Webhooks::secret_of(std::string project, std::string webhook_id) {
  {
    std::lock_guard lk(mu_);
    if (auto it = secrets_.find(webhook_id); it != secrets_.end()) co_return it->second;
  }
  identity::SecretOwner owner{"project", ""};
  std::string provider = provider_of(webhook_id), run, actor = "webhooks";
  auto s = co_await vault_.reveal(project, owner, provider, run, actor);
  if (!s.ok()) co_return s.status();
  std::lock_guard lk(mu_);
  secrets_[webhook_id] = *s;
  co_return *s;
}

void Webhooks::start(boost::asio::io_context& io) { net::co_spawn(io, dispatch_loop(), net::detached); }

boost::asio::awaitable<void> Webhooks::dispatch_loop() {
  auto ex = co_await net::this_coro::executor;
  net::steady_timer timer(ex);
  while (!stopping_) {
    struct Due {
      Delivery d;
      std::string project, payload;
      int64_t next_at = 0;
    };
    using R = Result<std::vector<Due>>;
    int64_t now = now_s();
    std::function<R(store::Database&)> fn = [now](store::Database& db) -> R {
      auto& q = db.stmt(
          "SELECT project_id, id, webhook_id, type, response_id, attempts, created_at, payload, next_at FROM webhook_deliveries"
          " WHERE status='pending' AND next_at <= ?1 ORDER BY next_at LIMIT 32");
      q.bind(1, now);
      std::vector<Due> out;
      while (q.step()) {
        Due due;
        due.project = q.text(0);
        due.d.id = q.text(1);
        due.d.webhook_id = q.text(2);
        due.d.type = q.text(3);
        due.d.response_id = q.text(4);
        due.d.attempts = q.int64(5);
        due.d.created_at = q.int64(6);
        due.payload = q.text(7);
        due.next_at = q.int64(8);
        out.push_back(std::move(due));
      }
      Status st = q.status();
      q.reset();
      if (!st.ok()) return st;
      return out;
    };
    auto due = co_await store::read_async(store_, std::move(fn));
    if (due.ok() && !due->empty()) {
      // Claimed before delivery: next_at moves past the attempt's timeout, so that of the nodes
      // that read the row, one delivers it; a node lost mid-attempt leaves it due again then.
      auto claimed = std::make_shared<std::vector<bool>>(due->size());
      std::vector<std::tuple<std::string, std::string, int64_t>> keys;
      for (const auto& d : *due) keys.emplace_back(d.project, d.d.id, d.next_at);
      std::function<Status(store::Database&)> claim = [keys, claimed, until = now + kClaimSeconds](store::Database& db) -> Status {
        for (size_t i = 0; i < keys.size(); ++i) {
          auto& [project, id, next_at] = keys[i];
          Status st = db.stmt("UPDATE webhook_deliveries SET next_at=?3 WHERE project_id=?1 AND id=?2 AND status='pending' AND next_at=?4")
                          .bind(1, project).bind(2, id).bind(3, until).bind(4, next_at).run();
          if (!st.ok()) return st;
          (*claimed)[i] = db.changes() == 1;
        }
        return Status();
      };
      Status st = co_await store::write_async(store_, std::move(claim));
      if (!st.ok()) spdlog::warn("webhooks: claiming due deliveries failed: {}", st.message());
      for (size_t i = 0; st.ok() && i < due->size(); ++i)
        if ((*claimed)[i]) co_await deliver(std::move((*due)[i].d), std::move((*due)[i].project), std::move((*due)[i].payload));
    }
    timer.expires_after(opts_.poll);
    co_await timer.async_wait(net::as_tuple(net::use_awaitable));
  }
}

boost::asio::awaitable<void> Webhooks::deliver(Delivery d, std::string project, std::string payload) {
  auto hook = get(project, d.webhook_id);
  int64_t code = 0;
  std::string error;
  if (!hook) {
    error = "the webhook was deleted";
  } else {
    auto secret = co_await secret_of(project, d.webhook_id);
    if (!secret.ok()) {
      error = "the signing secret could not be read";
    } else {
      int64_t ts = now_s();
      http::ClientRequest req;
      req.url = hook->url;
      req.body = payload;
      req.headers = {{"content-type", "application/json"}, {"user-agent", "continuum-webhooks"}, {"webhook-id", d.id},
                     {"webhook-timestamp", std::to_string(ts)}, {"webhook-signature", sign(*secret, d.id, ts, payload)}};
      req.timeout = std::chrono::seconds(10);
      req.max_body = 64 << 10;
      auto res = co_await client_.call(std::move(req));
      if (!res.ok()) error = res.status().message().substr(0, 200);
      else code = res->status;
    }
  }
  bool delivered = code >= 200 && code < 300;
  int64_t attempts = d.attempts + 1;
  bool give_up = !delivered && (attempts >= opts_.max_attempts || !hook);
  if (!delivered && error.empty()) error = "HTTP " + std::to_string(code);
  std::string status = delivered ? "delivered" : give_up ? "failed" : "pending";
  int64_t now = now_s();
  int64_t next = now + std::min<int64_t>(kMaxBackoff, int64_t{1} << std::min<int64_t>(attempts - 1, 20));
  std::string id = d.id;
  std::function<Status(store::Database&)> fn = [project, id, status, attempts, next, code, error, now, delivered](store::Database& db) {
    return db.stmt("UPDATE webhook_deliveries SET status=?3, attempts=?4, next_at=?5, last_code=?6, last_error=?7, delivered_at=?8"
                   " WHERE project_id=?1 AND id=?2")
        .bind(1, project).bind(2, id).bind(3, status).bind(4, attempts).bind(5, next).bind(6, code)
        .bind(7, delivered ? std::string() : error).bind(8, delivered ? now : int64_t{0}).run();
  };
  Status st = co_await store::write_async(store_, std::move(fn));
  if (!st.ok()) spdlog::warn("webhook delivery {}: recording the attempt failed: {}", id, st.message());
  if (!delivered) spdlog::info("webhook delivery {} to {}: attempt {} failed ({}){}", id, hook ? hook->url : std::string("?"), attempts, error,
                               give_up ? "; giving up" : "");
}

}  // namespace cn::webhooks
