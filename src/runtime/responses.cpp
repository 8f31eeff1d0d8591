// Stored responses: read (live snapshot or stored row with its output items), stream (live,
// recent, stored event log, or rebuilt from the final object), cancel, delete, input items.
#include "runtime/impl.hpp"

#include <algorithm>
#include <limits>
#include <set>

#include "base/node.hpp"

namespace cn::runtime {

namespace {

// A stored response as the API shows it: its body with its output items.
Result<json::object> response_json(const ResponseRow& row) {
  boost::system::error_code ec;
  auto v = json::parse(row.body, ec);
  if (ec || !v.is_object()) return Status(Code::internal, "stored response is corrupt");
  json::array output;
  for (const auto& it : row.outputs) output.push_back(json::parse(it->wire));
  v.as_object()["output"] = std::move(output);
  return std::move(v.as_object());
}

}  // namespace

awaitable<Result<std::string>> Runtime::get_response(Scope scope, const std::string& id) {
  auto& im = *impl_;
  {
    std::lock_guard lk(im.mu);
    if (auto run = im.live_run_locked(scope, id)) {
      if (!run->st_->store) co_return not_found_response(id);
      co_return run->snapshot();
    }
  }
  using R = Result<std::string>;
  std::function<R(store::Database&)> store_fn5 = [scope, id](store::Database& db) -> R {
    auto row = repo::get_response(db, scope, id, true);
    if (!row.ok()) return row.status();
    if (row->deleted) return not_found_response(id);
    auto v = response_json(*row);
    if (!v.ok()) return v.status();
    return json::serialize(*v);
  };
  co_return co_await read_async<R>(im.store, std::move(store_fn5));
}

awaitable<Result<ResponsePage>> Runtime::list_responses(Scope scope, ListQuery q, std::optional<std::string> status) {
  auto& im = *impl_;
  ResponsePage page;
  std::set<std::string> live_ids;
  // Runs in progress come first (newest first), from memory: a plain turn is stored only when
  // it ends.
  if (q.desc && !q.after && (!status || *status == "in_progress" || *status == "queued")) {
    std::vector<std::shared_ptr<Run>> live;
    {
      std::lock_guard lk(im.mu);
      for (const auto& [id, run] : im.live)
        if (run->project_id() == scope.project && scope.sees(run->owner()) && run->st_->store) live.push_back(run);
    }
    std::sort(live.begin(), live.end(), [](const auto& a, const auto& b) { return a->id() > b->id(); });
    for (const auto& run : live) {
      boost::system::error_code ec;
      auto v = json::parse(run->snapshot(), ec);
      if (ec || !v.is_object()) continue;
      if (status && v.as_object()["status"] != status->c_str()) continue;
      if (static_cast<int>(page.data.size()) == q.limit) {
        page.has_more = true;
        break;
      }
      live_ids.insert(run->id());
      page.data.push_back(std::move(v.as_object()));
    }
  }
  int want = q.limit - static_cast<int>(page.data.size());
  if (want > 0) {
    using R = Result<std::vector<ResponseRow>>;
    std::function<R(store::Database&)> fn = [scope, q, status, want](store::Database& db) -> R {
      return repo::list_responses(db, scope, q.after, q.desc, want + 1, status);
    };
    auto rows = co_await read_async<R>(im.store, std::move(fn));
    if (!rows.ok()) co_return rows.status();
    page.has_more = page.has_more || static_cast<int>(rows->size()) > want;
    for (auto& row : *rows) {
      if (static_cast<int>(page.data.size()) == q.limit) break;
      if (live_ids.count(row.id)) continue;
      auto v = response_json(row);
      if (!v.ok()) co_return v.status();
      page.data.push_back(std::move(*v));
    }
  }
  co_return page;
}

awaitable<Result<std::shared_ptr<Run>>> Runtime::stream_source(Scope scope, const std::string& id) {
  auto& im = *impl_;
  const std::string project = scope.project;
  {
    std::lock_guard lk(im.mu);
    auto not_streamed = [&] {
      return Status(Code::invalid_argument,
                    "Response '" + id + "' is still in progress and was not created with 'stream' or "
                    "'background'; its event stream is available once it has finished.",
                    "stream", "stream_not_available");
    };
    if (auto run = im.live_run_locked(scope, id)) {
      if (!run->st_->store) co_return not_found_response(id);
      if (!run->st_->record_events) co_return not_streamed();
      co_return run;
    }
    for (const auto& kept : im.recent) {
      const auto& r = kept.run;
      if (r->id() == id && r->project_id() == project && scope.sees(r->owner())) co_return r;
    }
    if (auto it = im.spilling.find(key_of(project, id)); it != im.spilling.end() && scope.sees(it->second->owner()))
      co_return it->second;
  }
  // From the store: the stored event log; on many nodes, a run in progress elsewhere (followed
  // through a mirror) or the events its node shipped before moving them to the row.
  struct Found {
    Status status;
    std::shared_ptr<Run> run;
    std::optional<ResponseRow> remote;
    std::string node;
  };
  bool shared = im.opts.notifier != nullptr;
  std::function<Found(store::Database&)> store_fn6 = [scope, project, id, shared](store::Database& db) -> Found {
    auto row = repo::get_response(db, scope, id);
    if (!row.ok()) return {row.status()};
    if (row->deleted) return {not_found_response(id)};
    bool unfinished = row->status == "queued" || row->status == "in_progress";
    if (shared && unfinished) {
      Found f;
      auto& q = db.stmt("SELECT node FROM turns WHERE project_id=?1 AND id=?2");
      if (q.bind(1, project).bind(2, id).step()) f.node = q.text(0);
      q.reset();
      if (f.node != this_node()) {
        f.remote = std::move(*row);
        return f;
      }
    }
    auto run = std::shared_ptr<Run>(new Run(id, project, true, row->user_id));
    if (row->events.empty()) {
      if (!shared || unfinished) return {};  // rebuilt below from the final object
      run->st_->events = Impl::shipped_events(db, id, 0);
      if (run->st_->events.empty()) return {};
    } else {
      boost::system::error_code ec;
      auto v = json::parse(row->events, ec);
      if (ec || !v.is_array()) return {Status(Code::internal, "stored events are corrupt")};
      for (const auto& e : v.as_array()) run->st_->events.push_back(json::serialize(e));
    }
    run->st_->done = true;
    return {Status(), run};
  };
  auto found = co_await read_async<Found>(im.store, std::move(store_fn6));
  if (!found.status.ok()) co_return found.status;
  if (found.run) co_return found.run;
  if (found.remote) co_return im.mirror(scope, *found.remote, found.node);
  // No event log was kept (a plain response, or a streamed one before a restart): rebuild the
  // stream from the finished response.
  auto body = co_await get_response(scope, id);
  if (!body.ok()) co_return body.status();
  boost::system::error_code ec;
  auto v = json::parse(*body, ec);
  if (ec || !v.is_object()) co_return Status(Code::internal, "stored response is corrupt");
  auto status = v.as_object().at("status");
  if (status == "queued" || status == "in_progress")
    co_return Status(Code::invalid_argument, "Response '" + id + "' is still in progress and has no event stream.",
                     "stream", "stream_not_available");
  auto run = std::shared_ptr<Run>(new Run(id, project, false));
  run->st_->events = synthesize_events(v.as_object());
  run->st_->done = true;
  co_return run;
}

awaitable<Result<std::string>> Runtime::delete_response(Scope scope, const std::string& id) {
  auto& im = *impl_;
  {
    std::lock_guard lk(im.mu);
    auto run = im.live_run_locked(scope, id);
    if (run && run->st_->store) {
      co_return Status(Code::failed_precondition,
                       "Response '" + id + "' is still in progress; cancel it or wait for it to finish.",
                       "", "response_in_progress");
    }
  }
  using R = Result<std::string>;
  std::function<Status(store::Database&)> store_fn7 = [scope, id](store::Database& db) -> Status {
    auto row = repo::get_response(db, scope, id);
    if (!row.ok()) return row.status();
    if (row->deleted) return not_found_response(id);
    return Status();
  };
  auto exists = co_await read_async<Status>(im.store, std::move(store_fn7));
  if (!exists.ok()) co_return exists;
  std::function<Status(store::Database&)> store_fn8 = [scope, id](store::Database& db) {
    if (Status st = repo::delete_response(db, scope, id); !st.ok()) return st;
    // Other nodes forget what they cached of it (and the events its node shipped go).
    if (db.dialect() != store::Dialect::postgres) return Status();
    if (Status st = db.stmt("DELETE FROM run_events WHERE response_id=?1").bind(1, id).run(); !st.ok()) return st;
    return db.notify("chain:" + scope.project + " " + id);
  };
  Status st = co_await write_async(im.store, std::move(store_fn8));
  if (!st.ok()) co_return st;
  im.forget(scope.project, id);
  co_return R(json::serialize(json::object{{"id", id}, {"object", "response"}, {"deleted", true}}));
}

awaitable<Result<std::string>> Runtime::cancel(Scope scope, const std::string& id) {
  auto& im = *impl_;
  std::shared_ptr<Run> run;
  {
    std::lock_guard lk(im.mu);
    run = im.live_run_locked(scope, id);
  }
  if (run) {
    if (!run->background())
      co_return Status(Code::invalid_argument, "Only background responses can be cancelled.", "",
                       "invalid_request");
    im.request_cancel(run, "client");
    co_await run->wait_done();
    co_return run->snapshot();
  }
  auto body = co_await get_response(scope, id);
  if (!body.ok()) co_return body;
  boost::system::error_code ec;
  auto v = json::parse(*body, ec);
  if (!ec && v.is_object() && v.as_object().contains("background") &&
      v.as_object().at("background") != json::value(true))
    co_return Status(Code::invalid_argument, "Only background responses can be cancelled.", "",
                     "invalid_request");
  bool unfinished = !ec && v.is_object() && v.as_object().contains("status") &&
                    (v.as_object().at("status") == "queued" || v.as_object().at("status") == "in_progress");
  if (!im.opts.notifier || !unfinished) co_return body;
  // Running on another node: ask it, and wait (bounded) for the outcome to be stored.
  auto follow = co_await stream_source(scope, id);
  if (Status st = co_await im.announce_cancel(scope.project, id); !st.ok()) co_return st;
  if (follow.ok()) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!(*follow)->done() && std::chrono::steady_clock::now() < deadline)
      co_await (*follow)->wait(std::numeric_limits<int64_t>::max() - 1, std::chrono::milliseconds(200));
  }
  co_return co_await get_response(scope, id);
}

awaitable<Result<ItemPage>> Runtime::input_items(Scope scope, const std::string& id, ListQuery q) {
  auto& im = *impl_;
  {
    std::lock_guard lk(im.mu);
    auto run = im.live_run_locked(scope, id);
    if (run && !run->st_->store) co_return not_found_response(id);
  }
  std::function<Status(store::Database&)> store_fn9 = [scope, id](store::Database& db) -> Status {
    auto row = repo::get_response(db, scope, id);
    if (!row.ok()) return row.status();
    if (row->deleted || row->status == "queued" || row->status == "in_progress") {
      if (row->deleted) return not_found_response(id);
    }
    return Status();
  };
  auto deleted = co_await read_async<Status>(im.store, std::move(store_fn9));
  if (!deleted.ok()) co_return deleted;
  auto node = co_await im.load_node(scope, id);
  if (!node.ok()) co_return node.status();
  std::vector<ItemPtr> all = (*node)->parent ? Impl::path_items((*node)->parent) : std::vector<ItemPtr>{};
  all.insert(all.end(), (*node)->inputs.begin(), (*node)->inputs.end());
  co_return paginate(std::move(all), q);
}

}  // namespace cn::runtime

namespace cn::runtime {

void Runtime::Impl::forget(const std::string& project, const std::string& id) {
  std::lock_guard lk(mu);
  if (auto it = nodes.find(key_of(project, id)); it != nodes.end()) {
    node_lru.erase(it->second.lru);
    nodes.erase(it);
  }
  std::erase_if(recent, [&](const Impl::RecentRun& r) {
    if (r.run->id() != id || r.run->project_id() != project) return false;
    recent_bytes -= r.bytes;
    return true;
  });
  spilling.erase(key_of(project, id));
}

}  // namespace cn::runtime
