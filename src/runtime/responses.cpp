// Stored responses: read (live snapshot or stored row with its output items), stream (live,
// recent, stored event log, or rebuilt from the final object), cancel, delete, input items.
#include "runtime/impl.hpp"

#include <algorithm>
#include <set>

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
  using R = Result<std::shared_ptr<Run>>;
  std::function<R(store::Database&)> store_fn6 = [scope, project, id](store::Database& db) -> R {
    auto row = repo::get_response(db, scope, id);
    if (!row.ok()) return row.status();
    if (row->deleted) return not_found_response(id);
    if (row->events.empty()) return std::shared_ptr<Run>();  // rebuilt below from the final object
    auto run = std::shared_ptr<Run>(new Run(id, project, true, row->user_id));
    boost::system::error_code ec;
    auto v = json::parse(row->events, ec);
    if (ec || !v.is_array()) return Status(Code::internal, "stored events are corrupt");
    for (const auto& e : v.as_array()) run->st_->events.push_back(json::serialize(e));
    run->st_->done = true;
    return run;
  };
  auto stored = co_await read_async<R>(im.store, std::move(store_fn6));
  if (!stored.ok() || *stored) co_return stored;
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
    return repo::delete_response(db, scope, id);
  };
  Status st = co_await write_async(im.store, std::move(store_fn8));
  if (!st.ok()) co_return st;
  {
    std::lock_guard lk(im.mu);
    if (auto it = im.nodes.find(key_of(scope.project, id)); it != im.nodes.end()) {
      im.node_lru.erase(it->second.lru);
      im.nodes.erase(it);
    }
    std::erase_if(im.recent, [&](const Impl::RecentRun& r) {
      if (r.run->id() != id || r.run->project_id() != scope.project) return false;
      im.recent_bytes -= r.bytes;
      return true;
    });
    im.spilling.erase(key_of(scope.project, id));
  }
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
  co_return body;
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
