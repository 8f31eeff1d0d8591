// Background turns (they wait for their line after the client has its queued acknowledgement)
// and crash recovery (turns a previous process left queued or in progress become failed).
#include "runtime/impl.hpp"

#include <future>

#include "base/log.hpp"

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

Status Runtime::recover() {
  std::promise<Status> done;
  auto fut = done.get_future();
  impl_->store.submit(
      [](store::Database& db) -> Status {
        auto rows = repo::unfinished(db);
        if (!rows.ok()) return rows.status();
        for (auto& r : *rows) {
          boost::system::error_code ec;
          auto v = json::parse(r.body, ec);
          if (ec || !v.is_object()) continue;
          auto& o = v.as_object();
          o["status"] = "failed";
          o["error"] = json::object{{"code", "server_error"},
                                    {"message", "The server stopped while this response was in "
                                                "progress; it was interrupted and did not finish."}};
          std::string events;
          if (Status s = repo::update_response_status(db, r.project_id, r.id, "failed", json::serialize(o));
              !s.ok())
            return s;
          spdlog::warn("recovered interrupted response {} as failed", r.id);
        }
        return Status();
      },
      [&done](Status st) { done.set_value(std::move(st)); });
  return fut.get();
}

}  // namespace cn::runtime
