// Record rows: the columns, provenance JSON, history entries, inserts, retirement and text
// changes, and the SQL of filters. Every statement is scoped by project.
#include "memory/impl.hpp"

#include "base/ids.hpp"

namespace cn::memory {

float dot(const float* a, const float* b, size_t n) {
  float s = 0;
  for (size_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

std::string blob_of(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}


const char* const kCols =
    "seq, project_id, id, user_id, agent_id, session_id, kind, text, metadata, source, created_at,"
    " updated_at, valid_from, valid_to, status, superseded_by";

json::object source_json(const Source& s) {
  json::array items;
  for (const auto& i : s.item_ids) items.push_back(json::value(i));
  json::object o{{"type", s.type}};
  o["response_id"] = s.response_id.empty() ? json::value(nullptr) : json::value(s.response_id);
  o["conversation_id"] = s.conversation_id.empty() ? json::value(nullptr) : json::value(s.conversation_id);
  o["item_ids"] = std::move(items);
  return o;
}

Source source_of(std::string_view text) {
  Source s;
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec || !v.is_object()) return s;
  const auto& o = v.as_object();
  auto str = [&](const char* k) {
    auto* f = o.if_contains(k);
    return f && f->is_string() ? std::string(f->as_string()) : std::string();
  };
  s.type = str("type");
  s.response_id = str("response_id");
  s.conversation_id = str("conversation_id");
  if (auto* a = o.if_contains("item_ids"); a && a->is_array())
    for (const auto& i : a->as_array())
      if (i.is_string()) s.item_ids.emplace_back(i.as_string());
  return s;
}

Record row_of(store::Statement& q, int64_t* seq) {
  Record r;
  if (seq) *seq = q.int64(0);
  r.project_id = q.text(1);
  r.id = q.text(2);
  r.ns = {q.text(3), q.text(4), q.text(5)};
  r.kind = q.text(6);
  r.text = q.text(7);
  r.metadata = q.text(8);
  r.source = source_of(q.text(9));
  r.created_at = q.int64(10);
  r.updated_at = q.int64(11);
  r.valid_from = q.int64(12);
  if (!q.is_null(13)) r.valid_to = q.int64(13);
  r.status = q.text(14);
  r.superseded_by = q.text_opt(15);
  return r;
}

Status not_found(const std::string& id) {
  return Status(Code::not_found, "Memory with id '" + id + "' not found.");
}

Result<Record> load(store::Database& db, const std::string& project, const std::string& id,
                    int64_t* seq) {
  auto& q = db.stmt(std::string("SELECT ") + kCols + " FROM memory_records WHERE project_id=?1 AND id=?2");
  q.bind(1, project).bind(2, id);
  if (!q.step()) {
    Status st = q.status();
    q.reset();
    return st.ok() ? not_found(id) : st;
  }
  auto r = row_of(q, seq);
  q.reset();
  return r;
}

Status add_history(store::Database& db, const Record& r, const std::string& event,
                   const std::string& actor, const std::string& reason, int64_t at,
                   const std::optional<std::string>& related) {
  auto& st = db.stmt(
      "INSERT INTO memory_history(project_id, record_id, at, event, text, actor, reason, related_id)"
      " VALUES (?1,?2,?3,?4,?5,?6,?7,?8)");
  st.bind(1, r.project_id).bind(2, r.id).bind(3, at).bind(4, event).bind(5, r.text).bind(6, actor);
  st.bind(7, reason).bind_opt(8, related);
  return st.run();
}

Status insert_record(store::Database& db, const Record& r, const std::string& reason,
                     const std::vector<float>& vec, Changes* ch) {
  auto& st = db.stmt(
      "INSERT INTO memory_records(project_id, id, user_id, agent_id, session_id, kind, text,"
      " metadata, source, created_at, updated_at, valid_from, valid_to, status, superseded_by,"
      " embedding) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,NULL,'active',NULL,?13) RETURNING seq");
  st.bind(1, r.project_id).bind(2, r.id).bind(3, r.ns.user_id).bind(4, r.ns.agent_id).bind(5, r.ns.session_id);
  st.bind(6, r.kind).bind(7, r.text).bind(8, r.metadata).bind(9, json::serialize(source_json(r.source)));
  st.bind(10, r.created_at).bind(11, r.updated_at).bind(12, r.valid_from);
  st.bind_blob(13, blob_of(vec));
  int64_t seq = st.step() ? st.int64(0) : 0;
  if (Status s = st.status(); !s.ok()) return s;
  st.reset();
  if (ch) ch->push_back({true, r.ns.user_id, seq, vec});
  if (Status s = feed_change(db, r.project_id, r.ns.user_id, seq, true); !s.ok()) return s;
  if (Status s = lexical_add(db, seq, r.text); !s.ok()) return s;
  return add_history(db, r, "created", r.source.type, reason, r.created_at);
}

// Ends a record's validity: superseded (by `by`) or deleted. Its text leaves the lexical index.
Status retire(store::Database& db, Record& r, int64_t seq, const std::string& status,
              const std::optional<std::string>& by, const std::string& actor,
              const std::string& reason, int64_t now, Changes* ch) {
  if (ch) ch->push_back({false, r.ns.user_id, seq, {}});
  if (Status s = feed_change(db, r.project_id, r.ns.user_id, seq, false); !s.ok()) return s;
  auto& st = db.stmt("UPDATE memory_records SET status=?3, valid_to=?4, superseded_by=?5, updated_at=?4"
                     " WHERE project_id=?1 AND id=?2");
  st.bind(1, r.project_id).bind(2, r.id).bind(3, status).bind(4, now).bind_opt(5, by);
  if (Status s = st.run(); !s.ok()) return s;
  if (Status s = lexical_remove(db, seq); !s.ok()) return s;
  r.status = status;
  r.valid_to = now;
  r.superseded_by = by;
  return add_history(db, r, status, actor, reason, now, by);
}

Status set_text(store::Database& db, Record& r, int64_t seq, const std::string& text,
                const std::vector<float>& vec, const std::string& actor, const std::string& reason,
                int64_t now, Changes* ch) {
  auto& st = db.stmt("UPDATE memory_records SET text=?3, embedding=?4, updated_at=?5"
                     " WHERE project_id=?1 AND id=?2");
  st.bind(1, r.project_id).bind(2, r.id).bind(3, text).bind_blob(4, blob_of(vec)).bind(5, now);
  if (ch) ch->push_back({true, r.ns.user_id, seq, std::move(vec)});
  if (Status s = st.run(); !s.ok()) return s;
  if (Status s = feed_change(db, r.project_id, r.ns.user_id, seq, true); !s.ok()) return s;
  if (Status s = lexical_remove(db, seq); !s.ok()) return s;
  if (Status s = lexical_add(db, seq, text); !s.ok()) return s;
  r.text = text;
  r.updated_at = now;
  return add_history(db, r, "updated", actor, reason, now);
}

// SQL conditions for a filter; binds start at ?2 (?1 is the project).
std::string filter_sql(const Filter& f, std::vector<std::string>& binds, const char* alias) {
  std::string sql;
  std::string a = alias;
  auto eq = [&](const char* col, const std::optional<std::string>& v) {
    if (!v) return;
    binds.push_back(*v);
    sql += " AND " + a + col + "=?" + std::to_string(binds.size() + 1);
  };
  eq("user_id", f.user_id);
  eq("agent_id", f.agent_id);
  eq("session_id", f.session_id);
  eq("kind", f.kind);
  if (!f.include_inactive && !f.valid_at) sql += " AND " + a + "status='active'";
  if (f.valid_at) {
    binds.push_back(std::to_string(*f.valid_at));
    std::string p = "?" + std::to_string(binds.size() + 1);
    sql += " AND " + a + "valid_from<=CAST(" + p + " AS INTEGER) AND (" + a + "valid_to IS NULL OR " + a +
           "valid_to>CAST(" + p + " AS INTEGER)) AND " + a + "status!='deleted'";
  }
  for (const auto& [k, v] : f.metadata) {
    binds.push_back("$." + k);
    std::string pk = "?" + std::to_string(binds.size() + 1);
    binds.push_back(v);
    std::string pv = "?" + std::to_string(binds.size() + 1);
    sql += " AND json_extract(" + a + "metadata, " + pk + ")=" + pv;
  }
  return sql;
}

bool matches(const Record& r, const Filter& f) {
  if (f.user_id && r.ns.user_id != *f.user_id) return false;
  if (f.agent_id && r.ns.agent_id != *f.agent_id) return false;
  if (f.session_id && r.ns.session_id != *f.session_id) return false;
  if (f.kind && r.kind != *f.kind) return false;
  if (f.valid_at) {
    if (r.status == "deleted" || r.valid_from > *f.valid_at || (r.valid_to && *r.valid_to <= *f.valid_at)) return false;
  } else if (!f.include_inactive && r.status != "active") {
    return false;
  }
  if (!f.metadata.empty()) {
    boost::system::error_code ec;
    auto md = json::parse(r.metadata, ec);
    if (ec || !md.is_object()) return false;
    for (const auto& [k, v] : f.metadata) {
      auto* x = md.as_object().if_contains(k);
      if (!x || !x->is_string() || x->as_string() != v) return false;
    }
  }
  return true;
}

// Whether a user's namespace index answers the filter by itself: it holds the user's active
// records, so only filters on other columns need each candidate's row.

}  // namespace cn::memory
