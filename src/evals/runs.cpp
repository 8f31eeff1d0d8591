// Eval runs and their output items: checks of a run's data source, the run object, reading and
// cancelling, and resuming at start-up (see evals.hpp; runner.cpp grades).
#include "evals/impl.hpp"

#include <future>

#include "base/clock.hpp"
#include "base/ids.hpp"
#include "base/node.hpp"
#include "base/log.hpp"

namespace cn::evals {

namespace {

Status bad(const std::string& param, std::string message, std::string code = "invalid_value") {
  return invalid_param(param, std::move(message), std::move(code));
}

json::value parse(const std::string& text) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  return ec ? json::value(nullptr) : v;
}

std::string type_of(const json::object& o) {
  auto* t = o.if_contains("type");
  return t && t->is_string() ? std::string(t->as_string()) : "";
}

// Checks a run's data_source against what this server runs; 400 naming the field.
Status check_data_source(const json::value* v, size_t max_items, bool agents) {
  const std::string ds = "data_source";
  if (!v || !v->is_object()) return bad(ds, "Missing required parameter: 'data_source' (an object).", "missing_required_parameter");
  const auto& o = v->as_object();
  std::string type = type_of(o);
  if (type != "jsonl" && type != "completions" && type != "responses")
    return bad(ds + ".type", "Invalid 'data_source.type': expected one of jsonl, completions, responses.");
  auto* src = o.if_contains("source");
  if (!src || !src->is_object()) return bad(ds + ".source", "Missing required parameter: 'data_source.source'.", "missing_required_parameter");
  std::string stype = type_of(src->as_object());
  if (stype == "file_content") {
    auto* c = src->as_object().if_contains("content");
    if (!c || !c->is_array() || c->as_array().empty())
      return bad(ds + ".source.content", "Invalid 'data_source.source.content': expected a non-empty array of {item, sample?}.", "invalid_type");
    if (c->as_array().size() > max_items)
      return bad(ds + ".source.content", "Too many items: at most " + std::to_string(max_items) + " per run.");
    for (size_t i = 0; i < c->as_array().size(); ++i) {
      std::string at = ds + ".source.content[" + std::to_string(i) + "]";
      const auto& e = c->as_array()[i];
      if (!e.is_object() || !e.as_object().contains("item") || !e.as_object().at("item").is_object())
        return bad(at + ".item", "Invalid '" + at + "': expected an object with an 'item' object.", "invalid_type");
      if (auto* s = e.as_object().if_contains("sample"); s && !s->is_null() && !s->is_object())
        return bad(at + ".sample", "Invalid '" + at + ".sample': expected an object.", "invalid_type");
    }
  } else if (stype == "responses") {
    if (type != "responses") return bad(ds + ".source.type", "A 'responses' source needs a data source of type 'responses'.");
    const auto& s = src->as_object();
    for (const char* k : {"created_after", "created_before", "limit"})
      if (auto* x = s.if_contains(k); x && !x->is_null() && !x->is_int64())
        return bad(ds + ".source." + k, std::string("Invalid type for 'data_source.source.") + k + "': expected an integer.", "invalid_type");
    for (const char* k : {"model", "instructions_search"})
      if (auto* x = s.if_contains(k); x && !x->is_null() && !x->is_string())
        return bad(ds + ".source." + k, std::string("Invalid type for 'data_source.source.") + k + "': expected a string.", "invalid_type");
    if (auto* x = s.if_contains("metadata"); x && !x->is_null() && !x->is_object())
      return bad(ds + ".source.metadata", "Invalid type for 'data_source.source.metadata': expected an object.", "invalid_type");
    for (const char* k : {"users", "tools"})
      if (auto* x = s.if_contains(k); x && !x->is_null() &&
          (!x->is_array() || !std::all_of(x->as_array().begin(), x->as_array().end(), [](const json::value& v) { return v.is_string(); })))
        return bad(ds + ".source." + k, std::string("Invalid type for 'data_source.source.") + k + "': expected an array of strings.", "invalid_type");
  } else if (stype == "file_id" || stype == "stored_completions") {
    return bad(ds + ".source.type", "The '" + stype + "' source is not supported by this server; use file_content or responses.", "unsupported_value");
  } else {
    return bad(ds + ".source.type", "Invalid 'data_source.source.type': expected file_content or responses.");
  }
  auto* im = o.if_contains("input_messages");
  if (im && !im->is_null()) {
    if (type == "jsonl") return bad(ds + ".input_messages", "A jsonl data source grades its samples as given; 'input_messages' needs type completions or responses.");
    if (!im->is_object()) return bad(ds + ".input_messages", "Invalid type for 'data_source.input_messages': expected an object.", "invalid_type");
    std::string itype = type_of(im->as_object());
    if (itype == "template") {
      auto* t = im->as_object().if_contains("template");
      if (!t || !t->is_array() || t->as_array().empty())
        return bad(ds + ".input_messages.template", "Invalid 'data_source.input_messages.template': expected a non-empty array of messages.", "invalid_type");
      for (size_t i = 0; i < t->as_array().size(); ++i) {
        std::string at = ds + ".input_messages.template[" + std::to_string(i) + "]";
        const auto& m = t->as_array()[i];
        if (!m.is_object() || !m.as_object().contains("role") || !m.as_object().contains("content"))
          return bad(at, "Invalid '" + at + "': expected a message with 'role' and 'content'.", "invalid_type");
        const auto& c = m.as_object().at("content");
        std::string text = c.is_string() ? std::string(c.as_string())
                           : c.is_object() && c.as_object().contains("text") && c.as_object().at("text").is_string()
                               ? std::string(c.as_object().at("text").as_string())
                               : std::string();
        if (Status s = check_template(text, at + ".content"); !s.ok()) return s;
      }
    } else if (itype == "item_reference") {
      auto* r = im->as_object().if_contains("item_reference");
      if (!r || !r->is_string() || r->as_string().rfind("item.", 0) != 0)
        return bad(ds + ".input_messages.item_reference", "Invalid 'data_source.input_messages.item_reference': expected a path under item (e.g. \"item.messages\").");
    } else {
      return bad(ds + ".input_messages.type", "Invalid 'data_source.input_messages.type': expected template or item_reference.");
    }
    auto* model = o.if_contains("model");
    if (!model || !model->is_string() || model->as_string().empty())
      return bad(ds + ".model", "Missing required parameter: 'data_source.model' (the model that answers input_messages).", "missing_required_parameter");
    if (model->as_string().rfind("agent:", 0) == 0 && !agents)
      return bad(ds + ".model", "This server has no agents to sample ('agent:NAME@ALIAS'); name a model.", "unsupported_value");
  }
  if (auto* sp = o.if_contains("sampling_params"); sp && !sp->is_null() && !sp->is_object())
    return bad(ds + ".sampling_params", "Invalid type for 'data_source.sampling_params': expected an object.", "invalid_type");
  return {};
}

std::string status_of(const json::object& run) { return std::string(run.at("status").as_string()); }

}  // namespace

Status check_run_data_source(const json::object& ds, size_t max_items, bool agents) {
  json::value v(ds);
  return check_data_source(&v, max_items, agents);
}

boost::asio::awaitable<Status> Evals::save_run(Live& live) {
  std::string body, status;
  {
    std::lock_guard lk(live.mu);
    body = json::serialize(live.run);
    status = status_of(live.run);
  }
  std::string project = live.project, eval = live.eval_id, id = live.id, user = live.scope.user.value_or("");
  int64_t created;
  {
    std::lock_guard lk(live.mu);
    created = live.run.at("created_at").as_int64();
  }
  std::function<Status(store::Database&)> put = [project, eval, id, created, status, body, user](store::Database& db) {
    return sql::put_run(db, project, eval, id, created, status, body, user);
  };
  co_return co_await write_async(store_, std::move(put));
}

void Evals::start(std::shared_ptr<Live> live) {
  {
    std::lock_guard lk(mu_);
    live_[live->project + "\x1f" + live->id] = live;
  }
  net::co_spawn(net::make_strand(io_), execute(live), net::detached);
}

boost::asio::awaitable<Result<std::string>> Evals::create_run(Scope scope, std::string eval_id, json::object body) {
  for (const auto& [k, v] : body)
    if (k != "data_source" && k != "name" && k != "metadata")
      co_return bad(std::string(k), "Unknown parameter: '" + std::string(k) + "'.", "unknown_parameter");
  if (auto* n = body.if_contains("name"); n && !n->is_null() && !n->is_string())
    co_return bad("name", "Invalid type for 'name': expected a string.", "invalid_type");
  auto eval = co_await get(scope.project, eval_id);
  if (!eval.ok()) co_return eval.status();
  if (Status s = check_data_source(body.if_contains("data_source"), opts_.max_items, sampler_ != nullptr); !s.ok()) co_return s;
  auto live = std::make_shared<Live>();
  live->project = scope.project;
  live->eval_id = eval_id;
  live->id = new_id("evalrun");
  live->scope = scope;
  live->eval = parse(*eval).as_object();
  const auto& ds = body.at("data_source").as_object();
  auto* model = ds.if_contains("model");
  auto* name = body.if_contains("name");
  live->run = json::object{{"object", "eval.run"}, {"id", live->id}, {"eval_id", eval_id},
                           {"name", name && name->is_string() ? json::value(name->as_string()) : json::value(live->id)},
                           {"status", "queued"}, {"created_at", Clock::system().now_seconds()}, {"data_source", ds},
                           {"model", model && model->is_string() ? *model : json::value(nullptr)},
                           {"metadata", body.contains("metadata") ? body.at("metadata") : json::value(nullptr)},
                           {"error", nullptr}, {"report_url", ""}};
  apply_counts(live->run, Counts{}, live->eval);
  if (Status st = co_await save_run(*live); !st.ok()) co_return st;
  std::string out = json::serialize(live->run);
  start(live);
  co_return out;
}

boost::asio::awaitable<Result<std::string>> Evals::get_run(std::string project, std::string eval_id, std::string run_id) {
  {
    std::lock_guard lk(mu_);
    if (auto it = live_.find(project + "\x1f" + run_id); it != live_.end() && it->second->eval_id == eval_id) {
      std::lock_guard lk2(it->second->mu);
      co_return json::serialize(it->second->run);
    }
  }
  using R = Result<std::string>;
  std::function<R(store::Database&)> read = [project, eval_id, run_id](store::Database& db) -> R {
    auto& q = db.stmt("SELECT body FROM eval_runs WHERE project_id=?1 AND eval_id=?2 AND id=?3");
    q.bind(1, project).bind(2, eval_id).bind(3, run_id);
    auto body = sql::one_text(q);
    if (!body.ok()) return body.status();
    if (!*body) return Status(Code::not_found, "Eval run with id '" + run_id + "' not found.");
    return **body;
  };
  co_return co_await read_async<R>(store_, std::move(read));
}

boost::asio::awaitable<Result<Page>> Evals::list_runs(std::string project, std::string eval_id, PageQuery q, std::optional<std::string> status) {
  auto eval = co_await get(project, eval_id);
  if (!eval.ok()) co_return eval.status();
  using R = Result<Page>;
  std::function<R(store::Database&)> read = [project, eval_id, q, status](store::Database& db) -> R {
    std::string text = std::string("SELECT body FROM eval_runs WHERE project_id=?1 AND eval_id=?2 AND (?3 IS NULL OR id ") + (q.desc ? "<" : ">") +
                       " ?3) AND (?4 IS NULL OR status=?4) ORDER BY id " + (q.desc ? "DESC" : "ASC") + " LIMIT ?5";
    auto& st = db.stmt(text);
    st.bind(1, project).bind(2, eval_id).bind_opt(3, q.after).bind_opt(4, status).bind(5, static_cast<int64_t>(q.limit + 1));
    return sql::page_of(st, q.limit);
  };
  auto page = co_await read_async<R>(store_, std::move(read));
  if (!page.ok()) co_return page;
  // Runs in progress: their current counts.
  std::lock_guard lk(mu_);
  for (auto& v : page->data) {
    auto it = live_.find(project + "\x1f" + std::string(v.as_object().at("id").as_string()));
    if (it == live_.end()) continue;
    std::lock_guard lk2(it->second->mu);
    v = it->second->run;
  }
  co_return page;
}

boost::asio::awaitable<Result<std::string>> Evals::cancel_run(std::string project, std::string eval_id, std::string run_id) {
  std::shared_ptr<Live> live;
  {
    std::lock_guard lk(mu_);
    if (auto it = live_.find(project + "\x1f" + run_id); it != live_.end() && it->second->eval_id == eval_id) live = it->second;
  }
  if (!live) {
    auto cur = co_await get_run(project, eval_id, run_id);
    if (!cur.ok()) co_return cur.status();
    auto st = status_of(parse(*cur).as_object());
    co_return Status(Code::failed_precondition, "Eval run '" + run_id + "' is " + st + "; only a queued or running run can be cancelled.",
                     "", "run_not_active")
        .with_http_status(409);
  }
  live->cancelled = true;
  {
    std::lock_guard lk(live->mu);
    live->run["status"] = "canceled";
  }
  if (Status st = co_await save_run(*live); !st.ok()) co_return st;
  std::lock_guard lk(live->mu);
  co_return json::serialize(live->run);
}

boost::asio::awaitable<Result<std::string>> Evals::delete_run(std::string project, std::string eval_id, std::string run_id) {
  {
    std::lock_guard lk(mu_);
    if (auto it = live_.find(project + "\x1f" + run_id); it != live_.end() && it->second->eval_id == eval_id) it->second->cancelled = true;
  }
  auto found = std::make_shared<bool>(false);
  std::function<Status(store::Database&)> del = [project, eval_id, run_id, found](store::Database& db) {
    auto& q = db.stmt("SELECT 1 FROM eval_runs WHERE project_id=?1 AND eval_id=?2 AND id=?3");
    q.bind(1, project).bind(2, eval_id).bind(3, run_id);
    *found = q.step();
    Status st = q.status();
    q.reset();
    if (!st.ok() || !*found) return st;
    if (Status s = db.stmt("DELETE FROM eval_output_items WHERE project_id=?1 AND run_id=?2").bind(1, project).bind(2, run_id).run(); !s.ok())
      return s;
    return db.stmt("DELETE FROM eval_runs WHERE project_id=?1 AND id=?2").bind(1, project).bind(2, run_id).run();
  };
  if (Status st = co_await write_async(store_, std::move(del)); !st.ok()) co_return st;
  if (!*found) co_return Status(Code::not_found, "Eval run with id '" + run_id + "' not found.");
  co_return json::serialize(json::object{{"object", "eval.run.deleted"}, {"deleted", true}, {"run_id", run_id}});
}

boost::asio::awaitable<Result<Page>> Evals::list_items(std::string project, std::string eval_id, std::string run_id, PageQuery q,
                                                       std::optional<std::string> status) {
  auto run = co_await get_run(project, eval_id, run_id);
  if (!run.ok()) co_return run.status();
  using R = Result<Page>;
  std::function<R(store::Database&)> read = [project, run_id, q, status](store::Database& db) -> R {
    std::optional<int64_t> after;
    if (q.after) {
      auto& a = db.stmt("SELECT idx FROM eval_output_items WHERE project_id=?1 AND run_id=?2 AND id=?3");
      a.bind(1, project).bind(2, run_id).bind(3, *q.after);
      if (a.step()) after = a.int64(0);
      a.reset();
      if (!after) return invalid_param("after", "Unknown output item '" + *q.after + "' in this run.");
    }
    std::string text = std::string("SELECT body FROM eval_output_items WHERE project_id=?1 AND run_id=?2 AND (?3 IS NULL OR idx ") +
                       (q.desc ? "<" : ">") + " CAST(?3 AS INTEGER)) AND (?4 IS NULL OR status=?4) ORDER BY idx " + (q.desc ? "DESC" : "ASC") + " LIMIT ?5";
    auto& st = db.stmt(text);
    st.bind(1, project).bind(2, run_id);
    if (after) st.bind(3, *after);
    else st.bind_null(3);
    st.bind_opt(4, status).bind(5, static_cast<int64_t>(q.limit + 1));
    return sql::page_of(st, q.limit);
  };
  co_return co_await read_async<R>(store_, std::move(read));
}

boost::asio::awaitable<Result<std::string>> Evals::get_item(std::string project, std::string eval_id, std::string run_id, std::string item_id) {
  auto run = co_await get_run(project, eval_id, run_id);
  if (!run.ok()) co_return run.status();
  using R = Result<std::string>;
  std::function<R(store::Database&)> read = [project, run_id, item_id](store::Database& db) -> R {
    auto& q = db.stmt("SELECT body FROM eval_output_items WHERE project_id=?1 AND run_id=?2 AND id=?3");
    q.bind(1, project).bind(2, run_id).bind(3, item_id);
    auto body = sql::one_text(q);
    if (!body.ok()) return body.status();
    if (!*body) return Status(Code::not_found, "Output item with id '" + item_id + "' not found.");
    return **body;
  };
  co_return co_await read_async<R>(store_, std::move(read));
}

Status Evals::load() {
  if (Status st = load_gates(); !st.ok()) return st;
  struct Pending {
    std::string project, id, eval_id, body, user, eval;
    std::set<int64_t> done;
    Counts counts;
  };
  std::vector<Pending> pending;
  std::promise<Status> finished;
  store_.submit(
      [&pending](store::Database& db) -> Status {
        auto& q = db.stmt("SELECT project_id, id, eval_id, body, user_id FROM eval_runs WHERE status IN ('queued', 'in_progress') AND node=?1");
        q.bind(1, this_node());
        while (q.step()) pending.push_back({q.text(0), q.text(1), q.text(2), q.text(3), q.text(4), {}, {}, {}});
        Status st = q.status();
        q.reset();
        if (!st.ok()) return st;
        for (auto& p : pending) {
          auto e = sql::eval_body(db, p.project, p.eval_id);
          if (!e.ok()) return e.status();
          p.eval = e->value_or("");
          auto& items = db.stmt("SELECT idx, body FROM eval_output_items WHERE project_id=?1 AND run_id=?2");
          items.bind(1, p.project).bind(2, p.id);
          while (items.step()) {
            p.done.insert(items.int64(0));
            auto v = parse(items.text(1));
            if (v.is_object()) count_item(p.counts, v.as_object());
          }
          Status s = items.status();
          items.reset();
          if (!s.ok()) return s;
        }
        return Status();
      },
      [&finished](Status st) { finished.set_value(std::move(st)); });
  Status st = finished.get_future().get();
  if (!st.ok()) return st;
  for (auto& p : pending) {
    if (p.eval.empty()) continue;
    auto live = std::make_shared<Live>();
    live->project = p.project;
    live->eval_id = p.eval_id;
    live->id = p.id;
    live->scope.project = p.project;
    if (!p.user.empty()) live->scope.user = p.user;
    live->eval = parse(p.eval).as_object();
    live->run = parse(p.body).as_object();
    live->done = std::move(p.done);
    live->counts = p.counts;
    apply_counts(live->run, live->counts, live->eval);
    spdlog::warn("resuming eval run {} ({} items already graded)", p.id, live->done.size());
    start(live);
  }
  return {};
}

}  // namespace cn::evals
