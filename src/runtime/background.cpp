// Background turns (they wait for their line after the client has its queued acknowledgement)
// and crash recovery: turns a previous process left queued or in progress become failed, except
// journaled ones (turns running server-side tools), which resume where their calls left off.
#include "runtime/impl.hpp"

#include <future>

#include "base/log.hpp"
#include "base/node.hpp"

namespace cn::runtime {

awaitable<void> Runtime::Impl::background(std::shared_ptr<Run> run, std::shared_ptr<Turn> t, Concurrency mode,
                                          std::string line_key) {
  Status st;
  if (!line_key.empty()) {
    st = co_await acquire(line_key, mode == Concurrency::reject ? Concurrency::enqueue : mode, run);
    if (st.ok()) t->line_keys.insert(t->line_keys.begin(), line_key);
  }
  if (st.ok()) st = co_await assemble(*t);
  if (st.ok()) {
    co_await execute(run, t);
    co_return;
  }
  Run::State fin;
  {
    std::lock_guard lk(run->mu_);
    fin = *run->st_;
  }
  fin.status = "failed";
  fin.error = std::make_pair(std::string("server_error"), st.message());
  fin.failure = st;
  std::string body = json::serialize(response_object(run->id(), fin, false));
  auto project = run->project_id();
  auto id = run->id();
  std::function<Status(store::Database&)> store_fn2 = [project, id, body](store::Database& db) {
    return repo::update_response_status(db, project, id, "failed", body);
  };
  Status stored = co_await write_async(store, std::move(store_fn2));
  if (!stored.ok()) spdlog::error("storing the failure of response {} failed: {}", id, stored.message());
  co_await release_claims_now(*t);
  {
    std::lock_guard lk(run->mu_);
    auto& cur = *run->st_;
    cur.status = fin.status;
    cur.error = fin.error;
    cur.failure = fin.failure;
    if (cur.record_events) cur.events.push_back(terminal_event(id, cur));
    cur.done = true;
  }
  release_turn(*t);
  end_active(run);
  run->wake_all();
}

Status Runtime::Impl::recover_rows(std::function<Result<std::vector<ResponseRow>>(store::Database&)> rows_fn,
                                   bool fail_steers, const char* why) {
  Impl& im = *this;
  std::promise<Status> done;
  auto fut = done.get_future();
  std::vector<Resumable> resumable;
  im.store.submit(
      [&resumable, &rows_fn, fail_steers, why, shared = opts.notifier != nullptr](store::Database& db) -> Status {
        auto rows = rows_fn(db);
        if (!rows.ok()) return rows.status();
        for (auto& r : *rows) {
          auto params = journal::params(db, r.project_id, r.id);
          if (!params.ok()) return params.status();
          if (*params) {
            auto calls = journal::calls(db, r.project_id, r.id);
            if (!calls.ok()) return calls.status();
            resumable.push_back({r.project_id, r.id, r.user_id, r.created_at, **params, std::move(*calls)});
            continue;
          }
          boost::system::error_code ec;
          auto v = json::parse(r.body, ec);
          if (ec || !v.is_object()) continue;
          auto& o = v.as_object();
          o["status"] = "failed";
          o["error"] = json::object{{"code", "server_error"}, {"message", why}};
          if (Status s = repo::update_response_status(db, r.project_id, r.id, "failed", json::serialize(o)); !s.ok())
            return s;
          spdlog::warn("recovered interrupted response {} as failed", r.id);
        }
        if (!fail_steers) return Status();
        return Runtime::Impl::fail_queued_steers(db, shared ? std::optional<std::string>(this_node()) : std::nullopt);
      },
      [&done](Status st) { done.set_value(std::move(st)); });
  Status st = fut.get();
  if (!st.ok()) return st;
  for (auto& r : resumable) {
    spdlog::warn("resuming interrupted response {} ({} journaled tool calls)", r.id, r.calls.size());
    im.resume(std::move(r));
  }
  return st;
}

Status Runtime::recover() {
  bool shared = impl_->opts.notifier != nullptr;
  return impl_->recover_rows(
      [shared](store::Database& db) -> Result<std::vector<ResponseRow>> {
        if (shared)
          if (Status st = Impl::drop_own_claims(db); !st.ok()) return st;
        return repo::unfinished(db);
      },
      true,
                      "The server stopped while this response was in progress; it was interrupted and did not finish.");
}

Status Runtime::take_over(const std::string& node) {
  auto adopt = [node](store::Database& db) -> Result<std::vector<ResponseRow>> {
    // The lost node's accepted steering input dies with it (before its turns become this node's).
    if (Status st = Impl::fail_queued_steers(db, node); !st.ok()) return st;
    return repo::adopt_unfinished(db, node);
  };
  return impl_->recover_rows(adopt, false,
                      "The server node running this response stopped while it was in progress; another node took it "
                      "over, and it was interrupted and did not finish.");
}

Result<std::vector<std::string>> Runtime::run_owners() {
  std::promise<Result<std::vector<std::string>>> p;
  auto f = p.get_future();
  impl_->store.read([&p](store::Database& db) { p.set_value(repo::unfinished_owners(db)); });
  return f.get();
}

void Runtime::Impl::resume(Resumable r) {
  auto decoded = decode_params(r.params_json);
  auto fail = [this, &r](const Status& why) {
    std::string project = r.project_id, id = r.id, msg = why.message();
    store.submit(
        [project, id, msg](store::Database& db) -> Status {
          json::object o{{"id", id}, {"object", "response"}, {"status", "failed"},
                         {"error", json::object{{"code", "server_error"}, {"message", "The response could not be resumed: " + msg}}}};
          if (Status s = repo::update_response_status(db, project, id, "failed", json::serialize(o)); !s.ok()) return s;
          return journal::forget(db, project, id);
        },
        [id](Status st) {
          if (!st.ok()) spdlog::error("marking response {} failed: {}", id, st.message());
        });
  };
  if (!decoded.ok()) return fail(decoded.status());
  auto p = std::make_shared<CreateParams>(std::move(*decoded));
  auto run = std::shared_ptr<Run>(new Run(r.id, p->scope.project, p->background, r.owner));
  {
    auto& st = *run->st_;
    init_state(st, *p, r.created_at);
    st.status = "queued";
    st.record_events = true;
  }
  install_ship(run);
  auto turn = std::make_shared<Turn>();
  turn->params = p;
  for (auto& it : p->input) turn->inputs.push_back(std::make_shared<const Item>(std::move(it)));
  p->input.clear();
  if (Status st = resolve_tools(*turn); !st.ok()) return fail(st);
  turn->replay = std::move(r.calls);
  turn->journaled = true;
  std::string line_key;
  if (p->previous_response_id) line_key = "resp:" + key_of(p->scope.project, *p->previous_response_id);
  else if (p->conversation_id) line_key = "conv:" + key_of(p->scope.project, *p->conversation_id);
  {
    std::lock_guard lk(mu);
    ++active;
    live[key_of(p->scope.project, run->id())] = run;
    lines["resp:" + key_of(p->scope.project, run->id())].current = run;
  }
  turn->line_keys.push_back("resp:" + key_of(p->scope.project, run->id()));
  {
    std::lock_guard lk(run->mu_);
    run->publish("response.created", {{"response", response_object(run->id(), *run->st_)}});
    run->publish("response.queued", {{"response", response_object(run->id(), *run->st_)}});
  }
  auto strand = net::make_strand(io);
  net::co_spawn(strand, background(run, turn, Concurrency::enqueue, line_key), net::detached);
}

}  // namespace cn::runtime
