// Executing an eval run (see evals.hpp): the items of its data source, then several workers on
// the run's strand, each taking the next item: sample it (when the data source asks a model),
// apply every criterion, store the output item, count it.
#include "evals/impl.hpp"

#include "base/clock.hpp"
#include "base/ids.hpp"
#include "base/log.hpp"

namespace cn::evals {

namespace {

std::string output_text(const json::object& response) {
  std::string out;
  if (auto* o = response.if_contains("output"); o && o->is_array())
    for (const auto& it : o->as_array()) {
      const auto& m = it.as_object();
      auto* c = m.if_contains("content");
      if (!c || !c->is_array() || m.at("type") != "message") continue;
      for (const auto& p : c->as_array())
        if (p.as_object().at("type") == "output_text") out += p.as_object().at("text").as_string();
    }
  return out;
}

// The tool calls and handoffs among a response's output items, for trajectory graders.
std::pair<json::array, json::array> trajectory_of(const json::object& response) {
  json::array calls, handoffs;
  auto* out = response.if_contains("output");
  if (!out || !out->is_array()) return {calls, handoffs};
  for (const auto& it : out->as_array()) {
    const auto& o = it.as_object();
    std::string type = o.contains("type") && o.at("type").is_string() ? std::string(o.at("type").as_string()) : "";
    if (type == "agent_handoff") {
      if (auto* a = o.if_contains("agent")) handoffs.push_back(*a);
      continue;
    }
    if (type != "function_call" && type != "mcp_call" && type != "memory_call" && type != "agent_call" && type != "code_interpreter_call")
      continue;
    json::object call{{"type", type}};
    call["name"] = type == "code_interpreter_call" ? json::value("code_interpreter") : o.contains("name") ? o.at("name") : json::value("");
    if (type == "code_interpreter_call") call["arguments"] = json::object{{"code", o.contains("code") ? o.at("code") : json::value("")}};
    else call["arguments"] = o.contains("arguments") ? o.at("arguments") : json::value("{}");
    if (auto* l = o.if_contains("server_label")) call["server_label"] = *l;
    if (auto* a = o.if_contains("agent")) call["agent"] = *a;
    calls.push_back(std::move(call));
  }
  return {calls, handoffs};
}

bool metadata_matches(const json::value& want, const json::value& have) {
  if (!want.is_object()) return true;
  if (!have.is_object()) return want.as_object().empty();
  for (const auto& [k, v] : want.as_object()) {
    auto* h = have.as_object().if_contains(k);
    if (!h || *h != v) return false;
  }
  return true;
}

json::value content_value(const json::value& c) {
  if (c.is_object() && c.as_object().contains("text")) return c.as_object().at("text");
  return c;
}

}  // namespace

boost::asio::awaitable<Evals::Entry> stored_entry(runtime::Runtime& rt, Scope scope, json::object r) {
  std::string id(r.at("id").as_string());
  runtime::ListQuery iq;
  iq.limit = 100;
  iq.desc = false;
  auto inputs = co_await rt.input_items(scope, id, iq);
  std::string input;
  if (inputs.ok())
    for (const auto& it : inputs->items)
      if (it->type == ItemType::message && it->role == "user") input += (input.empty() ? "" : "\n") + it->text();
  std::string instructions = r.contains("instructions") && r.at("instructions").is_string() ? std::string(r.at("instructions").as_string()) : "";
  Evals::Entry e;
  e.item = json::object{{"id", id}, {"input", input}, {"instructions", instructions}, {"model", r.at("model")},
                        {"metadata", r.contains("metadata") ? r.at("metadata") : json::value(nullptr)},
                        {"agent", r.contains("agent") ? r.at("agent") : json::value(nullptr)}, {"created_at", r.at("created_at")}};
  // The end user the turn was for, when the request named one.
  for (const char* k : {"safety_identifier", "user"})
    if (auto* u = r.if_contains(k); u && u->is_string() && !u->as_string().empty() && !e.item.contains("user")) e.item["user"] = *u;
  auto [calls, handoffs] = trajectory_of(r);
  e.sample = json::object{{"output_text", output_text(r)}, {"model", r.at("model")},
                          {"usage", r.contains("usage") ? r.at("usage") : json::value(nullptr)},
                          {"tool_calls", std::move(calls)}, {"handoffs", std::move(handoffs)}};
  co_return e;
}

namespace {

// The stored responses a responses source selects, newest first, as items (and their samples).
boost::asio::awaitable<Result<std::vector<Evals::Entry>>> stored_responses(runtime::Runtime& rt, Scope scope, json::object src, size_t max_items) {
  std::vector<Evals::Entry> out;
  size_t limit = max_items;
  if (auto* l = src.if_contains("limit"); l && l->is_int64() && l->as_int64() > 0) limit = std::min(limit, static_cast<size_t>(l->as_int64()));
  runtime::ListQuery q;
  q.limit = 100;
  for (;;) {
    std::optional<std::string> completed = "completed";
    auto page = co_await rt.list_responses(scope, q, completed);
    if (!page.ok()) co_return page.status();
    for (auto& r : page->data) {
      if (out.size() >= limit) break;
      auto get = [&](const char* k) -> const json::value* {
        auto* v = src.if_contains(k);
        return v && !v->is_null() ? v : nullptr;
      };
      int64_t created = r.at("created_at").as_int64();
      if (auto* a = get("created_after"); a && created < a->as_int64()) continue;
      if (auto* b = get("created_before"); b && created >= b->as_int64()) continue;
      if (auto* m = get("model"); m && r.at("model") != *m) continue;
      if (auto* md = get("metadata"); md && !metadata_matches(*md, r.contains("metadata") ? r.at("metadata") : json::value(nullptr))) continue;
      std::string instructions = r.contains("instructions") && r.at("instructions").is_string() ? std::string(r.at("instructions").as_string()) : "";
      if (auto* s = get("instructions_search"); s && instructions.find(std::string(s->as_string())) == std::string::npos) continue;
      // users: the end user a turn was for (its user or safety_identifier); tools: a tool the
      // turn offered, by name or type.
      if (auto* us = get("users"); us && us->is_array()) {
        bool any = false;
        for (const char* k : {"user", "safety_identifier"})
          if (auto* u = r.if_contains(k); u && u->is_string())
            any = any || std::find(us->as_array().begin(), us->as_array().end(), *u) != us->as_array().end();
        if (!any) continue;
      }
      if (auto* ts = get("tools"); ts && ts->is_array()) {
        bool any = false;
        if (auto* offered = r.if_contains("tools"); offered && offered->is_array())
          for (const auto& t : offered->as_array()) {
            if (!t.is_object()) continue;
            for (const char* k : {"name", "type", "server_label"})
              if (auto* n = t.as_object().if_contains(k); n && n->is_string())
                any = any || std::find(ts->as_array().begin(), ts->as_array().end(), *n) != ts->as_array().end();
          }
        if (!any) continue;
      }
      auto e = co_await stored_entry(rt, scope, r);
      out.push_back(std::move(e));
    }
    if (!page->has_more || out.size() >= limit || page->data.empty()) break;
    q.after = std::string(page->data.back().at("id").as_string());
  }
  co_return out;
}

}  // namespace

boost::asio::awaitable<void> Evals::execute(std::shared_ptr<Live> live) {
  json::object ds;
  {
    std::lock_guard lk(live->mu);
    ds = live->run.at("data_source").as_object();
  }
  const auto& src = ds.at("source").as_object();
  auto entries = std::make_shared<std::vector<Entry>>();
  Status failed;
  if (src.at("type") == "responses") {
    auto got = co_await stored_responses(rt_, live->scope, src, opts_.max_items);
    if (got.ok()) *entries = std::move(*got);
    else failed = got.status();
  } else {
    for (const auto& c : src.at("content").as_array()) {
      const auto& o = c.as_object();
      entries->push_back({o.at("item").as_object(), o.contains("sample") ? o.at("sample") : json::value(nullptr)});
    }
  }
  {
    std::lock_guard lk(live->mu);
    if (!failed.ok()) {
      live->run["status"] = "failed";
      live->run["error"] = json::object{{"code", "data_source_error"}, {"message", failed.message()}};
    } else if (live->run.at("status") != "canceled") {
      live->run["status"] = "in_progress";
    }
  }
  Status saved = co_await save_run(*live);
  if (!saved.ok()) spdlog::error("eval run {}: storing its state failed: {}", live->id, saved.message());
  if (failed.ok() && !live->cancelled) {
    auto ex = co_await net::this_coro::executor;
    int workers = std::max(1, std::min(opts_.parallel, static_cast<int>(entries->size())));
    auto remaining = std::make_shared<int>(workers);
    auto next = std::make_shared<size_t>(0);
    auto ended = std::make_shared<net::steady_timer>(ex);
    for (int w = 0; w < workers; ++w)
      net::co_spawn(ex, work(live, entries, next), [remaining, ended](std::exception_ptr) {
        if (--*remaining == 0) ended->cancel();
      });
    while (*remaining > 0) {
      ended->expires_after(std::chrono::seconds(1));
      boost::system::error_code ec;
      co_await ended->async_wait(net::redirect_error(net::use_awaitable, ec));
    }
  }
  if (stopping_) co_return;  // resumed at the next start
  {
    std::lock_guard lk(live->mu);
    if (live->run.at("status") == "in_progress") live->run["status"] = live->cancelled ? "canceled" : "completed";
  }
  saved = co_await save_run(*live);
  if (!saved.ok()) spdlog::error("eval run {}: storing its end failed: {}", live->id, saved.message());
  {
    std::lock_guard lk(mu_);
    live_.erase(live->project + "\x1f" + live->id);
  }
  std::lock_guard lk(live->mu);
  spdlog::info("eval run {} {}: {} items", live->id, std::string(live->run.at("status").as_string()), live->counts.total);
}

boost::asio::awaitable<void> Evals::work(std::shared_ptr<Live> live, std::shared_ptr<std::vector<Entry>> entries, std::shared_ptr<size_t> next) {
  for (;;) {
    size_t i = (*next)++;
    if (i >= entries->size() || live->cancelled || stopping_) co_return;
    bool graded;
    {
      std::lock_guard lk(live->mu);
      graded = live->done.count(static_cast<int64_t>(i)) > 0;
    }
    if (graded) continue;
    co_await grade_one(live, (*entries)[i], static_cast<int64_t>(i));
  }
}

boost::asio::awaitable<void> Evals::grade_one(std::shared_ptr<Live> live, const Entry& e, int64_t idx) {
  json::object ds;
  {
    std::lock_guard lk(live->mu);
    ds = live->run.at("data_source").as_object();
  }
  json::object ns{{"item", e.item}, {"sample", e.sample.is_object() ? e.sample : json::value(json::object())}};
  json::value sample = e.sample;
  json::array usage;
  std::string error;
  // Sampling: the data source's model answers its input_messages, rendered for this item.
  if (auto* im = ds.if_contains("input_messages"); im && im->is_object()) {
    std::string model(ds.at("model").as_string());
    json::array messages;
    const auto& o = im->as_object();
    if (o.at("type") == "template") {
      for (const auto& m : o.at("template").as_array()) {
        const auto& mo = m.as_object();
        json::value c = content_value(mo.at("content"));
        std::string text = c.is_string() ? render(c.as_string(), ns) : json::serialize(c);
        messages.push_back(json::object{{"role", mo.at("role")}, {"content", text}});
      }
    } else {
      std::string path(o.at("item_reference").as_string());
      json::value root(ns);
      const json::value* v = &root;
      for (size_t pos = 0; v && pos < path.size();) {
        size_t dot = path.find('.', pos);
        std::string key = path.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos);
        v = v->is_object() ? v->as_object().if_contains(key) : nullptr;
        pos = dot == std::string::npos ? path.size() : dot + 1;
      }
      if (v && v->is_array())
        for (const auto& m : v->as_array())
          if (m.is_object() && m.as_object().contains("role") && m.as_object().contains("content")) {
            json::value c = content_value(m.as_object().at("content"));
            messages.push_back(json::object{{"role", m.as_object().at("role")}, {"content", c.is_string() ? c : json::value(json::serialize(c))}});
          }
      if (messages.empty()) error = "The item has no messages at '" + path + "'.";
    }
    json::object sampling;
    if (auto* sp = ds.if_contains("sampling_params"); sp && sp->is_object()) sampling = sp->as_object();
    if (error.empty()) {
      Usage u;
      Result<std::string> answer = Status(Code::internal, "not sampled");
      if (model.rfind("agent:", 0) == 0) {
        // An agent answers one turn, with its own instructions and tools: the template's
        // messages are its input, joined.
        std::string input;
        for (const auto& m : messages) input += (input.empty() ? "" : "\n\n") + std::string(m.as_object().at("content").as_string());
        std::string ref = model.substr(6);
        answer = co_await sampler_->sample_agent(live->project, std::move(ref), std::move(input), &u);
      } else {
        json::object no_schema;
        answer = co_await judge_->ask(model, messages, std::move(no_schema), sampling, &u);
      }
      usage.push_back(json::object{{"model", model}, {"prompt_tokens", u.input_tokens}, {"completion_tokens", u.output_tokens},
                                   {"cached_tokens", u.cached_tokens}});
      json::object s{{"model", model}, {"input", messages}, {"finish_reason", answer.ok() ? "stop" : "error"},
                     {"usage", json::object{{"prompt_tokens", u.input_tokens}, {"completion_tokens", u.output_tokens},
                                            {"total_tokens", u.input_tokens + u.output_tokens}, {"cached_tokens", u.cached_tokens}}},
                     {"error", nullptr}};
      if (answer.ok()) {
        s["output"] = json::array{json::object{{"role", "assistant"}, {"content", *answer}}};
        s["output_text"] = *answer;
        ns["sample"] = json::object{{"output_text", *answer}, {"output", s["output"]}, {"model", model}};
      } else {
        error = "Sampling failed: " + answer.status().message();
        s["output"] = json::array();
        s["error"] = json::object{{"code", "sampling_error"}, {"message", error}};
      }
      sample = std::move(s);
    }
  }
  json::array results;
  bool all_passed = true, errored = !error.empty();
  if (!errored) {
    json::array criteria;
    {
      std::lock_guard lk(live->mu);
      criteria = live->eval.at("testing_criteria").as_array();
    }
    for (const auto& c : criteria) {
      Verdict v = co_await grade(c.as_object(), ns, *judge_, live->project);
      json::object r{{"name", v.name}, {"type", v.type}, {"score", v.score}, {"passed", v.passed}, {"sample", v.sample}};
      if (!v.error.empty()) {
        r["error"] = v.error;
        errored = true;
      }
      if (!v.model.empty())
        usage.push_back(json::object{{"model", v.model}, {"prompt_tokens", v.usage.input_tokens}, {"completion_tokens", v.usage.output_tokens},
                                     {"cached_tokens", v.usage.cached_tokens}});
      all_passed = all_passed && v.passed;
      results.push_back(std::move(r));
    }
  }
  std::string status = errored ? "error" : all_passed ? "pass" : "fail";
  json::object out{{"object", "eval.run.output_item"}, {"id", new_id("outputitem")}, {"eval_id", live->eval_id}, {"run_id", live->id},
                   {"created_at", Clock::system().now_seconds()}, {"datasource_item_id", idx}, {"datasource_item", e.item},
                   {"results", std::move(results)}, {"sample", sample}, {"status", status}, {"usage", std::move(usage)}};
  if (!error.empty()) out["error"] = json::object{{"code", "sampling_error"}, {"message", error}};
  std::string project = live->project, run = live->id, id(out.at("id").as_string()), body = json::serialize(out);
  std::function<Status(store::Database&)> put = [project, run, idx, id, status, body](store::Database& db) {
    return sql::put_item(db, project, run, idx, id, status, body);
  };
  if (Status st = co_await write_async(store_, std::move(put)); !st.ok()) {
    spdlog::error("eval run {}: storing item {} failed: {}", run, idx, st.message());
    co_return;
  }
  // The stored run keeps its status; its counts are the stored items' (load() recounts them), so
  // an item costs one write, not a rewrite of the run (whose data source may hold every item).
  std::lock_guard lk(live->mu);
  live->done.insert(idx);
  count_item(live->counts, out);
  apply_counts(live->run, live->counts, live->eval);
}

boost::asio::awaitable<Result<json::object>> Evals::grade_stored(Scope scope, std::string eval_id, std::string response_id) {
  auto eval = co_await get(scope.project, eval_id);
  if (!eval.ok()) co_return eval.status();
  auto body = co_await rt_.get_response(scope, response_id);
  if (!body.ok()) co_return body.status();
  boost::system::error_code ec;
  auto r = json::parse(*body, ec);
  if (ec || !r.is_object()) co_return Status(Code::internal, "the response could not be read");
  auto e = co_await stored_entry(rt_, scope, r.as_object());
  json::object ns{{"item", e.item}, {"sample", e.sample}};
  json::array results;
  bool all = true, errored = false;
  auto criteria = json::parse(*eval).as_object().at("testing_criteria").as_array();
  for (const auto& c : criteria) {
    Verdict v = co_await grade(c.as_object(), ns, *judge_, scope.project);
    json::object one{{"name", v.name}, {"type", v.type}, {"score", v.score}, {"passed", v.passed}};
    if (!v.error.empty()) {
      one["error"] = v.error;
      errored = true;
    }
    all = all && v.passed;
    results.push_back(std::move(one));
  }
  co_return json::object{{"status", errored ? "error" : all ? "pass" : "fail"}, {"results", std::move(results)},
                         {"agent", e.item.contains("agent") ? e.item.at("agent") : json::value(nullptr)}};
}

}  // namespace cn::evals
