// The durable extraction job queue: jobs enqueued in a turn's own transaction, claimed by
// worker coroutines, run against the model (strict JSON), retried with backoff, then failed
// visibly; jobs a crash left running are re-queued at start-up.
#include "base/node.hpp"
#include "memory/impl.hpp"

#include "base/ids.hpp"
#include "base/log.hpp"
#include "wire/items.hpp"

namespace cn::memory {

awaitable<Result<json::object>> Memory::Impl::ask(const std::string& model_name, const char* instructions,
                                                  std::string user_text, const char* schema_name, json::object schema) {
  auto prov = models.route(model_name);
  if (!prov.ok()) co_return prov.status();
  model::ModelRequest mr;
  mr.model = model_name;
  mr.instructions = std::string(instructions);
  Item it;
  it.id = new_id("msg");
  it.role = "user";
  it.content.push_back({"input_text", std::move(user_text)});
  wire::finalize_wire(it);
  mr.context.push_back(std::make_shared<const Item>(std::move(it)));
  mr.text_format_json = format_json(schema_name, std::move(schema));
  mr.temperature = 0;
  TextSink sink;
  auto cancel = std::make_shared<http::CancelToken>();
  auto r = co_await (*prov)->generate(mr, sink, cancel);
  if (!r.ok()) co_return r.status();
  boost::system::error_code ec;
  auto v = json::parse(sink.text, ec);
  if (ec || !v.is_object())
    co_return Status(Code::invalid_argument, "the model's answer is not a JSON object: " + sink.text.substr(0, 200));
  co_return v.as_object();
}

awaitable<std::optional<Job>> Memory::Impl::claim() {
  auto job = std::make_shared<std::optional<Job>>();
  int64_t now = clock.now_millis();
  std::function<Status(store::Database&)> fn = [job, now, shared = opts.shared](store::Database& db) -> Status {
    // Many nodes: a job is claimed by one (a row another node's claim locks is skipped), and
    // jobs running on a node that is no longer a member are due again.
    bool pg = db.dialect() == store::Dialect::postgres;
    auto& q = db.stmt(pg ? "SELECT id, kind, payload, attempts, user_id FROM memory_jobs WHERE status='pending'"
                           " AND next_run_at<=?1 ORDER BY next_run_at LIMIT 1 FOR UPDATE SKIP LOCKED"
                         : "SELECT id, kind, payload, attempts, user_id FROM memory_jobs WHERE status='pending'"
                           " AND next_run_at<=?1 ORDER BY next_run_at LIMIT 1");
    q.bind(1, now);
    if (!q.step()) {
      Status st = q.status();
      q.reset();
      if (st.ok() && shared)
        st = db.stmt("UPDATE memory_jobs SET status='pending' WHERE status='running'"
                     " AND node NOT IN (SELECT id FROM cluster_nodes)").run();
      return st;
    }
    Job j;
    j.id = q.text(0);
    j.kind = q.text(1);
    j.payload = q.text(2);
    j.attempts = static_cast<int>(q.int64(3)) + 1;
    j.user_id = q.text(4);
    q.reset();
    auto& u = db.stmt("UPDATE memory_jobs SET status='running', attempts=?2, updated_at=?3, node=?4 WHERE id=?1");
    if (Status s = u.bind(1, j.id).bind(2, j.attempts).bind(3, now / 1000).bind(4, this_node()).run(); !s.ok()) return s;
    *job = std::move(j);
    return Status();
  };
  Status st = co_await write_async(store, std::move(fn));
  if (!st.ok()) {
    spdlog::warn("memory job claim failed: {}", st.message());
    co_return std::nullopt;
  }
  co_return *job;
}

awaitable<void> Memory::Impl::finish(const Job& job, const Status& outcome) {
  std::string id = job.id;
  int attempts = job.attempts;
  int max_attempts = opts.max_attempts;
  int64_t now = clock.now_millis();
  std::string error = outcome.ok() ? "" : outcome.message();
  std::function<Status(store::Database&)> fn = [=](store::Database& db) {
    auto& u = db.stmt("UPDATE memory_jobs SET status=?2, last_error=?3, next_run_at=?4, updated_at=?5 WHERE id=?1");
    std::string status = outcome.ok() ? "done" : (attempts >= max_attempts ? "failed" : "pending");
    int64_t backoff = 500LL << std::min(attempts, 10);  // 1 s, 2 s, 4 s, ...
    return u.bind(1, id).bind(2, status).bind(3, error).bind(4, now + backoff).bind(5, now / 1000).run();
  };
  Status st = co_await write_async(store, std::move(fn));
  if (!st.ok()) spdlog::warn("memory job {} could not be recorded: {}", job.id, st.message());
  if (!outcome.ok())
    spdlog::warn("memory job {} attempt {} failed: {}", job.id, job.attempts, outcome.message());
}

awaitable<void> Memory::Impl::worker() {
  auto ex = co_await net::this_coro::executor;
  auto timer = std::make_shared<net::steady_timer>(ex);
  {
    std::lock_guard lk(mu);
    sleepers.push_back(timer);
  }
  while (!stopping.load()) {
    auto job = co_await claim();
    if (!job) {
      timer->expires_after(opts.poll_interval);
      co_await timer->async_wait(net::as_tuple(net::use_awaitable));
      continue;
    }
    Status st = co_await run_job(*job);
    co_await finish(*job, st);
  }
}

awaitable<Status> Memory::Impl::run_job(const Job& job) {
  if (job.kind != "extract") co_return Status(Code::internal, "unknown job kind " + job.kind);
  boost::system::error_code ec;
  auto v = json::parse(job.payload, ec);
  if (ec || !v.is_object()) co_return Status(Code::internal, "corrupt job payload");
  const auto& p = v.as_object();
  auto str = [&](const char* k) {
    auto* f = p.if_contains(k);
    return f && f->is_string() ? std::string(f->as_string()) : std::string();
  };
  std::string project = str("project_id"), model_name = str("model");
  if (!opts.extraction_model.empty()) model_name = opts.extraction_model;
  Namespace ns{str("user_id"), str("agent_id"), str("session_id")};
  Source src{"extraction", str("response_id"), str("conversation_id"), {}};
  std::string transcript;
  if (auto* items = p.if_contains("items"); items && items->is_array()) {
    for (const auto& iv : items->as_array()) {
      const auto& io = iv.as_object();
      src.item_ids.emplace_back(io.at("id").as_string());
      transcript += std::string(io.at("role").as_string()) + ": " + std::string(io.at("text").as_string()) + "\n";
    }
  }
  // Where each kind goes ("" = not extracted): the turn's own strategies, else the server's.
  auto scope_of = [&](const char* kind, bool on, const std::string& dflt) -> std::string {
    if (auto* s = p.if_contains("strategies"); s && s->is_object())
      if (auto* v = s->as_object().if_contains(kind); v && v->is_string())
        return v->as_string() == "off" ? std::string() : std::string(v->as_string());
    return on ? dflt : std::string();
  };
  const std::string facts_scope = scope_of("facts", opts.extract_facts, opts.facts_scope);
  const std::string prefs_scope = scope_of("preferences", opts.extract_preferences, opts.preferences_scope);
  const std::string summary_scope = scope_of("summary", opts.extract_summary, opts.summary_scope);
  std::string task = transcript;
  if (facts_scope.empty()) task += "\n(Do not extract facts.)";
  if (prefs_scope.empty()) task += "\n(Do not extract preferences.)";
  if (summary_scope.empty() || src.conversation_id.empty()) task += "\n(Summary: null.)";
  const char* prompt = opts.extraction_prompt.empty() ? kExtractionPrompt : opts.extraction_prompt.c_str();
  auto out = co_await ask(model_name, prompt, task, "memory_extraction", extraction_schema());
  if (!out.ok()) co_return out.status();
  // Validate before acting on any of it.
  auto* mems = out->if_contains("memories");
  if (!mems || !mems->is_array()) co_return Status(Code::invalid_argument, "extraction output has no 'memories' array");
  std::vector<std::pair<std::string, std::string>> found;  // kind, text
  for (const auto& m : mems->as_array()) {
    if (!m.is_object()) co_return Status(Code::invalid_argument, "extraction output: a memory is not an object");
    const auto& mo = m.as_object();
    auto* t = mo.if_contains("text");
    auto* k = mo.if_contains("kind");
    if (!t || !t->is_string() || t->as_string().empty() || t->as_string().size() > 2000 || !k || !k->is_string() ||
        (k->as_string() != "fact" && k->as_string() != "preference"))
      co_return Status(Code::invalid_argument, "extraction output: a memory lacks a valid 'text' or 'kind'");
    if (k->as_string() == "fact" && facts_scope.empty()) continue;
    if (k->as_string() == "preference" && prefs_scope.empty()) continue;
    found.emplace_back(std::string(k->as_string()), std::string(t->as_string()));
  }
  for (auto& [kind, text] : found) {
    Namespace kns = scoped(ns, kind == "fact" ? facts_scope : prefs_scope);
    Status st = co_await consolidate(project, kns, kind, text, src, model_name);
    if (!st.ok()) co_return st;
  }
  if (auto* sum = out->if_contains("summary"); sum && sum->is_string() && !sum->as_string().empty() &&
      !summary_scope.empty() && !src.conversation_id.empty()) {
    Namespace sns = scoped(ns, summary_scope);
    Status st = co_await replace_summary(project, sns, std::string(sum->as_string()), src);
    if (!st.ok()) co_return st;
  }
  co_return Status();
}

void Memory::Impl::wake() {
  std::lock_guard lk(mu);
  for (auto& t : sleepers) net::post(t->get_executor(), [t] { t->cancel(); });
}

Status Memory::start() {
  std::promise<Status> p;
  auto f = p.get_future();
  impl_->store.submit(
      [](store::Database& db) {
        // This node's jobs a crash left running (on one node: every running job).
        auto& q = db.stmt("UPDATE memory_jobs SET status='pending' WHERE status='running' AND node=?1");
        return q.bind(1, this_node()).run();
      },
      [&p](Status s) { p.set_value(std::move(s)); });
  Status st = f.get();
  if (!st.ok()) return st;
  if (impl_->opts.shared) {
    std::promise<Status> fp;
    auto ff = fp.get_future();
    impl_->store.read([&fp, im = impl_.get()](store::Database& db) { fp.set_value(im->start_feed(db)); });
    if (st = ff.get(); !st.ok()) return st;
  }
  for (int i = 0; i < impl_->opts.max_concurrent_jobs; ++i)
    net::co_spawn(net::make_strand(impl_->io), impl_->worker(), net::detached);
  if (impl_->opts.warm_indexes) net::co_spawn(net::make_strand(impl_->io), impl_->warm(), net::detached);
  if (!impl_->opts.index_dir.empty() && impl_->opts.index_save_interval.count() > 0)
    net::co_spawn(net::make_strand(impl_->io), impl_->saver(), net::detached);
  return {};
}

void Memory::stop() {
  if (impl_->stopping.exchange(true)) return;
  impl_->wake();
  impl_->builder.join();  // a build in progress gives up at once; a load from disk finishes
  impl_->save_indexes();
}

void Memory::notify() { impl_->wake(); }

Status Memory::enqueue_extraction(store::Database& db, const TurnForExtraction& t) {
  json::array items;
  for (const auto& it : t.items) {
    if (it->type != ItemType::message || it->role == "system" || it->role == "developer") continue;
    items.push_back(json::object{{"id", it->id}, {"role", it->role}, {"text", it->text()}});
  }
  if (items.empty()) return {};
  json::object payload{{"project_id", t.project_id}, {"response_id", t.response_id},
                       {"conversation_id", t.conversation_id}, {"model", t.model},
                       {"user_id", t.ns.user_id}, {"agent_id", t.ns.agent_id},
                       {"session_id", t.ns.session_id}, {"items", std::move(items)}};
  json::object strategies;
  for (auto [key, v] : {std::pair{"facts", &t.strategies.facts}, std::pair{"preferences", &t.strategies.preferences},
                        std::pair{"summary", &t.strategies.summary}})
    if (*v) strategies[key] = **v;
  if (!strategies.empty()) payload["strategies"] = std::move(strategies);
  int64_t now = impl_->clock.now_millis();
  auto& st = db.stmt("INSERT INTO memory_jobs(id, project_id, user_id, kind, payload, status, next_run_at,"
                     " created_at, updated_at) VALUES (?1,?2,?3,'extract',?4,'pending',?5,?6,?6)");
  return st.bind(1, new_id("job")).bind(2, t.project_id).bind(3, t.ns.user_id).bind(4, json::serialize(payload))
      .bind(5, now).bind(6, now / 1000).run();
}

awaitable<Result<std::vector<Job>>> Memory::jobs(const std::string& project, std::optional<std::string> status, int limit,
                                                 std::optional<std::string> user) {
  using R = Result<std::vector<Job>>;
  std::function<R(store::Database&)> fn = [project, status, limit, user](store::Database& db) -> R {
    auto& q = db.stmt("SELECT id, kind, status, user_id, last_error, attempts, created_at, updated_at, next_run_at"
                      " FROM memory_jobs WHERE project_id=?1 AND (?2 IS NULL OR status=?2) AND (?4 IS NULL OR user_id=?4)"
                      " ORDER BY created_at DESC, id DESC LIMIT ?3");
    q.bind(1, project).bind_opt(2, status).bind(3, limit).bind_opt(4, user);
    std::vector<Job> out;
    while (q.step()) {
      Job j;
      j.id = q.text(0);
      j.kind = q.text(1);
      j.status = q.text(2);
      j.user_id = q.text(3);
      j.last_error = q.text(4);
      j.attempts = static_cast<int>(q.int64(5));
      j.created_at = q.int64(6);
      j.updated_at = q.int64(7);
      j.next_run_at = q.int64(8) / 1000;
      out.push_back(std::move(j));
    }
    Status st = q.status();
    q.reset();
    if (!st.ok()) return st;
    return out;
  };
  co_return co_await read_async<R>(impl_->store, std::move(fn));
}

}  // namespace cn::memory
