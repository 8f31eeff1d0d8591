// Memory API: native Continuum routes with OpenAI-style shapes, errors and list pagination.
#include <boost/asio.hpp>

#include <charconv>

#include "api/route_prelude.hpp"
#include "base/ids.hpp"

namespace cn::api {

namespace {

json::value opt_str(const std::string& s) { return s.empty() ? json::value(nullptr) : json::value(s); }

std::string list_of(json::array data, bool has_more) {
  json::object o{{"object", "list"}};
  json::value first = nullptr, last = nullptr;
  if (!data.empty()) {
    first = data.front().as_object().at("id");
    last = data.back().as_object().at("id");
  }
  o["data"] = std::move(data);
  o["first_id"] = first;
  o["last_id"] = last;
  o["has_more"] = has_more;
  return json::serialize(o);
}

// A namespace part: absent/null, or a string of 1..255 characters.
Status ns_part(const json::object& o, const char* key, std::string& out, std::string_view prefix = "") {
  auto* v = wire::field(o, key);
  if (!v || v->is_null()) return {};
  std::string param = std::string(prefix) + key;
  if (!v->is_string()) return invalid_param(param, "Invalid type for '" + param + "': expected a string.", "invalid_type");
  if (v->as_string().empty() || v->as_string().size() > 255)
    return invalid_param(param, "Invalid '" + param + "': expected 1 to 255 characters.");
  out = std::string(v->as_string());
  return {};
}

Result<memory::Filter> filter_from(const json::object& o, std::string_view prefix) {
  memory::Filter f;
  std::string u, a, se, k;
  if (Status s = ns_part(o, "user_id", u, prefix); !s.ok()) return s;
  if (Status s = ns_part(o, "agent_id", a, prefix); !s.ok()) return s;
  if (Status s = ns_part(o, "session_id", se, prefix); !s.ok()) return s;
  if (Status s = ns_part(o, "kind", k, prefix); !s.ok()) return s;
  if (!u.empty()) f.user_id = u;
  if (!a.empty()) f.agent_id = a;
  if (!se.empty()) f.session_id = se;
  if (!k.empty()) f.kind = k;
  if (auto* v = wire::field(o, "valid_at"); v && !v->is_null()) {
    if (!v->is_int64()) return invalid_param(std::string(prefix) + "valid_at", "Invalid 'valid_at': expected unix seconds.", "invalid_type");
    f.valid_at = v->as_int64();
  }
  if (auto* m = wire::field(o, "metadata"); m && !m->is_null()) {
    if (Status s = check_metadata(*m, std::string(prefix) + "metadata"); !s.ok()) return s;
    for (const auto& [key, val] : m->as_object()) {
      bool simple = !key.empty();
      for (char c : key) simple = simple && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-');
      if (!simple) return invalid_param(std::string(prefix) + "metadata", "Metadata filter keys must be letters, digits, '_' or '-'.");
      f.metadata.emplace_back(std::string(key), std::string(val.as_string()));
    }
  }
  return f;
}

Result<json::object> body_object(const Request& req) {
  if (req.body.empty()) return Status(Code::invalid_argument, "The request body is empty; expected a JSON object.", "", "invalid_json");
  auto b = wire::parse(req.body);
  if (!b.ok()) return b.status();
  if (!b->is_object()) return invalid_param("body", "Invalid body: expected a JSON object.", "invalid_type");
  return b->as_object();
}

// Loads a record the request may see.
awaitable<Result<memory::Record>> visible(memory::Memory& m, Scope scope, std::string id) {
  auto r = co_await m.get(scope.project, id);
  if (!r.ok()) co_return r;
  if (!scope.sees(r->ns.user_id)) co_return Status(Code::not_found, "Memory with id '" + id + "' not found.");
  co_return r;
}

bool valid_kind(std::string_view k) { return k == "fact" || k == "preference" || k == "summary" || k == "note"; }

}  // namespace

json::object record_json(const memory::Record& r, bool with_score) {
  json::object o;
  o["id"] = r.id;
  o["object"] = "memory";
  o["kind"] = r.kind;
  o["text"] = r.text;
  o["namespace"] = json::object{{"user_id", opt_str(r.ns.user_id)}, {"agent_id", opt_str(r.ns.agent_id)},
                                {"session_id", opt_str(r.ns.session_id)}};
  boost::system::error_code ec;
  auto md = json::parse(r.metadata, ec);
  o["metadata"] = ec ? json::value(json::object()) : md;
  o["status"] = r.status;
  o["created_at"] = r.created_at;
  o["updated_at"] = r.updated_at;
  o["valid_from"] = r.valid_from;
  o["valid_to"] = r.valid_to ? json::value(*r.valid_to) : json::value(nullptr);
  o["superseded_by"] = r.superseded_by ? json::value(*r.superseded_by) : json::value(nullptr);
  json::array items;
  for (const auto& i : r.source.item_ids) items.push_back(json::value(i));
  o["source"] = json::object{{"type", r.source.type}, {"response_id", opt_str(r.source.response_id)},
                             {"conversation_id", opt_str(r.source.conversation_id)}, {"item_ids", std::move(items)}};
  if (with_score) o["score"] = r.score;
  return o;
}

void install_memory(http::Router& router, memory::Memory& mem, identity::Authenticator& auth) {
  auto* m = &mem;
  auto* k = &auth;

  router.add("POST", "/v1/memories", [m, k](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, *k, identity::kMemoryWrite);
    if (!who.ok()) co_return error_response(who.status());
    auto b = body_object(req);
    if (!b.ok()) co_return error_response(b.status());
    const auto& o = *b;
    auto* text = wire::field(o, "text");
    if (!text || text->is_null()) co_return error_response(invalid_param("text", "Missing required parameter: 'text'.", "missing_required_parameter"));
    if (!text->is_string()) co_return error_response(invalid_param("text", "Invalid type for 'text': expected a string.", "invalid_type"));
    if (text->as_string().empty() || text->as_string().size() > 8000)
      co_return error_response(invalid_param("text", "Invalid 'text': expected 1 to 8000 characters."));
    memory::Namespace ns;
    const json::object* nso = &o;
    std::string prefix;
    if (auto* n = wire::field(o, "namespace"); n && !n->is_null()) {
      if (!n->is_object()) co_return error_response(invalid_param("namespace", "Invalid type for 'namespace': expected an object.", "invalid_type"));
      nso = &n->as_object();
      prefix = "namespace.";
    }
    if (Status s = ns_part(*nso, "user_id", ns.user_id, prefix); !s.ok()) co_return error_response(s);
    // A request acting for a user writes into that user's namespace; naming another is refused.
    if (Status s = name_user(*who, ns.user_id, prefix + "user_id"); !s.ok()) co_return error_response(noted(*k, req, *who, s));
    if (who->user) ns.user_id = *who->user;
    if (Status s = ns_part(*nso, "agent_id", ns.agent_id, prefix); !s.ok()) co_return error_response(s);
    if (Status s = ns_part(*nso, "session_id", ns.session_id, prefix); !s.ok()) co_return error_response(s);
    std::string kind = "note";
    if (auto* kv = wire::field(o, "kind"); kv && !kv->is_null()) {
      if (!kv->is_string() || !valid_kind(kv->as_string()))
        co_return error_response(invalid_param("kind", "Invalid 'kind': expected 'fact', 'preference', 'summary' or 'note'."));
      kind = std::string(kv->as_string());
    }
    std::string metadata = "{}";
    if (auto* md = wire::field(o, "metadata"); md && !md->is_null()) {
      if (Status s = check_metadata(*md, "metadata"); !s.ok()) co_return error_response(s);
      metadata = json::serialize(*md);
    }
    memory::Source src{"api", "", "", {}};
    std::string t(text->as_string());
    auto r = co_await m->write(who->project_id, std::move(ns), std::move(kind), std::move(t), std::move(metadata), std::move(src));
    if (!r.ok()) co_return error_response(r.status());
    co_return Response::json(200, json::serialize(record_json(*r)));
  });

  router.add("GET", "/v1/memories", [m, k](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, *k, identity::kMemoryRead);
    if (!who.ok()) co_return error_response(who.status());
    json::object q;
    for (const char* key : {"agent_id", "session_id", "kind"})
      if (auto v = req.query_param(key)) q[key] = *v;
    auto f = filter_from(q, "");
    if (!f.ok()) co_return error_response(f.status());
    f->user_id = who->user;
    if (auto st = req.query_param("status")) {
      if (*st == "all") f->include_inactive = true;
      else if (*st != "active") co_return error_response(invalid_param("status", "Invalid 'status': expected 'active' or 'all'."));
    }
    auto lq = parse_list_query(req);
    if (!lq.ok()) co_return error_response(lq.status());
    auto r = co_await m->list(who->project_id, *f, lq->limit, lq->after);
    if (!r.ok()) co_return error_response(r.status());
    bool more = r->size() > static_cast<size_t>(lq->limit);
    if (more) r->pop_back();
    json::array data;
    for (const auto& rec : *r) data.push_back(record_json(rec));
    co_return Response::json(200, list_of(std::move(data), more));
  });

  router.add("GET", "/v1/memories/{id}", [m, k](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, *k, identity::kMemoryRead);
    if (!who.ok()) co_return error_response(who.status());
    Scope scope = who->scope();
    auto r = co_await visible(*m, scope, req.params["id"]);
    if (!r.ok()) co_return error_response(r.status());
    co_return Response::json(200, json::serialize(record_json(*r)));
  });

  router.add("PATCH", "/v1/memories/{id}", [m, k](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, *k, identity::kMemoryWrite);
    if (!who.ok()) co_return error_response(who.status());
    auto b = body_object(req);
    if (!b.ok()) co_return error_response(b.status());
    std::optional<std::string> text, metadata;
    if (auto* t = wire::field(*b, "text"); t && !t->is_null()) {
      if (!t->is_string() || t->as_string().empty() || t->as_string().size() > 8000)
        co_return error_response(invalid_param("text", "Invalid 'text': expected a string of 1 to 8000 characters."));
      text = std::string(t->as_string());
    }
    if (auto* md = wire::field(*b, "metadata"); md && !md->is_null()) {
      if (Status s = check_metadata(*md, "metadata"); !s.ok()) co_return error_response(s);
      metadata = json::serialize(*md);
    }
    if (!text && !metadata)
      co_return error_response(invalid_param("text", "Nothing to change: send 'text' and/or 'metadata'.", "missing_required_parameter"));
    Scope scope = who->scope();
    auto seen = co_await visible(*m, scope, req.params["id"]);
    if (!seen.ok()) co_return error_response(seen.status());
    auto r = co_await m->update(who->project_id, req.params["id"], std::move(text), std::move(metadata));
    if (!r.ok()) co_return error_response(r.status());
    co_return Response::json(200, json::serialize(record_json(*r)));
  });

  router.add("DELETE", "/v1/memories/{id}", [m, k](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, *k, identity::kMemoryWrite);
    if (!who.ok()) co_return error_response(who.status());
    Scope scope = who->scope();
    auto seen = co_await visible(*m, scope, req.params["id"]);
    if (!seen.ok()) co_return error_response(seen.status());
    auto r = co_await m->remove(who->project_id, req.params["id"]);
    if (!r.ok()) co_return error_response(r.status());
    co_return Response::json(200, json::serialize(json::object{{"id", r->id}, {"object", "memory.deleted"}, {"deleted", true}}));
  });

  router.add("GET", "/v1/memories/{id}/history", [m, k](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, *k, identity::kMemoryRead);
    if (!who.ok()) co_return error_response(who.status());
    auto r = co_await m->history(who->project_id, req.params["id"], who->user);
    if (!r.ok()) co_return error_response(r.status());
    json::array data;
    for (const auto& h : *r) {
      data.push_back(json::object{{"object", "memory.history_entry"}, {"at", h.at}, {"event", h.event}, {"text", h.text},
                                  {"actor", h.actor}, {"reason", h.reason},
                                  {"related_id", h.related_id ? json::value(*h.related_id) : json::value(nullptr)}});
    }
    json::object o{{"object", "list"}, {"data", std::move(data)}, {"has_more", false}};
    co_return Response::json(200, json::serialize(o));
  });

  router.add("POST", "/v1/memories/search", [m, k](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, *k, identity::kMemoryRead);
    if (!who.ok()) co_return error_response(who.status());
    auto b = body_object(req);
    if (!b.ok()) co_return error_response(b.status());
    auto* q = wire::field(*b, "query");
    if (!q || q->is_null()) co_return error_response(invalid_param("query", "Missing required parameter: 'query'.", "missing_required_parameter"));
    if (!q->is_string() || q->as_string().empty() || q->as_string().size() > 10000)
      co_return error_response(invalid_param("query", "Invalid 'query': expected a string of 1 to 10000 characters."));
    size_t top_k = 10;
    if (auto* t = wire::field(*b, "top_k"); t && !t->is_null()) {
      if (!t->is_int64() || t->as_int64() < 1 || t->as_int64() > 100)
        co_return error_response(invalid_param("top_k", "Invalid 'top_k': expected an integer between 1 and 100."));
      top_k = static_cast<size_t>(t->as_int64());
    }
    memory::Filter f;
    if (auto* fl = wire::field(*b, "filters"); fl && !fl->is_null()) {
      if (!fl->is_object()) co_return error_response(invalid_param("filters", "Invalid type for 'filters': expected an object.", "invalid_type"));
      auto r = filter_from(fl->as_object(), "filters.");
      if (!r.ok()) co_return error_response(r.status());
      f = std::move(*r);
    }
    if (Status s = name_user(*who, f.user_id.value_or(""), "filters.user_id"); !s.ok()) co_return error_response(noted(*k, req, *who, s));
    if (who->user) f.user_id = who->user;
    std::string query(q->as_string());
    auto r = co_await m->search(who->project_id, std::move(query), f, top_k);
    if (!r.ok()) co_return error_response(r.status());
    json::array data;
    for (const auto& rec : *r) data.push_back(record_json(rec, true));
    co_return Response::json(200, list_of(std::move(data), false));
  });

  router.add("DELETE", "/v1/users/{user_id}/memories", [m, k](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, *k, identity::kMemoryWrite);
    if (!who.ok()) co_return error_response(who.status());
    const auto& user = req.params["user_id"];
    if (Status s = name_user(*who, user, "user_id"); !s.ok()) co_return error_response(noted(*k, req, *who, s));
    auto r = co_await m->erase_user(who->project_id, user);
    if (!r.ok()) co_return error_response(r.status());
    co_return Response::json(200, json::serialize(json::object{{"object", "user.memories.deleted"}, {"user_id", user},
                                                                {"deleted", *r}}));
  });

  router.add("GET", "/v1/memory/jobs", [m, k](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, *k, identity::kMemoryRead);
    if (!who.ok()) co_return error_response(who.status());
    std::optional<std::string> status;
    if (auto s = req.query_param("status")) {
      if (*s != "pending" && *s != "running" && *s != "done" && *s != "failed")
        co_return error_response(invalid_param("status", "Invalid 'status': expected 'pending', 'running', 'done' or 'failed'."));
      status = std::string(*s);
    }
    auto lq = parse_list_query(req);
    if (!lq.ok()) co_return error_response(lq.status());
    auto r = co_await m->jobs(who->project_id, status, lq->limit, who->user);
    if (!r.ok()) co_return error_response(r.status());
    json::array data;
    for (const auto& j : *r) {
      data.push_back(json::object{{"id", j.id}, {"object", "memory.job"}, {"kind", j.kind}, {"status", j.status},
                                  {"attempts", j.attempts}, {"last_error", opt_str(j.last_error)},
                                  {"user_id", opt_str(j.user_id)}, {"created_at", j.created_at},
                                  {"updated_at", j.updated_at}, {"next_run_at", j.next_run_at}});
    }
    co_return Response::json(200, list_of(std::move(data), false));
  });
}

}  // namespace cn::api
