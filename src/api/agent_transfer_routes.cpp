// Moving one agent between servers or projects: GET /v1/agents/{name}/export gives one JSON
// document — every version, the aliases, the agent's memory records with their provenance, and
// with ?conversations=true the conversations it answered in — and POST /v1/agents/import
// recreates it, keeping ids (?ids=keep, the default) or making new ones (?ids=remap), under its
// own name or ?name=. Both need the admin scope: the document holds every user's memories.
#include <boost/asio.hpp>

#include <set>

#include "api/route_prelude.hpp"
#include "fleet/apply.hpp"
#include "wire/json.hpp"

namespace cn::api {

namespace {

constexpr int kFormat = 1;
constexpr int kMaxConversations = 1000;

json::value opt(const std::string& s) { return s.empty() ? json::value(nullptr) : json::value(s); }

std::string str_at(const json::object& o, std::string_view k) {
  auto* v = o.if_contains(k);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

Status bad_doc(const std::string& what) {
  return Status(Code::invalid_argument, "Invalid export document: " + what + ".", "body", "invalid_export");
}

struct TransferServices {
  fleet::AgentRegistry& agents;
  memory::Memory* memory;
  runtime::Runtime& rt;
  identity::Authenticator& auth;
  size_t max_bytes;  // the largest export made (Options::max_export_bytes)
};

// A memory record of an export document, moved from agent `from` to `to`.
Result<memory::Record> record_from_export(const json::value& v, const std::string& from, const std::string& to) {
  if (!v.is_object()) return bad_doc("each memory must be an object");
  const auto& o = v.as_object();
  memory::Record r;
  r.id = str_at(o, "id");
  r.kind = str_at(o, "kind");
  r.text = str_at(o, "text");
  if (r.text.empty() || r.kind.empty()) return bad_doc("each memory needs 'kind' and 'text'");
  if (auto* ns = o.if_contains("namespace"); ns && ns->is_object()) {
    r.ns.user_id = str_at(ns->as_object(), "user_id");
    r.ns.agent_id = str_at(ns->as_object(), "agent_id");
    if (r.ns.agent_id == from) r.ns.agent_id = to;
    r.ns.session_id = str_at(ns->as_object(), "session_id");
  }
  r.metadata = "{}";
  if (auto* md = o.if_contains("metadata"); md && md->is_object()) r.metadata = json::serialize(*md);
  if (auto* src = o.if_contains("source"); src && src->is_object()) {
    const auto& so = src->as_object();
    r.source.type = str_at(so, "type");
    r.source.response_id = str_at(so, "response_id");
    r.source.conversation_id = str_at(so, "conversation_id");
    if (auto* items = so.if_contains("item_ids"); items && items->is_array())
      for (const auto& i : items->as_array())
        if (i.is_string()) r.source.item_ids.emplace_back(i.as_string());
  }
  if (r.source.type.empty()) r.source.type = "import";
  if (auto* t = o.if_contains("created_at"); t && t->is_int64()) r.created_at = t->as_int64();
  return r;
}

// Counts an export's bytes as it is built: past the limit the export fails, before it is held
// whole, rather than make a file no server configured alike could import.
struct ExportSize {
  size_t bytes = 0, limit = 0;
  bool add(const json::value& part) {
    bytes += json::serialize(part).size() + 1;
    return bytes <= limit;
  }
  Status too_large() const {
    return Status(Code::invalid_argument,
                  "The export would exceed " + std::to_string(limit) +
                      " bytes, the largest request body this server accepts, so it could not be imported. Export "
                      "without conversations, or raise max_body_bytes.",
                  "conversations", "export_too_large");
  }
};

// Whether a stored conversation is the one an export document describes: same owner and items.
bool same_conversation(const runtime::ConversationExport& have, const json::object& doc) {
  if (have.user_id != str_at(doc, "user_id")) return false;
  auto* items = doc.if_contains("items");
  if (!items || !items->is_array() || items->as_array().size() != have.item_wires.size()) return false;
  for (size_t i = 0; i < have.item_wires.size(); ++i) {
    boost::system::error_code ec;
    auto mine = json::parse(have.item_wires[i], ec);
    const auto& theirs = items->as_array()[i];
    if (ec || !mine.is_object() || !theirs.is_object() || str_at(mine.as_object(), "id") != str_at(theirs.as_object(), "id"))
      return false;
  }
  return true;
}

awaitable<Result<json::object>> export_agent(TransferServices& c, std::string project, std::string name, bool conversations) {
  auto s = c.agents.summary(project, name);
  if (!s) co_return Status(Code::not_found, "No agent named '" + name + "'.", "name", "agent_not_found");
  ExportSize size{0, c.max_bytes};
  json::array versions;
  for (const auto& v : c.agents.versions(project, name)) {
    versions.push_back(json::object{{"version", v->version}, {"created_at", v->created_at}, {"source", v->source},
                                    {"definition", json::parse(v->document)}});
    if (!size.add(versions.back())) co_return size.too_large();
  }
  json::object aliases;
  for (const auto& [k, v] : s->aliases) aliases[k] = v;
  json::array memories;
  if (c.memory) {
    memory::Filter f;
    f.agent_id = name;
    std::optional<std::string> after;
    for (;;) {
      auto page = co_await c.memory->list(project, f, 100, after);
      if (!page.ok()) co_return page.status();
      bool more = page->size() > 100;
      if (more) page->pop_back();
      for (const auto& r : *page) {
        memories.push_back(record_json(r));
        if (!size.add(memories.back())) co_return size.too_large();
      }
      if (!more || page->empty()) break;
      after = page->back().id;
    }
  }
  json::object doc{{"object", "continuum.agent_export"}, {"format_version", kFormat}, {"exported_at", static_cast<int64_t>(std::time(nullptr))},
                   {"agent", json::object{{"name", name}, {"aliases", std::move(aliases)}, {"versions", std::move(versions)}}},
                   {"memories", std::move(memories)}};
  if (conversations) {
    auto ids = co_await c.rt.agent_conversations(project, name, kMaxConversations);
    if (!ids.ok()) co_return ids.status();
    json::array convs;
    for (const auto& id : *ids) {
      auto e = co_await c.rt.export_conversation(project, id);
      if (!e.ok()) continue;  // deleted meanwhile
      json::array items;
      for (const auto& w : e->item_wires) items.push_back(json::parse(w));
      boost::system::error_code ec;
      auto md = json::parse(e->metadata, ec);
      convs.push_back(json::object{{"id", e->id}, {"user_id", opt(e->user_id)}, {"created_at", e->created_at},
                                   {"metadata", ec ? json::value(json::object()) : md}, {"items", std::move(items)}});
      if (!size.add(convs.back())) co_return size.too_large();
    }
    doc["conversations"] = std::move(convs);
  }
  co_return doc;
}

awaitable<Result<json::object>> import_agent(TransferServices& c, std::string project, json::object doc, bool keep, std::string rename) {
  if (str_at(doc, "object") != "continuum.agent_export") co_return bad_doc("'object' must be \"continuum.agent_export\"");
  if (auto* f = doc.if_contains("format_version"); !f || !f->is_int64() || f->as_int64() != kFormat)
    co_return bad_doc("'format_version' must be 1");
  auto* agent = doc.if_contains("agent");
  if (!agent || !agent->is_object()) co_return bad_doc("'agent' must be an object");
  const auto& a = agent->as_object();
  std::string from = str_at(a, "name");
  std::string name = rename.empty() ? from : rename;
  auto* versions = a.if_contains("versions");
  if (from.empty() || !versions || !versions->is_array() || versions->as_array().empty())
    co_return bad_doc("'agent' needs a 'name' and at least one version");
  // The whole document is read and checked first, so a bad one changes nothing.
  std::vector<std::pair<int64_t, json::object>> defs;
  for (const auto& v : versions->as_array()) {
    auto* d = v.is_object() ? v.as_object().if_contains("definition") : nullptr;
    auto* n = v.is_object() ? v.as_object().if_contains("version") : nullptr;
    if (!d || !d->is_object() || !n || !n->is_int64()) co_return bad_doc("each version needs 'version' and a 'definition' object");
    json::object def = d->as_object();
    def["name"] = name;
    defs.emplace_back(n->as_int64(), std::move(def));
  }
  // An agent of that name is refused — unless its versions are the first of this document's,
  // made by an earlier run of this import that did not finish: those are not made again.
  auto have = c.agents.versions(project, name);
  bool resumed = !have.empty() && have.size() < defs.size();
  for (size_t i = 0; resumed && i < have.size(); ++i) {
    auto d = fleet::parse_definition(defs[i].second);
    resumed = have[i]->source == "import" && d.ok() && have[i]->document == json::serialize(fleet::definition_json(*d));
  }
  if (!have.empty() && !resumed)
    co_return Status(Code::already_exists, "An agent named '" + name + "' already exists; import under another ?name=.", "name",
                     "agent_exists");
  std::vector<memory::Record> records;
  if (auto* mems = doc.if_contains("memories"); mems && mems->is_array()) {
    for (const auto& mv : mems->as_array()) {
      auto r = record_from_export(mv, from, name);
      if (!r.ok()) co_return r.status();
      records.push_back(std::move(*r));
    }
    if (!records.empty() && !c.memory) co_return Status(Code::unavailable, "Long-term memory is not enabled on this server.", "memories");
  }
  if (auto* convs = doc.if_contains("conversations"); convs && convs->is_array())
    for (const auto& cv : convs->as_array())
      if (!cv.is_object()) co_return bad_doc("each conversation must be an object");
  // Kept ids that are taken fail the import before anything is written — unless what holds the
  // id is this document's own object, written by an earlier run of this import that did not
  // finish (a crash): that one is not written again, so running the import again completes it.
  std::set<std::string> present;
  if (keep) {
    if (auto* convs = doc.if_contains("conversations"); convs && convs->is_array())
      for (const auto& cv : convs->as_array()) {
        std::string id = cv.is_object() ? str_at(cv.as_object(), "id") : "";
        if (id.empty()) continue;
        auto existing = co_await c.rt.export_conversation(project, id);
        if (!existing.ok()) continue;
        if (!same_conversation(*existing, cv.as_object()))
          co_return Status(Code::already_exists, "A conversation with id '" + id + "' already exists; import with ids=remap.",
                           "conversations", "conversation_exists");
        present.insert(id);
      }
    for (const auto& r : records) {
      if (r.id.empty()) continue;
      auto existing = co_await c.memory->get(project, r.id);
      if (!existing.ok()) continue;
      if (existing->text != r.text || existing->ns.user_id != r.ns.user_id || existing->ns.agent_id != r.ns.agent_id)
        co_return Status(Code::already_exists, "A memory with id '" + r.id + "' already exists; import with ids=remap.", "memories",
                         "memory_exists");
      present.insert(r.id);
    }
  }
  json::object ids;
  // Conversations before memories: a record's session may be a conversation whose id changes.
  std::map<std::string, std::string> conv_map;
  if (auto* convs = doc.if_contains("conversations"); convs && convs->is_array()) {
    for (const auto& cv : convs->as_array()) {
      const auto& o = cv.as_object();
      runtime::ConversationExport e{str_at(o, "id"), str_at(o, "user_id"), "{}", 0, {}};
      if (auto* md = o.if_contains("metadata"); md && md->is_object()) e.metadata = json::serialize(*md);
      if (auto* t = o.if_contains("created_at"); t && t->is_int64()) e.created_at = t->as_int64();
      if (auto* items = o.if_contains("items"); items && items->is_array())
        for (const auto& it : items->as_array()) e.item_wires.push_back(json::serialize(it));
      std::string old = e.id;
      if (present.count(old)) {
        conv_map[old] = old;
        continue;
      }
      auto made = co_await c.rt.import_conversation(project, std::move(e), keep);
      if (!made.ok()) co_return made.status();
      conv_map[old] = *made;
      if (old != *made) ids[old] = *made;
    }
  }
  int memories = 0;
  for (auto& r : records) {
    std::string old = r.id;
    if (present.count(old)) {
      ++memories;
      continue;
    }
    if (!keep) r.id.clear();
    if (conv_map.count(r.ns.session_id)) r.ns.session_id = conv_map[r.ns.session_id];
    if (conv_map.count(r.source.conversation_id)) r.source.conversation_id = conv_map[r.source.conversation_id];
    auto made = co_await c.memory->import(project, std::move(r));
    if (!made.ok()) co_return made.status();
    if (old != made->id) ids[old] = made->id;
    ++memories;
  }
  // The agent last: until its versions exist nothing of the import is reachable as the agent,
  // and an import cut short is finished by running it again (ids=keep).
  std::map<int64_t, int64_t> version_map;
  const std::string source = "import";
  for (size_t i = 0; i < have.size(); ++i) version_map[defs[i].first] = have[i]->version;
  for (size_t i = have.size(); i < defs.size(); ++i) {
    auto& [old, def] = defs[i];
    auto made = co_await c.agents.put(project, def, source);
    if (!made.ok()) co_return made.status();
    version_map[old] = (*made)->version;
  }
  int aliases = 0;
  if (auto* al = a.if_contains("aliases"); al && al->is_object())
    for (const auto& [k, v] : al->as_object()) {
      if (!v.is_int64() || !version_map.count(v.as_int64())) continue;
      std::string alias(k);
      int64_t target = version_map[v.as_int64()];
      Status st = co_await c.agents.set_alias(project, name, alias, target);
      if (!st.ok()) co_return st;
      ++aliases;
    }
  co_return json::object{{"object", "continuum.agent_import"}, {"agent", name}, {"versions", static_cast<int64_t>(version_map.size())},
                         {"aliases", aliases}, {"memories", memories}, {"conversations", static_cast<int64_t>(conv_map.size())},
                         {"ids", std::move(ids)}};
}

}  // namespace

void install_agent_transfer(http::Router& router, fleet::AgentRegistry& agents, memory::Memory* memory, runtime::Runtime& rt,
                            identity::Authenticator& auth, size_t max_export_bytes) {
  auto c = std::make_shared<TransferServices>(TransferServices{agents, memory, rt, auth, max_export_bytes});
  router.add("GET", "/v1/agents/{name}/export", [c](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, c->auth, identity::kAdmin);
    if (!who.ok()) co_return error_response(who.status());
    auto conv = req.query_param("conversations");
    if (conv && *conv != "true" && *conv != "false")
      co_return error_response(invalid_param("conversations", "Invalid 'conversations': expected true or false.", "invalid_value"));
    std::string project = who->project_id, name = req.params["name"];
    auto doc = co_await export_agent(*c, project, name, conv && *conv == "true");
    if (!doc.ok()) co_return error_response(doc.status());
    co_await audited(c->auth, *who, "agent.export", name);
    auto res = Response::json(200, json::serialize(*doc));
    res.headers.emplace_back("content-disposition", "attachment; filename=\"agent-" + name + ".json\"");
    co_return res;
  });
  router.add("POST", "/v1/agents/import", [c](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, c->auth, identity::kAdmin);
    if (!who.ok()) co_return error_response(who.status());
    auto ids = req.query_param("ids");
    if (ids && *ids != "keep" && *ids != "remap")
      co_return error_response(invalid_param("ids", "Invalid 'ids': expected keep or remap.", "invalid_value"));
    auto body = object_body(req);
    if (!body.ok()) co_return error_response(body.status());
    std::string project = who->project_id, rename(req.query_param("name").value_or(""));
    auto out = co_await import_agent(*c, project, std::move(*body), !ids || *ids == "keep", rename);
    if (!out.ok()) co_return error_response(out.status());
    std::string target(out->at("agent").as_string());
    co_await audited(c->auth, *who, "agent.import", target);
    co_return Response::json(200, json::serialize(*out));
  });
}

}  // namespace cn::api
