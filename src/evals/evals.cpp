// Evals, runs and output items: their checks, objects and storage (see evals.hpp); runner.cpp
// executes runs.
#include "evals/impl.hpp"

#include <future>

#include "base/clock.hpp"
#include "base/ids.hpp"
#include "base/node.hpp"
#include "base/log.hpp"
#include "evals/judge.hpp"

namespace cn::evals {

namespace {

Status bad(const std::string& param, std::string message, std::string code = "invalid_value") {
  return invalid_param(param, std::move(message), std::move(code));
}

Status not_found(const std::string& what, const std::string& id) {
  return Status(Code::not_found, what + " with id '" + id + "' not found.");
}

Status only_keys(const json::object& body, std::initializer_list<std::string_view> keys) {
  for (const auto& [k, v] : body)
    if (std::find(keys.begin(), keys.end(), std::string_view(k)) == keys.end())
      return bad(std::string(k), "Unknown parameter: '" + std::string(k) + "'.", "unknown_parameter");
  return {};
}

json::value parse(const std::string& text) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  return ec ? json::value(nullptr) : v;
}

Result<json::object> data_source_config(const json::value* v) {
  if (!v || v->is_null()) return bad("data_source_config", "Missing required parameter: 'data_source_config'.", "missing_required_parameter");
  if (!v->is_object()) return bad("data_source_config", "Invalid type for 'data_source_config': expected an object.", "invalid_type");
  const auto& o = v->as_object();
  auto* t = o.if_contains("type");
  std::string type = t && t->is_string() ? std::string(t->as_string()) : "";
  json::object item_schema{{"type", "object"}};
  json::object out{{"type", type}};
  bool with_sample = true;
  if (type == "custom") {
    auto* s = o.if_contains("item_schema");
    if (!s || !s->is_object())
      return bad("data_source_config.item_schema", "Missing required parameter: 'data_source_config.item_schema' (a JSON schema object).",
                 "missing_required_parameter");
    item_schema = s->as_object();
    auto* inc = o.if_contains("include_sample_schema");
    with_sample = inc && inc->is_bool() && inc->as_bool();
  } else if (type == "logs" || type == "stored_completions") {
    auto* md = o.if_contains("metadata");
    out["metadata"] = md && md->is_object() ? *md : json::value(nullptr);
  } else {
    return bad("data_source_config.type", "Invalid 'data_source_config.type': expected one of custom, logs, stored_completions.");
  }
  json::object props{{"item", item_schema}};
  json::array required{"item"};
  if (with_sample) {
    props["sample"] = json::object{{"type", "object"}, {"properties", json::object{{"output_text", json::object{{"type", "string"}}}}}};
    required.push_back("sample");
  }
  out["schema"] = json::object{{"type", "object"}, {"properties", std::move(props)}, {"required", std::move(required)}};
  return out;
}

}  // namespace

namespace sql {

Result<std::optional<std::string>> one_text(store::Statement& q) {
  std::optional<std::string> out;
  if (q.step()) out = q.text(0);
  Status st = q.status();
  q.reset();
  if (!st.ok()) return st;
  return out;
}

Result<Page> page_of(store::Statement& q, int limit) {
  Page p;
  while (q.step()) p.data.push_back(parse(q.text(0)));
  Status s = q.status();
  q.reset();
  if (!s.ok()) return s;
  if (p.data.size() > static_cast<size_t>(limit)) {
    p.data.pop_back();
    p.has_more = true;
  }
  return p;
}

Result<std::optional<std::string>> eval_body(store::Database& db, const std::string& project, const std::string& id) {
  auto& q = db.stmt("SELECT body FROM evals WHERE project_id=?1 AND id=?2");
  q.bind(1, project).bind(2, id);
  return one_text(q);
}

Status put_run(store::Database& db, const std::string& project, const std::string& eval_id, const std::string& id, int64_t created_at,
               const std::string& status, const std::string& body, const std::string& user) {
  return db.stmt("INSERT OR REPLACE INTO eval_runs(project_id, id, eval_id, created_at, status, body, user_id, node) VALUES (?1,?2,?3,?4,?5,?6,?7,?8)")
      .bind(1, project).bind(2, id).bind(3, eval_id).bind(4, created_at).bind(5, status).bind(6, body).bind(7, user).bind(8, this_node()).run();
}

Status put_item(store::Database& db, const std::string& project, const std::string& run_id, int64_t idx, const std::string& id,
                const std::string& status, const std::string& body) {
  return db.stmt("INSERT OR REPLACE INTO eval_output_items(project_id, run_id, idx, id, status, body) VALUES (?1,?2,?3,?4,?5,?6)")
      .bind(1, project).bind(2, run_id).bind(3, idx).bind(4, id).bind(5, status).bind(6, body).run();
}

}  // namespace sql

void count_item(Counts& c, const json::object& item) {
  ++c.total;
  std::string status = item.contains("status") && item.at("status").is_string() ? std::string(item.at("status").as_string()) : "";
  if (status == "pass") ++c.passed;
  else if (status == "fail") ++c.failed;
  else ++c.errored;
  if (auto* rs = item.if_contains("results"); rs && rs->is_array())
    for (const auto& r : rs->as_array()) {
      const auto& o = r.as_object();
      if (o.contains("error") && o.at("error").is_string()) continue;
      auto& pf = c.criteria[std::string(o.at("name").as_string())];
      (o.at("passed").as_bool() ? pf.first : pf.second)++;
    }
  if (auto* u = item.if_contains("usage"); u && u->is_array())
    for (const auto& e : u->as_array()) {
      const auto& o = e.as_object();
      std::string m(o.at("model").as_string());
      auto& t = c.models[m];
      t.input_tokens += o.at("prompt_tokens").as_int64();
      t.output_tokens += o.at("completion_tokens").as_int64();
      t.cached_tokens += o.at("cached_tokens").as_int64();
      ++c.invocations[m];
    }
}

void apply_counts(json::object& run, const Counts& c, const json::object& eval) {
  run["result_counts"] = json::object{{"total", c.total}, {"passed", c.passed}, {"failed", c.failed}, {"errored", c.errored}};
  json::array per;
  for (const auto& g : eval.at("testing_criteria").as_array()) {
    std::string name(g.as_object().at("name").as_string());
    auto it = c.criteria.find(name);
    int64_t p = it == c.criteria.end() ? 0 : it->second.first, f = it == c.criteria.end() ? 0 : it->second.second;
    per.push_back(json::object{{"testing_criteria", name}, {"passed", p}, {"failed", f}});
  }
  run["per_testing_criteria_results"] = std::move(per);
  json::array usage;
  for (const auto& [m, u] : c.models)
    usage.push_back(json::object{{"model_name", m}, {"invocation_count", c.invocations.at(m)}, {"prompt_tokens", u.input_tokens},
                                 {"completion_tokens", u.output_tokens}, {"total_tokens", u.input_tokens + u.output_tokens},
                                 {"cached_tokens", u.cached_tokens}});
  run["per_model_usage"] = std::move(usage);
}

Evals::Evals(net::io_context& io, store::Executor& store, model::Registry& models, runtime::Runtime& rt, Options opts,
             std::shared_ptr<tools::sandbox::Sandbox> sandbox, memory::Memory* memory)
    : io_(io), store_(store), models_(models), rt_(rt), opts_(opts), judge_(make_model_judge(models, std::move(sandbox), memory)) {}

Evals::~Evals() = default;

std::vector<store::Migration> Evals::migrations() {
  return {{"evals", 1, R"sql(
CREATE TABLE evals (
  project_id TEXT NOT NULL,
  id TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  body TEXT NOT NULL,
  PRIMARY KEY (project_id, id)
) WITHOUT ROWID;
CREATE TABLE eval_runs (
  project_id TEXT NOT NULL,
  id TEXT NOT NULL,
  eval_id TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  status TEXT NOT NULL,
  body TEXT NOT NULL,
  user_id TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (project_id, id)
) WITHOUT ROWID;
CREATE INDEX eval_runs_by_eval ON eval_runs(project_id, eval_id, id);
CREATE TABLE eval_output_items (
  project_id TEXT NOT NULL,
  run_id TEXT NOT NULL,
  idx INTEGER NOT NULL,
  id TEXT NOT NULL,
  status TEXT NOT NULL,
  body TEXT NOT NULL,
  PRIMARY KEY (project_id, run_id, idx)
) WITHOUT ROWID;
CREATE UNIQUE INDEX eval_output_items_by_id ON eval_output_items(project_id, run_id, id);
)sql"},
          {"evals", 2, R"sql(
CREATE TABLE agent_gates (
  project_id TEXT NOT NULL,
  agent TEXT NOT NULL,
  alias TEXT NOT NULL,
  body TEXT NOT NULL,
  PRIMARY KEY (project_id, agent, alias)
) WITHOUT ROWID;
)sql"},
          // The node running each run: on many nodes, a node resumes only its own at start-up.
          {"evals", 3, "ALTER TABLE eval_runs ADD COLUMN node TEXT NOT NULL DEFAULT '';"}};
}

void Evals::stop() { stopping_ = true; }

boost::asio::awaitable<Result<std::string>> Evals::create(std::string project, json::object body) {
  if (Status s = only_keys(body, {"name", "metadata", "data_source_config", "testing_criteria"}); !s.ok()) co_return s;
  auto dsc = data_source_config(body.if_contains("data_source_config"));
  if (!dsc.ok()) co_return dsc.status();
  auto* tc = body.if_contains("testing_criteria");
  if (!tc) co_return bad("testing_criteria", "Missing required parameter: 'testing_criteria'.", "missing_required_parameter");
  if (Status s = check_criteria(*tc, judge_->python_available()); !s.ok()) co_return s;
  auto* name = body.if_contains("name");
  if (name && !name->is_null() && !name->is_string()) co_return bad("name", "Invalid type for 'name': expected a string.", "invalid_type");
  std::string id = new_id("eval");
  int64_t now = Clock::system().now_seconds();
  json::object e{{"object", "eval"}, {"id", id}, {"created_at", now},
                 {"name", name && name->is_string() ? json::value(name->as_string()) : json::value("")},
                 {"metadata", body.contains("metadata") ? body.at("metadata") : json::value(nullptr)},
                 {"data_source_config", std::move(*dsc)}, {"testing_criteria", *tc}};
  std::string text = json::serialize(e);
  std::function<Status(store::Database&)> put = [project, id, now, text](store::Database& db) {
    return db.stmt("INSERT INTO evals(project_id, id, created_at, body) VALUES (?1,?2,?3,?4)").bind(1, project).bind(2, id).bind(3, now).bind(4, text).run();
  };
  if (Status st = co_await write_async(store_, std::move(put)); !st.ok()) co_return st;
  co_return text;
}

boost::asio::awaitable<Result<std::string>> Evals::get(std::string project, std::string id) {
  using R = Result<std::optional<std::string>>;
  std::function<R(store::Database&)> read = [project, id](store::Database& db) { return sql::eval_body(db, project, id); };
  auto body = co_await read_async<R>(store_, std::move(read));
  if (!body.ok()) co_return body.status();
  if (!*body) co_return not_found("Eval", id);
  co_return **body;
}

boost::asio::awaitable<Result<std::string>> Evals::update(std::string project, std::string id, json::object body) {
  if (Status s = only_keys(body, {"name", "metadata"}); !s.ok()) co_return s;
  auto* name = body.if_contains("name");
  if (name && !name->is_null() && !name->is_string()) co_return bad("name", "Invalid type for 'name': expected a string.", "invalid_type");
  using R = Result<std::string>;
  std::function<R(store::Database&)> change = [project, id, body](store::Database& db) -> R {
    auto cur = sql::eval_body(db, project, id);
    if (!cur.ok()) return cur.status();
    if (!*cur) return not_found("Eval", id);
    auto e = parse(**cur).as_object();
    if (auto* n = body.if_contains("name"); n && n->is_string()) e["name"] = *n;
    if (auto* m = body.if_contains("metadata")) e["metadata"] = *m;
    std::string text = json::serialize(e);
    if (Status s = db.stmt("UPDATE evals SET body=?3 WHERE project_id=?1 AND id=?2").bind(1, project).bind(2, id).bind(3, text).run(); !s.ok())
      return s;
    return text;
  };
  // A read-modify-write: on the writer, where writes are serialized.
  std::shared_ptr<R> out = std::make_shared<R>(Status(Code::internal, "not run"));
  std::function<Status(store::Database&)> w = [change, out](store::Database& db) {
    *out = change(db);
    return out->ok() ? Status() : out->status();
  };
  Status st = co_await write_async(store_, std::move(w));
  if (!out->ok()) co_return out->status();
  if (!st.ok()) co_return st;
  co_return **out;
}

boost::asio::awaitable<Result<Page>> Evals::list(std::string project, PageQuery q) {
  using R = Result<Page>;
  std::function<R(store::Database&)> read = [project, q](store::Database& db) -> R {
    std::string sqltext = std::string("SELECT body FROM evals WHERE project_id=?1 AND (?2 IS NULL OR id ") + (q.desc ? "<" : ">") +
                          " ?2) ORDER BY id " + (q.desc ? "DESC" : "ASC") + " LIMIT ?3";
    auto& st = db.stmt(sqltext);
    st.bind(1, project).bind_opt(2, q.after).bind(3, static_cast<int64_t>(q.limit + 1));
    return sql::page_of(st, q.limit);
  };
  co_return co_await read_async<R>(store_, std::move(read));
}

boost::asio::awaitable<Result<std::string>> Evals::remove(std::string project, std::string id) {
  {
    std::lock_guard lk(mu_);
    for (auto& [k, l] : live_)
      if (l->project == project && l->eval_id == id) l->cancelled = true;
  }
  auto shared = std::make_shared<bool>(false);
  std::function<Status(store::Database&)> del = [project, id, shared](store::Database& db) {
    auto cur = sql::eval_body(db, project, id);
    if (!cur.ok()) return cur.status();
    if (!*cur) return Status();
    *shared = true;
    if (Status s = db.stmt("DELETE FROM eval_output_items WHERE project_id=?1 AND run_id IN (SELECT id FROM eval_runs WHERE project_id=?1 AND eval_id=?2)")
                       .bind(1, project).bind(2, id).run();
        !s.ok())
      return s;
    if (Status s = db.stmt("DELETE FROM eval_runs WHERE project_id=?1 AND eval_id=?2").bind(1, project).bind(2, id).run(); !s.ok()) return s;
    return db.stmt("DELETE FROM evals WHERE project_id=?1 AND id=?2").bind(1, project).bind(2, id).run();
  };
  if (Status st = co_await write_async(store_, std::move(del)); !st.ok()) co_return st;
  if (!*shared) co_return not_found("Eval", id);
  co_return json::serialize(json::object{{"object", "eval.deleted"}, {"deleted", true}, {"eval_id", id}});
}

}  // namespace cn::evals
