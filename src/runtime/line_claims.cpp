// Concurrency lines across nodes (RuntimeOptions::notifier): a turn that took a conversation's
// or a chain tip's line on its node also claims it in the shared store, so that `reject`,
// `enqueue` and `interrupt` hold whichever node each turn arrives at.
//
// A chain tip is held by its response while the response is queued or in progress (its row
// says so, whichever node runs it). Any other line is held by a claim: a row of `line_claims`
// (line, response, node). Claiming inserts it, or takes over a
// row whose node is no longer a member (its lease expired: cluster/membership.hpp), in one
// statement; a live node's claim is never taken. A finished turn's claims are deleted before
// its end is told to anyone (release_claims_now), so that the client's next turn finds the line
// free on whichever node it reaches. Releasing deletes the row and announces
// "line:<key>", which wakes the turns waiting for it on every node; they also try again every
// half second, in case an announcement is lost. Interrupting announces "interrupt:<project>
// <response>"; the node running that response cancels it as a local interrupt would. A node
// starting again drops the claims its previous process left (recover()).
#include <spdlog/spdlog.h>

#include "base/log.hpp"
#include "base/node.hpp"
#include "runtime/impl.hpp"
#include "store/notifier.hpp"

namespace cn::runtime {

namespace {

constexpr auto kClaimRetry = std::chrono::milliseconds(500);

struct ClaimTry {
  Status status;
  bool claimed = false;
  std::string holder;  // the response holding the line
};

// Deletes `response`'s claim of `key` and wakes the turns waiting for the line on every node.
Status delete_claim(store::Database& db, const std::string& key, const std::string& response) {
  if (Status st = db.stmt("DELETE FROM line_claims WHERE line=?1 AND response_id=?2").bind(1, key).bind(2, response).run(); !st.ok())
    return st;
  return db.notify("line:" + key);
}

}  // namespace

std::vector<store::Migration> Runtime::Impl::claim_migrations() {
  return {{"runtime", 8, R"sql(
CREATE TABLE line_claims (
  line TEXT PRIMARY KEY,
  response_id TEXT NOT NULL,
  node TEXT NOT NULL,
  claimed_at INTEGER NOT NULL
);
)sql"}};
}

awaitable<Status> Runtime::Impl::claim_line(const std::string& key, Concurrency mode, std::shared_ptr<Run> run) {
  auto ex = co_await net::this_coro::executor;
  bool interrupted = false;
  for (;;) {
    {
      std::lock_guard lk(mu);
      line_waiters.erase(key);  // one turn per line waits here on this node: the rest wait in lines
    }
    std::string id = run->id();
    auto out = std::make_shared<ClaimTry>();
    std::function<Status(store::Database&)> fn = [key, id, out](store::Database& db) -> Status {
      // A chain tip is held by the response itself while it runs (on any node).
      if (key.starts_with("resp:")) {
        auto sep = key.find('\x1f');
        auto& r = db.stmt("SELECT 1 FROM turns WHERE project_id=?1 AND id=?2 AND status IN ('queued', 'in_progress')");
        bool running = r.bind(1, key.substr(5, sep - 5)).bind(2, key.substr(sep + 1)).step();
        r.reset();
        if (running) {
          out->holder = key.substr(sep + 1);
          return Status();
        }
      }
      auto& q = db.stmt(
          "INSERT INTO line_claims (line, response_id, node, claimed_at) VALUES (?1, ?2, ?3, now_ms())"
          " ON CONFLICT (line) DO UPDATE SET response_id=excluded.response_id, node=excluded.node,"
          " claimed_at=excluded.claimed_at"
          " WHERE line_claims.node NOT IN (SELECT id FROM cluster_nodes) OR line_claims.response_id=excluded.response_id");
      if (Status st = q.bind(1, key).bind(2, id).bind(3, this_node()).run(); !st.ok()) return st;
      out->claimed = db.changes() == 1;
      if (out->claimed) return Status();
      auto& h = db.stmt("SELECT response_id FROM line_claims WHERE line=?1");
      if (h.bind(1, key).step()) out->holder = h.text(0);
      h.reset();
      return Status();
    };
    if (Status st = co_await write_async(store, std::move(fn)); !st.ok()) co_return st;
    if (out->claimed) {
      std::lock_guard lk(mu);
      line_waiters.erase(key);
      co_return Status();
    }
    if (mode == Concurrency::reject) co_return busy_status();
    {
      std::lock_guard lk(mu);
      if (shutting_down) co_return Status(Code::unavailable, "The server is shutting down.").with_retry_after(1);
    }
    if (mode == Concurrency::interrupt && !interrupted && !out->holder.empty()) {
      interrupted = true;
      std::string payload = "interrupt:" + run->project_id() + " " + out->holder;
      std::function<Status(store::Database&)> announce = [payload](store::Database& db) { return db.notify(payload); };
      if (Status st = co_await write_async(store, std::move(announce)); !st.ok()) co_return st;
    }
    // Wait for the holder's release (announced) or the retry interval.
    auto timer = std::make_shared<net::steady_timer>(ex, kClaimRetry);
    {
      std::lock_guard lk(mu);
      line_waiters[key].push_back([timer, ex] { net::post(ex, [timer] { timer->cancel(); }); });
    }
    co_await timer->async_wait(net::as_tuple(net::use_awaitable));
  }
}

void Runtime::Impl::release_claim(const std::string& key, const std::string& response_id) {
  store.submit(
      [key, response_id](store::Database& db) { return delete_claim(db, key, response_id); },
      [key](Status st) {
        static LogThrottle log;
        if (!st.ok() && log.tick()) spdlog::warn("releasing the line {} failed: {}", key, st.message());
      });
}

awaitable<void> Runtime::Impl::release_claims_now(Turn& t) {
  if (!opts.notifier) co_return;
  std::vector<std::pair<std::string, std::string>> held;  // line, response
  {
    std::lock_guard lk(mu);
    for (const auto& key : t.line_keys)
      if (auto it = lines.find(key); it != lines.end() && it->second.claimed && it->second.current) {
        held.emplace_back(key, it->second.current->id());
        it->second.claimed = false;  // released here: release() need not
      }
  }
  if (held.empty()) co_return;
  std::function<Status(store::Database&)> fn = [held](store::Database& db) -> Status {
    for (const auto& [key, id] : held)
      if (Status st = delete_claim(db, key, id); !st.ok()) return st;
    return Status();
  };
  if (Status st = co_await write_async(store, std::move(fn)); !st.ok())
    for (const auto& [key, id] : held) release_claim(key, id);  // tried again on its own (and logged there)
}

void Runtime::Impl::on_line_released(std::string_view key) {
  std::vector<std::function<void()>> wake;
  {
    std::lock_guard lk(mu);
    if (key.empty()) {
      for (auto& [k, w] : line_waiters)
        for (auto& f : w) wake.push_back(std::move(f));
      line_waiters.clear();
    } else if (auto it = line_waiters.find(std::string(key)); it != line_waiters.end()) {
      wake = std::move(it->second);
      line_waiters.erase(it);
    }
  }
  for (auto& f : wake) f();
}

void Runtime::Impl::on_interrupt(std::string_view rest) {
  auto sp = rest.find(' ');
  if (sp == std::string_view::npos) return;
  std::shared_ptr<Run> run;
  {
    std::lock_guard lk(mu);
    auto it = live.find(key_of(std::string(rest.substr(0, sp)), std::string(rest.substr(sp + 1))));
    if (it != live.end()) run = it->second;
  }
  if (run) request_cancel(run, "interrupt");
}

Status Runtime::Impl::drop_own_claims(store::Database& db) {
  return db.stmt("DELETE FROM line_claims WHERE node=?1").bind(1, this_node()).run();
}

}  // namespace cn::runtime
