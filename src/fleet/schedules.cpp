// Schedules (see schedules.hpp): the table, validation, and the loop that fires due ones.
#include "fleet/schedules.hpp"

#include <boost/asio.hpp>
#include <boost/json.hpp>

#include <future>

#include "base/ids.hpp"
#include "base/log.hpp"
#include "store/async.hpp"

namespace cn::fleet {

namespace json = boost::json;
namespace net = boost::asio;

namespace {

int64_t now_s() { return static_cast<int64_t>(std::time(nullptr)); }
Status bad(const std::string& field, std::string msg) { return invalid_param(field, std::move(msg)); }

json::object config_json(const Schedule& s) {
  return json::object{{"agent", s.agent}, {"cron", s.cron_text}, {"every_seconds", s.every_seconds}, {"input", s.input},
                      {"user", s.user}, {"description", s.description}, {"enabled", s.enabled}};
}

}  // namespace

json::object schedule_json(const Schedule& s) {
  auto opt = [](const std::string& v) { return v.empty() ? json::value(nullptr) : json::value(v); };
  auto when = [](int64_t v) { return v ? json::value(v) : json::value(nullptr); };
  return json::object{{"object", "schedule"},
                      {"id", s.id},
                      {"agent", s.agent},
                      {"cron", opt(s.cron_text)},
                      {"every_seconds", s.every_seconds ? json::value(s.every_seconds) : json::value(nullptr)},
                      {"input", s.input},
                      {"user", opt(s.user)},
                      {"description", s.description},
                      {"enabled", s.enabled},
                      {"next_run_at", s.enabled ? when(s.next_run_at) : json::value(nullptr)},
                      {"last_run_at", when(s.last_run_at)},
                      {"last_response_id", opt(s.last_response_id)},
                      {"last_error", opt(s.last_error)},
                      {"created_at", s.created_at}};
}

std::vector<store::Migration> Schedules::migrations() {
  return {{"schedules", 1, R"sql(
CREATE TABLE schedules (
  project_id TEXT NOT NULL,
  id TEXT NOT NULL,
  config TEXT NOT NULL,
  next_run_at INTEGER NOT NULL,
  last_run_at INTEGER NOT NULL DEFAULT 0,
  last_response_id TEXT NOT NULL DEFAULT '',
  last_error TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  PRIMARY KEY (project_id, id)
) WITHOUT ROWID;
)sql"}};
}

int64_t Schedules::next_after(const Schedule& s, int64_t t) const {
  if (s.every_seconds > 0) return t + s.every_seconds;
  auto n = s.cron ? s.cron->next(t) : std::nullopt;
  return n.value_or(std::numeric_limits<int64_t>::max());
}

Status Schedules::load() {
  std::promise<Status> done;
  auto f = done.get_future();
  store_.read([this, &done](store::Database& db) {
    auto& q = db.stmt("SELECT project_id, id, config, next_run_at, last_run_at, last_response_id, last_error, created_at FROM schedules");
    std::map<std::pair<std::string, std::string>, Schedule> m;
    while (q.step()) {
      boost::system::error_code ec;
      auto v = json::parse(q.text(2), ec);
      if (ec || !v.is_object()) continue;
      const auto& o = v.as_object();
      Schedule s;
      s.project_id = q.text(0);
      s.id = q.text(1);
      s.agent = std::string(o.at("agent").as_string());
      s.cron_text = std::string(o.at("cron").as_string());
      s.every_seconds = o.at("every_seconds").as_int64();
      s.input = std::string(o.at("input").as_string());
      s.user = std::string(o.at("user").as_string());
      s.description = std::string(o.at("description").as_string());
      s.enabled = o.at("enabled").as_bool();
      s.next_run_at = q.int64(3);
      s.last_run_at = q.int64(4);
      s.last_response_id = q.text(5);
      s.last_error = q.text(6);
      s.created_at = q.int64(7);
      if (!s.cron_text.empty())
        if (auto c = Cron::parse(s.cron_text); c.ok()) s.cron = *c;
      m[{s.project_id, s.id}] = std::move(s);
    }
    Status st = q.status();
    q.reset();
    if (st.ok()) {
      std::lock_guard lk(mu_);
      schedules_ = std::move(m);
    }
    done.set_value(st);
  });
  return f.get();
}

boost::asio::awaitable<Status> Schedules::save(const Schedule& s) {
  std::string config = json::serialize(config_json(s));
  Schedule row = s;
  std::function<Status(store::Database&)> fn = [row, config](store::Database& db) {
    return db.stmt("INSERT OR REPLACE INTO schedules(project_id, id, config, next_run_at, last_run_at, last_response_id, last_error, created_at)"
                   " VALUES (?1,?2,?3,?4,?5,?6,?7,?8)")
        .bind(1, row.project_id).bind(2, row.id).bind(3, config).bind(4, row.next_run_at).bind(5, row.last_run_at)
        .bind(6, row.last_response_id).bind(7, row.last_error).bind(8, row.created_at).run();
  };
  fn = store::announced("cfg:schedules", std::move(fn));
  co_return co_await store::write_async(store_, std::move(fn));
}

boost::asio::awaitable<Result<Schedule>> Schedules::create(std::string project, json::object body) {
  static const char* known[] = {"agent", "cron", "every_seconds", "input", "user", "description", "enabled"};
  for (const auto& [k, v] : body)
    if (std::none_of(std::begin(known), std::end(known), [&](const char* n) { return k == n; }))
      co_return bad(std::string(k), "Unknown parameter: '" + std::string(k) + "'.");
  Schedule s;
  s.project_id = project;
  auto str = [&](const char* k, std::string& out, bool required, size_t max) -> Status {
    auto* v = body.if_contains(k);
    if (!v || v->is_null()) return required ? bad(k, std::string("Missing required parameter: '") + k + "'.") : Status();
    if (!v->is_string() || v->as_string().size() > max) return bad(k, std::string("Invalid '") + k + "': a string of at most " + std::to_string(max) + " characters.");
    out = std::string(v->as_string());
    return {};
  };
  if (Status st = str("agent", s.agent, true, 200); !st.ok()) co_return st;
  if (auto v = agents_.resolve(project, s.agent); !v.ok()) co_return Status(Code::not_found, v.status().message(), "agent");
  if (Status st = str("input", s.input, true, 64 << 10); !st.ok()) co_return st;
  if (s.input.empty()) co_return bad("input", "Invalid 'input': it must not be empty.");
  if (Status st = str("user", s.user, false, 128); !st.ok()) co_return st;
  if (!s.user.empty() && !valid_id_syntax(s.user)) co_return bad("user", "Invalid 'user': letters, digits, '_' or '-'.");
  if (Status st = str("description", s.description, false, 512); !st.ok()) co_return st;
  if (Status st = str("cron", s.cron_text, false, 200); !st.ok()) co_return st;
  if (auto* e = body.if_contains("every_seconds"); e && !e->is_null()) {
    if (!e->is_int64() || e->as_int64() < 1 || e->as_int64() > 31 * 86400)
      co_return bad("every_seconds", "Invalid 'every_seconds': an integer from 1 to 2678400.");
    s.every_seconds = e->as_int64();
  }
  if (s.cron_text.empty() == (s.every_seconds == 0)) co_return bad("cron", "Give exactly one of 'cron' and 'every_seconds'.");
  if (!s.cron_text.empty()) {
    auto c = Cron::parse(s.cron_text);
    if (!c.ok()) co_return c.status();
    s.cron = *c;
  }
  if (auto* e = body.if_contains("enabled"); e && !e->is_null()) {
    if (!e->is_bool()) co_return bad("enabled", "Invalid 'enabled': a boolean.");
    s.enabled = e->as_bool();
  }
  s.id = new_id("sch");
  s.created_at = now_s();
  s.next_run_at = next_after(s, s.created_at);
  if (Status st = co_await save(s); !st.ok()) co_return st;
  std::lock_guard lk(mu_);
  schedules_[{project, s.id}] = s;
  co_return s;
}

std::vector<Schedule> Schedules::list(const std::string& project) const {
  std::lock_guard lk(mu_);
  std::vector<Schedule> out;
  for (auto it = schedules_.lower_bound({project, ""}); it != schedules_.end() && it->first.first == project; ++it) out.push_back(it->second);
  return out;
}

std::optional<Schedule> Schedules::get(const std::string& project, const std::string& id) const {
  std::lock_guard lk(mu_);
  auto it = schedules_.find({project, id});
  if (it == schedules_.end()) return std::nullopt;
  return it->second;
}

boost::asio::awaitable<Status> Schedules::remove(std::string project, std::string id) {
  if (!get(project, id)) co_return Status(Code::not_found, "Schedule '" + id + "' not found.");
  std::function<Status(store::Database&)> fn = [project, id](store::Database& db) {
    return db.stmt("DELETE FROM schedules WHERE project_id=?1 AND id=?2").bind(1, project).bind(2, id).run();
  };
  fn = store::announced("cfg:schedules", std::move(fn));
  Status st = co_await store::write_async(store_, std::move(fn));
  if (!st.ok()) co_return st;
  std::lock_guard lk(mu_);
  schedules_.erase({project, id});
  co_return Status();
}

boost::asio::awaitable<Result<std::string>> Schedules::fire(Schedule s) {
  json::object metadata{{"schedule_id", s.id}};
  std::string project = s.project_id, user = s.user, agent = s.agent, input = s.input;
  auto id = co_await starter_->start_agent_turn(std::move(project), std::move(user), std::move(agent), std::move(input), std::move(metadata));
  s.last_run_at = now_s();
  s.last_response_id = id.ok() ? *id : std::string();
  s.last_error = id.ok() ? std::string() : id.status().message();
  {
    std::lock_guard lk(mu_);
    auto it = schedules_.find({s.project_id, s.id});
    if (it == schedules_.end()) co_return id;  // removed meanwhile
    it->second.last_run_at = s.last_run_at;
    it->second.last_response_id = s.last_response_id;
    it->second.last_error = s.last_error;
  }
  // Only the run's record: next_run_at is the slot claims' (another node may have moved it on).
  std::function<Status(store::Database&)> fn = [s](store::Database& db) {
    return db.stmt("UPDATE schedules SET last_run_at=?3, last_response_id=?4, last_error=?5 WHERE project_id=?1 AND id=?2")
        .bind(1, s.project_id).bind(2, s.id).bind(3, s.last_run_at).bind(4, s.last_response_id).bind(5, s.last_error).run();
  };
  fn = store::announced("cfg:schedules", std::move(fn));
  Status st = co_await store::write_async(store_, std::move(fn));
  if (!st.ok()) spdlog::warn("schedule {}: recording its run failed: {}", s.id, st.message());
  co_return id;
}

boost::asio::awaitable<Result<std::string>> Schedules::run_now(std::string project, std::string id) {
  auto s = get(project, id);
  if (!s) co_return Status(Code::not_found, "Schedule '" + id + "' not found.");
  co_return co_await fire(std::move(*s));
}

void Schedules::start(boost::asio::io_context& io) { net::co_spawn(io, loop(), net::detached); }

boost::asio::awaitable<Result<std::optional<int64_t>>> Schedules::claim(const Schedule& s, int64_t slot) {
  // The slot's compare-and-set: of the nodes that find the schedule due, the one whose update
  // moves next_run_at from `slot` runs it; the others learn the stored slot.
  struct Outcome {
    bool won = false;
    std::optional<int64_t> stored;
  };
  auto out = std::make_shared<Outcome>();
  std::string project = s.project_id, id = s.id;
  int64_t next = s.next_run_at;
  std::function<Status(store::Database&)> fn = [out, project, id, next, slot](store::Database& db) -> Status {
    Status st = db.stmt("UPDATE schedules SET next_run_at=?3 WHERE project_id=?1 AND id=?2 AND next_run_at=?4")
                    .bind(1, project).bind(2, id).bind(3, next).bind(4, slot).run();
    if (!st.ok()) return st;
    out->won = db.changes() == 1;
    if (out->won) return st;
    auto& q = db.stmt("SELECT next_run_at FROM schedules WHERE project_id=?1 AND id=?2");
    if (q.bind(1, project).bind(2, id).step()) out->stored = q.int64(0);
    st = q.status();
    q.reset();
    return st;
  };
  Status st = co_await store::write_async(store_, std::move(fn));
  if (!st.ok()) co_return st;
  if (out->won) co_return std::optional<int64_t>();
  co_return std::optional<int64_t>(out->stored.value_or(-1));
}

boost::asio::awaitable<void> Schedules::loop() {
  net::steady_timer timer(co_await net::this_coro::executor);
  while (!stopping_) {
    int64_t now = now_s();
    std::vector<std::pair<Schedule, int64_t>> due;  // with the slot it was due at
    {
      std::lock_guard lk(mu_);
      for (auto& [k, s] : schedules_)
        if (s.enabled && s.next_run_at <= now) {
          // The next slot is decided (and stored below) before the turn starts: at most once.
          int64_t slot = s.next_run_at;
          s.next_run_at = next_after(s, now);
          due.emplace_back(s, slot);
        }
    }
    for (auto& [s, slot] : due) {
      auto lost = co_await claim(s, slot);
      if (!lost.ok()) {
        spdlog::warn("schedule {}: storing its next slot failed, not running it: {}", s.id, lost.status().message());
        continue;
      }
      if (lost->has_value()) {
        // Another node ran this slot (or the schedule is gone): follow the store.
        std::lock_guard lk(mu_);
        auto it = schedules_.find({s.project_id, s.id});
        if (it != schedules_.end() && **lost < 0) schedules_.erase(it);
        else if (it != schedules_.end()) it->second.next_run_at = **lost;
        continue;
      }
      auto r = co_await fire(s);
      if (!r.ok()) spdlog::warn("schedule {}: the run could not start: {}", s.id, r.status().message());
    }
    timer.expires_after(std::chrono::milliseconds(250));
    co_await timer.async_wait(net::as_tuple(net::use_awaitable));
  }
}

}  // namespace cn::fleet
