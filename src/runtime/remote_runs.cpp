// Runs on other nodes of a shared store (RuntimeOptions::notifier): the owner ships each run's
// stream events to `run_events` and announces them; any other node follows the run from there.
//
// Owner side: a streamed or background run's events are written in order, in the store's next
// group commit, with an announcement "ev:<id>". One write is in flight per run; the events
// published meanwhile go in the next one, so a fast stream costs a few writes, not one per
// delta. The terminal event is published (and so shipped) only after the turn's outcome
// committed. When the owner stops keeping the finished run for replay, its events move to the
// turn's row and its `run_events` rows go; those of a node lost before it dropped them are
// pruned once their run finished and an hour passed since they were shipped.
//
// Follower side: a mirror Run per followed response (shared by every follower on this node)
// reads the events after the ones it has whenever an announcement names the response, and at
// least every second (announcements can be lost when the listening connection drops; the
// owner can die). It ends with the run's terminal event, or, when the response's row says it
// ended without one (its node died and the run was failed by a taker), with a terminal event
// built from the stored response. If another node took the run over and resumes it, the
// mirror ends its followers' stream with an "error" event saying so: they resume from the
// response, which goes on under the same id.
//
// Cancellation of a background run on another node is announced too ("cancel:<key>"); the
// owner cancels it as if asked locally.
#include <spdlog/spdlog.h>

#include <atomic>

#include "base/clock.hpp"
#include "base/log.hpp"
#include "base/node.hpp"
#include "runtime/impl.hpp"
#include "store/notifier.hpp"

namespace cn::runtime {

namespace {

constexpr auto kMirrorPoll = std::chrono::seconds(1);
constexpr uint64_t kSweepEvery = 256;          // drops between sweeps of old events
constexpr int64_t kShippedKeptSeconds = 3600;  // a finished run's shipped events are kept at most this long

bool terminal_type(std::string_view ev) {
  for (const char* t : {"\"type\":\"response.completed\"", "\"type\":\"response.failed\"",
                        "\"type\":\"response.incomplete\"", "\"type\":\"response.cancelled\""})
    if (ev.find(t) != std::string_view::npos) return true;
  return false;
}

// What a mirror reads in one refresh.
struct FeedRead {
  Status status;
  std::vector<std::string> events;  // sequence numbers from `from`, contiguous
  std::string row_status, node;
  std::string stored_events;  // the row's event log, once the owner moved it there
  bool gone = false;          // the response no longer exists
};

}  // namespace

std::vector<store::Migration> Runtime::Impl::feed_migrations() {
  return {{"runtime", 7, R"sql(
CREATE TABLE run_events (
  response_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  event TEXT NOT NULL,
  PRIMARY KEY (response_id, seq)
) WITHOUT ROWID;
)sql"},
          // When each event was shipped: the events of finished runs whose node was lost (and so
          // never dropped them) are pruned by age.
          {"runtime", 9, "ALTER TABLE run_events ADD COLUMN at INTEGER NOT NULL DEFAULT 0;"}};
}

void Runtime::Impl::install_ship(const std::shared_ptr<Run>& run) {
  if (!opts.notifier || !run->st_->record_events) return;
  std::weak_ptr<Run> weak = run;
  run->st_->ship = [this, weak] {
    if (auto r = weak.lock()) ship_events(r);
  };
}

void Runtime::Impl::ship_events(const std::shared_ptr<Run>& run) {
  std::vector<std::string> batch;
  int64_t first = 0;
  {
    std::lock_guard lk(run->mu_);
    auto& st = *run->st_;
    if (st.shipping || st.shipped >= static_cast<int64_t>(st.events.size())) return;
    st.shipping = true;
    first = st.shipped;
    batch.assign(st.events.begin() + first, st.events.end());
  }
  auto n = static_cast<int64_t>(batch.size());
  std::string id = run->id();
  store.submit(
      [id, first, batch = std::move(batch)](store::Database& db) -> Status {
        auto& q = db.stmt("INSERT OR IGNORE INTO run_events (response_id, seq, event, at) VALUES (?1, ?2, ?3, ?4)");
        int64_t now = Clock::system().now_seconds();
        for (size_t i = 0; i < batch.size(); ++i)
          if (Status st = q.bind(1, id).bind(2, first + static_cast<int64_t>(i)).bind(3, batch[i]).bind(4, now).run(); !st.ok())
            return st;
        return db.notify("ev:" + id);
      },
      [this, run, first, n](Status st) {
        {
          std::lock_guard lk(run->mu_);
          run->st_->shipping = false;
          if (st.ok()) run->st_->shipped = first + n;
        }
        if (!st.ok()) {
          static LogThrottle log;
          if (log.tick()) spdlog::warn("shipping the events of {} failed: {}", run->id(), st.message());
          return;  // the next event retries
        }
        net::post(io, [this, run] { ship_events(run); });
      });
}

void Runtime::Impl::drop_shipped(const std::string& id) {
  if (!opts.notifier) return;
  // Every so often, also the events of finished runs shipped long ago: those of a node that was
  // lost before it dropped them (a finished run is followed from its stored response).
  static std::atomic<uint64_t> drops{0};
  bool sweep = drops.fetch_add(1) % kSweepEvery == 0;
  int64_t cutoff = Clock::system().now_seconds() - kShippedKeptSeconds;
  store.submit(
      [id, sweep, cutoff](store::Database& db) {
        Status st = db.stmt("DELETE FROM run_events WHERE response_id=?1").bind(1, id).run();
        if (!st.ok() || !sweep) return st;
        return db.stmt("DELETE FROM run_events WHERE at < ?1 AND response_id NOT IN"
                       " (SELECT id FROM responses WHERE status IN ('queued', 'in_progress'))")
            .bind(1, cutoff).run();
      },
      [](Status) {});
}

std::vector<std::string> Runtime::Impl::shipped_events(store::Database& db, const std::string& id, int64_t from) {
  std::vector<std::string> out;
  auto& q = db.stmt("SELECT seq, event FROM run_events WHERE response_id=?1 AND seq>=?2 ORDER BY seq");
  q.bind(1, id).bind(2, from);
  while (q.step()) {
    if (q.int64(0) != from + static_cast<int64_t>(out.size())) break;  // a gap: not yet committed
    out.push_back(q.text(1));
  }
  q.reset();
  return out;
}

std::shared_ptr<Run> Runtime::Impl::mirror(const Scope& scope, const ResponseRow& row, const std::string& node) {
  const std::string& key = row.id;  // response ids are unique across projects
  std::shared_ptr<Mirror> m;
  {
    std::lock_guard lk(mu);
    if (auto it = mirrors.find(key); it != mirrors.end())
      if (auto r = it->second->run.lock()) return r;
    m = std::make_shared<Mirror>(net::make_strand(io));
    auto run = std::shared_ptr<Run>(new Run(row.id, row.project_id, row.background, row.user_id));
    run->st_->status = row.status;
    m->run = run;
    m->node = node;
    m->keep = run;  // until the strand's coroutine holds it
    mirrors[key] = m;
  }
  auto run = m->keep;
  net::co_spawn(m->strand, follow_mirror(m, scope, key), net::detached);
  return run;
}

awaitable<void> Runtime::Impl::follow_mirror(std::shared_ptr<Mirror> m, Scope scope, std::string key) {
  std::weak_ptr<Run> weak = m->run;
  m->keep.reset();
  for (;;) {
    auto run = weak.lock();
    if (!run) break;
    int64_t have;
    {
      std::lock_guard lk(run->mu_);
      have = static_cast<int64_t>(run->st_->events.size());
    }
    std::string id = run->id();
    std::function<FeedRead(store::Database&)> read = [scope, id, have](store::Database& db) {
      FeedRead r;
      r.events = shipped_events(db, id, have);
      auto row = repo::get_response(db, scope, id);
      if (!row.ok()) {
        r.gone = row.status().code() == Code::not_found;
        if (!r.gone) r.status = row.status();
        return r;
      }
      r.gone = row->deleted;
      r.row_status = row->status;
      r.stored_events = row->events;
      auto& q = db.stmt("SELECT node FROM turns WHERE project_id=?1 AND id=?2");
      if (q.bind(1, scope.project).bind(2, id).step()) r.node = q.text(0);
      q.reset();
      return r;
    };
    FeedRead r = co_await read_async<FeedRead>(store, std::move(read));
    bool ended = false;
    bool finished = r.row_status != "queued" && r.row_status != "in_progress";
    {
      std::lock_guard lk(run->mu_);
      auto& st = *run->st_;
      for (auto& e : r.events) {
        if (terminal_type(e)) st.done = true;
        st.events.push_back(std::move(e));
        if (st.done) break;
      }
      if (!st.done && r.status.ok() && (r.gone || (!r.node.empty() && r.node != m->node) || finished)) {
        // The run ended without this node seeing its terminal event, or moved to another node.
        json::object ev;
        if (finished && !r.gone && !r.stored_events.empty()) {
          boost::system::error_code ec;
          auto v = json::parse(r.stored_events, ec);
          if (!ec && v.is_array())
            for (size_t i = st.events.size(); i < v.as_array().size(); ++i) st.events.push_back(json::serialize(v.as_array()[i]));
          st.done = !st.events.empty() && terminal_type(st.events.back());
        }
        if (!st.done && finished && !r.gone) {
          m->finish_from_store = true;
        } else if (!st.done) {
          ev["type"] = "error";
          ev["code"] = r.gone ? "response_not_found" : "run_moved";
          ev["message"] = r.gone ? "The response was deleted while it was being followed."
                                 : "The run moved to another node (its node was lost); follow the response again.";
          ev["param"] = nullptr;
          ev["sequence_number"] = static_cast<int64_t>(st.events.size());
          st.events.push_back(json::serialize(ev));
          st.done = true;
        }
      }
      ended = st.done;
    }
    if (m->finish_from_store && !ended) {
      // The stored response is final but its stream ends with no terminal event: add one.
      auto body = co_await self->get_response(scope, id);
      std::lock_guard lk(run->mu_);
      auto& st = *run->st_;
      boost::system::error_code ec;
      auto v = body.ok() ? json::parse(*body, ec) : json::value();
      json::object ev;
      std::string status = v.is_object() && v.as_object().contains("status") ? std::string(v.as_object().at("status").as_string()) : "failed";
      ev["type"] = status == "completed" ? "response.completed" : status == "incomplete" ? "response.incomplete" : "response.failed";
      ev["sequence_number"] = static_cast<int64_t>(st.events.size());
      ev["response"] = v.is_object() ? v : json::object();
      st.events.push_back(json::serialize(ev));
      st.done = true;
      ended = true;
    }
    run->wake_all();
    if (ended) break;
    run.reset();
    if (!m->pending) {
      m->timer.expires_after(kMirrorPoll);
      co_await m->timer.async_wait(net::as_tuple(net::use_awaitable));
    }
    m->pending = false;
  }
  std::lock_guard lk(mu);
  if (auto it = mirrors.find(key); it != mirrors.end() && it->second == m) mirrors.erase(it);
}

void Runtime::Impl::on_shipped(std::string_view id) {
  std::vector<std::shared_ptr<Mirror>> wake;
  {
    std::lock_guard lk(mu);
    if (id.empty()) {
      for (auto& [k, m] : mirrors) wake.push_back(m);
    } else if (auto it = mirrors.find(std::string(id)); it != mirrors.end()) {
      wake.push_back(it->second);
    }
  }
  for (auto& m : wake)
    net::post(m->strand, [m] {
      m->pending = true;
      m->timer.cancel();
    });
}

void Runtime::Impl::on_cancel(std::string_view key) {
  std::shared_ptr<Run> run;
  {
    std::lock_guard lk(mu);
    if (auto it = live.find(std::string(key)); it != live.end()) run = it->second;
  }
  if (run && run->background()) request_cancel(run, "client");
}

awaitable<Status> Runtime::Impl::announce_cancel(std::string project, std::string id) {
  std::string payload = "cancel:" + key_of(project, id);
  std::function<Status(store::Database&)> fn = [payload](store::Database& db) { return db.notify(payload); };
  co_return co_await write_async(store, std::move(fn));
}

void Runtime::Impl::listen(store::Notifier& n) {
  n.on("ev", [this](std::string_view id) { on_shipped(id); });
  n.on("steer", [this](std::string_view rest) { on_steer_offer(rest); });
  n.on("chain", [this](std::string_view rest) {
    auto sp = rest.find(' ');
    if (sp == std::string_view::npos) return;
    forget(std::string(rest.substr(0, sp)), std::string(rest.substr(sp + 1)));
  });
  n.on("line", [this](std::string_view key) { on_line_released(key); });
  n.on("interrupt", [this](std::string_view rest) {
    std::string r(rest);
    net::post(io, [this, r] { on_interrupt(r); });
  });
  n.on("cancel", [this](std::string_view key) {
    std::string k(key);
    if (k.empty()) return;  // a reconnection: nothing to redo
    net::post(io, [this, k] { on_cancel(k); });
  });
}

}  // namespace cn::runtime
