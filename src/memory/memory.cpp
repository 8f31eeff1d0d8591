// Memory's public API: explicit writes and reads, history, search, retrieval for a turn, and
// erasure of a user. Each call takes the caller's project and goes through the store executor.
#include "memory/impl.hpp"

#include "base/ids.hpp"
#include "base/log.hpp"

namespace cn::memory {

Namespace scoped(const Namespace& turn, std::string_view scope) {
  if (scope == "user") return {turn.user_id, "", ""};
  if (scope == "agent") return {turn.user_id, turn.agent_id, ""};
  return turn;
}

bool visible(const Record& r, const Namespace& ns) {
  return (r.ns.agent_id.empty() || r.ns.agent_id == ns.agent_id) &&
         (r.ns.session_id.empty() || r.ns.session_id == ns.session_id);
}

Memory::Memory(net::io_context& io, store::Executor& store, model::Registry& models, Options opts, Clock& clock)
    : impl_(std::make_unique<Impl>(io, store, models, std::move(opts), clock)) {}

Memory::~Memory() { stop(); }

awaitable<Result<Record>> Memory::write(const std::string& project, Namespace ns, std::string kind, std::string text,
                                        std::string metadata, Source source) {
  int64_t now = impl_->clock.now_seconds();
  Record r{new_id("mem"), project, std::move(ns), std::move(kind), std::move(text), std::move(metadata),
           std::move(source), now, now, now, std::nullopt, "active"};
  auto vr = co_await impl_->embed(r.text);
  if (!vr.ok()) co_return vr.status();
  auto vec = std::move(*vr);
  auto ch = std::make_shared<Changes>();
  std::function<Status(store::Database&)> fn = [r, vec, ch](store::Database& db) { return insert_record(db, r, "written", vec, ch.get()); };
  Status st = co_await write_async(impl_->store, std::move(fn));
  if (!st.ok()) co_return st;
  impl_->apply(project, *ch);
  co_return r;
}

awaitable<Result<Record>> Memory::import(const std::string& project, Record r) {
  int64_t now = impl_->clock.now_seconds();
  if (r.id.empty()) r.id = new_id("mem");
  if (!valid_id_syntax(r.id) || !r.id.starts_with("mem_"))
    co_return Status(Code::invalid_argument, "Invalid memory id '" + r.id + "'.", "memories");
  r.project_id = project;
  if (r.created_at <= 0 || r.created_at > now) r.created_at = now;
  r.updated_at = now;
  r.valid_from = r.created_at;
  r.valid_to.reset();
  r.status = "active";
  r.superseded_by.reset();
  auto vr = co_await impl_->embed(r.text);
  if (!vr.ok()) co_return vr.status();
  auto vec = std::move(*vr);
  auto ch = std::make_shared<Changes>();
  std::function<Status(store::Database&)> fn = [r, vec, ch](store::Database& db) -> Status {
    if (load(db, r.project_id, r.id).ok())
      return Status(Code::already_exists, "A memory with id '" + r.id + "' already exists; import with ids=remap.", "memories", "memory_exists");
    return insert_record(db, r, "imported", vec, ch.get());
  };
  Status st = co_await write_async(impl_->store, std::move(fn));
  if (!st.ok()) co_return st;
  impl_->apply(project, *ch);
  co_return r;
}

awaitable<Result<Record>> Memory::get(const std::string& project, const std::string& id) {
  std::function<Result<Record>(store::Database&)> fn = [project, id](store::Database& db) { return load(db, project, id); };
  auto r = co_await read_async<Result<Record>>(impl_->store, std::move(fn));
  if (r.ok() && r->status == "deleted") co_return not_found(id);
  co_return r;
}

awaitable<Result<std::vector<Record>>> Memory::list(const std::string& project, Filter f, int limit,
                                                    std::optional<std::string> after) {
  using R = Result<std::vector<Record>>;
  std::function<R(store::Database&)> fn = [project, f, limit, after](store::Database& db) -> R {
    std::vector<std::string> binds;
    std::string cond = filter_sql(f, binds);
    if (f.include_inactive) cond += " AND status!='deleted'";
    if (after) {
      int64_t seq;
      auto a = load(db, project, *after, &seq);
      if (!a.ok()) return Status(Code::invalid_argument, "No memory with id '" + *after + "'.", "after");
      binds.push_back(std::to_string(seq));
      cond += " AND seq<CAST(?" + std::to_string(binds.size() + 1) + " AS INTEGER)";
    }
    auto p = db.prepare(std::string("SELECT ") + kCols + " FROM memory_records WHERE project_id=?1" + cond +
                        " ORDER BY seq DESC LIMIT " + std::to_string(limit + 1));
    if (!p.ok()) return p.status();
    auto& q = **p;
    q.bind(1, project);
    for (size_t i = 0; i < binds.size(); ++i) q.bind(static_cast<int>(i + 2), binds[i]);
    std::vector<Record> out;
    while (q.step()) out.push_back(row_of(q));
    Status st = q.status();
    q.reset();
    if (!st.ok()) return st;
    return out;
  };
  co_return co_await read_async<R>(impl_->store, std::move(fn));
}

awaitable<Result<Record>> Memory::update(const std::string& project, const std::string& id,
                                         std::optional<std::string> text, std::optional<std::string> metadata) {
  auto out = std::make_shared<Record>();
  auto ch = std::make_shared<Changes>();
  int64_t now = impl_->clock.now_seconds();
  std::vector<float> vec;
  if (text) {
    auto vr = co_await impl_->embed(*text);
    if (!vr.ok()) co_return vr.status();
    vec = std::move(*vr);
  }
  std::function<Status(store::Database&)> fn = [=](store::Database& db) -> Status {
    int64_t seq;
    auto r = load(db, project, id, &seq);
    if (!r.ok()) return r.status();
    if (r->status == "deleted") return not_found(id);
    if (r->status != "active")
      return Status(Code::failed_precondition, "Memory '" + id + "' is " + r->status + " and cannot be changed.", "", "memory_not_active");
    if (metadata) {
      auto& st = db.stmt("UPDATE memory_records SET metadata=?3, updated_at=?4 WHERE project_id=?1 AND id=?2");
      if (Status s = st.bind(1, project).bind(2, id).bind(3, *metadata).bind(4, now).run(); !s.ok()) return s;
      r->metadata = *metadata;
      r->updated_at = now;
    }
    if (text && *text != r->text) {
      if (Status s = set_text(db, *r, seq, *text, vec, "api", "corrected through the API", now, ch.get()); !s.ok()) return s;
    }
    *out = std::move(*r);
    return Status();
  };
  Status st = co_await write_async(impl_->store, std::move(fn));
  if (!st.ok()) co_return st;
  impl_->apply(project, *ch);
  co_return *out;
}

awaitable<Result<Record>> Memory::remove(const std::string& project, const std::string& id) {
  auto out = std::make_shared<Record>();
  auto ch = std::make_shared<Changes>();
  int64_t now = impl_->clock.now_seconds();
  std::function<Status(store::Database&)> fn = [=](store::Database& db) -> Status {
    int64_t seq;
    auto r = load(db, project, id, &seq);
    if (!r.ok()) return r.status();
    if (r->status == "deleted") return not_found(id);
    if (Status s = retire(db, *r, seq, "deleted", std::nullopt, "api", "deleted through the API", now, ch.get()); !s.ok())
      return s;
    *out = std::move(*r);
    return Status();
  };
  Status st = co_await write_async(impl_->store, std::move(fn));
  if (!st.ok()) co_return st;
  impl_->apply(project, *ch);
  co_return *out;
}

awaitable<Result<std::vector<HistoryEntry>>> Memory::history(const std::string& project, const std::string& id,
                                                             std::optional<std::string> user) {
  using R = Result<std::vector<HistoryEntry>>;
  std::function<R(store::Database&)> fn = [project, id, user](store::Database& db) -> R {
    auto r = load(db, project, id);
    if (!r.ok()) return r.status();
    if (user && r->ns.user_id != *user) return not_found(id);
    auto& q = db.stmt("SELECT at, event, text, actor, reason, related_id FROM memory_history"
                      " WHERE project_id=?1 AND record_id=?2 ORDER BY n");
    q.bind(1, project).bind(2, id);
    std::vector<HistoryEntry> out;
    while (q.step()) out.push_back({q.int64(0), q.text(1), q.text(2), q.text(3), q.text(4), q.text_opt(5)});
    Status st = q.status();
    q.reset();
    if (!st.ok()) return st;
    return out;
  };
  co_return co_await read_async<R>(impl_->store, std::move(fn));
}

awaitable<Result<std::vector<Record>>> Memory::search(const std::string& project, std::string query, Filter f,
                                                      size_t top_k) {
  co_return co_await impl_->search(project, query, f, top_k);
}

awaitable<Result<std::vector<Record>>> Memory::relevant(const std::string& project, const Namespace& ns,
                                                        const std::string& query) {
  Filter f;
  f.user_id = ns.user_id;
  auto r = co_await search(project, query, f, impl_->opts.injection_top_k * 2);
  if (!r.ok()) co_return r;
  std::vector<Record> out;
  int64_t budget = impl_->opts.injection_token_budget;
  for (auto& rec : *r) {
    if (!visible(rec, ns)) continue;
    int64_t cost = static_cast<int64_t>(rec.text.size() / 4) + 4;
    if (cost > budget || out.size() >= impl_->opts.injection_top_k) break;
    budget -= cost;
    out.push_back(std::move(rec));
  }
  co_return out;
}

awaitable<Result<int64_t>> Memory::erase_user(const std::string& project, const std::string& user_id) {
  auto count = std::make_shared<int64_t>(0);
  std::function<Status(store::Database&)> fn = [=](store::Database& db) -> Status {
    if (Status s = lexical_remove_user(db, project, user_id); !s.ok()) return s;
    auto& h = db.stmt("DELETE FROM memory_history WHERE project_id=?1 AND record_id IN"
                      " (SELECT id FROM memory_records WHERE project_id=?1 AND user_id=?2)");
    if (Status s = h.bind(1, project).bind(2, user_id).run(); !s.ok()) return s;
    auto& r = db.stmt("DELETE FROM memory_records WHERE project_id=?1 AND user_id=?2");
    if (Status s = r.bind(1, project).bind(2, user_id).run(); !s.ok()) return s;
    *count = db.changes();
    auto& j = db.stmt("DELETE FROM memory_jobs WHERE project_id=?1 AND user_id=?2");
    if (Status s = j.bind(1, project).bind(2, user_id).run(); !s.ok()) return s;
    return feed_change(db, project, user_id, -1, false);  // other nodes drop the user's index
  };
  Status st = co_await write_async(impl_->store, std::move(fn));
  if (!st.ok()) co_return st;
  impl_->drop_index(project, user_id);
  co_return *count;
}

}  // namespace cn::memory
