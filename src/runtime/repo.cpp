#include "runtime/repo.hpp"

#include "wire/items.hpp"

namespace cn::runtime::repo {

std::vector<store::Migration> migrations() {
  return {{"runtime", 1, R"sql(
CREATE TABLE responses (
  project_id TEXT NOT NULL,
  id TEXT NOT NULL,
  parent_id TEXT,
  conversation_id TEXT,
  status TEXT NOT NULL,
  background INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  deleted INTEGER NOT NULL DEFAULT 0,
  body TEXT NOT NULL,
  events TEXT,
  PRIMARY KEY (project_id, id)
) WITHOUT ROWID;
CREATE INDEX responses_unfinished ON responses(status) WHERE status IN ('queued', 'in_progress');
CREATE INDEX responses_created ON responses(created_at);
CREATE INDEX responses_parent ON responses(project_id, parent_id) WHERE parent_id IS NOT NULL;
CREATE TABLE items (
  project_id TEXT NOT NULL,
  id TEXT NOT NULL,
  json TEXT NOT NULL,
  PRIMARY KEY (project_id, id)
) WITHOUT ROWID;
CREATE TABLE response_items (
  project_id TEXT NOT NULL,
  response_id TEXT NOT NULL,
  kind INTEGER NOT NULL,
  pos INTEGER NOT NULL,
  item_id TEXT NOT NULL,
  PRIMARY KEY (project_id, response_id, kind, pos)
) WITHOUT ROWID;
CREATE TABLE conversations (
  project_id TEXT NOT NULL,
  id TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  metadata TEXT NOT NULL,
  PRIMARY KEY (project_id, id)
) WITHOUT ROWID;
CREATE INDEX conversations_created ON conversations(created_at);
CREATE TABLE conversation_items (
  project_id TEXT NOT NULL,
  conversation_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  item_id TEXT NOT NULL,
  PRIMARY KEY (project_id, conversation_id, seq)
) WITHOUT ROWID;
)sql"}};
}

Status put_items(store::Database& db, const std::string& project, const std::vector<ItemPtr>& items) {
  auto& st = db.stmt("INSERT OR IGNORE INTO items(project_id, id, json) VALUES (?1, ?2, ?3)");
  for (const auto& it : items) {
    if (Status s = st.bind(1, project).bind(2, it->id).bind(3, it->wire).run(); !s.ok()) return s;
  }
  return {};
}

Status put_response(store::Database& db, const ResponseRow& r, const std::vector<ItemPtr>& inputs,
                    const std::vector<ItemPtr>& outputs) {
  auto& st = db.stmt(
      "INSERT OR REPLACE INTO responses(project_id, id, parent_id, conversation_id, status,"
      " background, created_at, deleted, body, events) VALUES (?1,?2,?3,?4,?5,?6,?7,0,?8,?9)");
  st.bind(1, r.project_id).bind(2, r.id).bind_opt(3, r.parent_id).bind_opt(4, r.conversation_id);
  st.bind(5, r.status).bind(6, r.background ? 1 : 0).bind(7, r.created_at).bind(8, r.body);
  if (r.events.empty()) st.bind_null(9); else st.bind(9, r.events);
  if (Status s = st.run(); !s.ok()) return s;
  if (inputs.empty() && outputs.empty()) return {};
  if (Status s = put_items(db, r.project_id, inputs); !s.ok()) return s;
  if (Status s = put_items(db, r.project_id, outputs); !s.ok()) return s;
  auto& link = db.stmt(
      "INSERT OR REPLACE INTO response_items(project_id, response_id, kind, pos, item_id)"
      " VALUES (?1, ?2, ?3, ?4, ?5)");
  auto add = [&](const std::vector<ItemPtr>& v, int kind) -> Status {
    for (size_t i = 0; i < v.size(); ++i) {
      link.bind(1, r.project_id).bind(2, r.id).bind(3, kind).bind(4, static_cast<int64_t>(i));
      if (Status s = link.bind(5, v[i]->id).run(); !s.ok()) return s;
    }
    return {};
  };
  if (Status s = add(inputs, 0); !s.ok()) return s;
  return add(outputs, 1);
}

Status update_response_status(store::Database& db, const std::string& project, const std::string& id,
                              const std::string& status, const std::string& body) {
  auto& st = db.stmt("UPDATE responses SET status=?3, body=?4 WHERE project_id=?1 AND id=?2");
  return st.bind(1, project).bind(2, id).bind(3, status).bind(4, body).run();
}

Status delete_response(store::Database& db, const std::string& project, const std::string& id) {
  auto& child = db.stmt("SELECT 1 FROM responses WHERE project_id=?1 AND parent_id=?2 LIMIT 1");
  child.bind(1, project).bind(2, id);
  bool has_child = child.step();
  child.reset();
  if (has_child) {
    // Descendants still need this turn's items as their context; keep them, forget the rest.
    auto& st = db.stmt("UPDATE responses SET deleted=1, body='{}', events=NULL"
                       " WHERE project_id=?1 AND id=?2");
    return st.bind(1, project).bind(2, id).run();
  }
  auto& items = db.stmt(
      "DELETE FROM items WHERE project_id=?1 AND id IN (SELECT item_id FROM response_items"
      " WHERE project_id=?1 AND response_id=?2) AND id NOT IN (SELECT item_id FROM"
      " conversation_items WHERE project_id=?1)");
  if (Status s = items.bind(1, project).bind(2, id).run(); !s.ok()) return s;
  auto& links = db.stmt("DELETE FROM response_items WHERE project_id=?1 AND response_id=?2");
  if (Status s = links.bind(1, project).bind(2, id).run(); !s.ok()) return s;
  auto& st = db.stmt("DELETE FROM responses WHERE project_id=?1 AND id=?2");
  return st.bind(1, project).bind(2, id).run();
}

Status put_conversation(store::Database& db, const ConvRow& c) {
  auto& st = db.stmt("INSERT INTO conversations(project_id, id, created_at, metadata)"
                     " VALUES (?1, ?2, ?3, ?4)");
  return st.bind(1, c.project_id).bind(2, c.id).bind(3, c.created_at).bind(4, c.metadata).run();
}

Status update_conversation(store::Database& db, const ConvRow& c) {
  auto& st = db.stmt("UPDATE conversations SET metadata=?3 WHERE project_id=?1 AND id=?2");
  return st.bind(1, c.project_id).bind(2, c.id).bind(3, c.metadata).run();
}

Status delete_conversation(store::Database& db, const std::string& project, const std::string& id) {
  auto& items = db.stmt(
      "DELETE FROM items WHERE project_id=?1 AND id IN (SELECT item_id FROM conversation_items"
      " WHERE project_id=?1 AND conversation_id=?2) AND id NOT IN (SELECT item_id FROM"
      " response_items WHERE project_id=?1)");
  if (Status s = items.bind(1, project).bind(2, id).run(); !s.ok()) return s;
  auto& ci = db.stmt("DELETE FROM conversation_items WHERE project_id=?1 AND conversation_id=?2");
  if (Status s = ci.bind(1, project).bind(2, id).run(); !s.ok()) return s;
  auto& st = db.stmt("DELETE FROM conversations WHERE project_id=?1 AND id=?2");
  return st.bind(1, project).bind(2, id).run();
}

Status append_conv_items(store::Database& db, const std::string& project, const std::string& conv,
                         int64_t first_seq, const std::vector<ItemPtr>& items) {
  if (Status s = put_items(db, project, items); !s.ok()) return s;
  auto& st = db.stmt("INSERT INTO conversation_items(project_id, conversation_id, seq, item_id)"
                     " VALUES (?1, ?2, ?3, ?4)");
  for (size_t i = 0; i < items.size(); ++i) {
    st.bind(1, project).bind(2, conv).bind(3, first_seq + static_cast<int64_t>(i));
    if (Status s = st.bind(4, items[i]->id).run(); !s.ok()) return s;
  }
  return {};
}

Status delete_conv_item(store::Database& db, const std::string& project, const std::string& conv,
                        int64_t seq) {
  auto& st = db.stmt("DELETE FROM conversation_items WHERE project_id=?1 AND conversation_id=?2"
                     " AND seq=?3");
  return st.bind(1, project).bind(2, conv).bind(3, seq).run();
}

Status expire(store::Database& db, int64_t cutoff, int64_t* responses, int64_t* conversations) {
  auto run = [&](std::string_view sql) -> Status {
    auto& st = db.stmt(sql);
    return st.bind(1, cutoff).run();
  };
  Status s = run(
      "DELETE FROM response_items WHERE (project_id, response_id) IN (SELECT project_id, id FROM"
      " responses WHERE created_at < ?1)");
  if (!s.ok()) return s;
  s = run("DELETE FROM responses WHERE created_at < ?1");
  if (!s.ok()) return s;
  *responses = db.changes();
  s = run(
      "DELETE FROM conversation_items WHERE (project_id, conversation_id) IN (SELECT project_id,"
      " id FROM conversations WHERE created_at < ?1)");
  if (!s.ok()) return s;
  s = run("DELETE FROM conversations WHERE created_at < ?1");
  if (!s.ok()) return s;
  *conversations = db.changes();
  // Items no longer referenced by anything.
  auto& orphans = db.stmt(
      "DELETE FROM items WHERE NOT EXISTS (SELECT 1 FROM response_items r WHERE"
      " r.project_id=items.project_id AND r.item_id=items.id) AND NOT EXISTS (SELECT 1 FROM"
      " conversation_items c WHERE c.project_id=items.project_id AND c.item_id=items.id)");
  return orphans.run();
}

namespace {
ResponseRow row_from(store::Statement& q) {
  ResponseRow r;
  r.project_id = q.text(0);
  r.id = q.text(1);
  r.parent_id = q.text_opt(2);
  r.conversation_id = q.text_opt(3);
  r.status = q.text(4);
  r.background = q.int64(5) != 0;
  r.created_at = q.int64(6);
  r.deleted = q.int64(7) != 0;
  r.body = q.text(8);
  r.events = q.text(9);
  return r;
}
constexpr const char* kResponseCols =
    "project_id, id, parent_id, conversation_id, status, background, created_at, deleted, body,"
    " events";
}  // namespace

Result<ResponseRow> get_response(store::Database& db, const std::string& project,
                                 const std::string& id) {
  auto& q = db.stmt(std::string("SELECT ") + kResponseCols +
                    " FROM responses WHERE project_id=?1 AND id=?2");
  q.bind(1, project).bind(2, id);
  if (!q.step()) {
    Status st = q.status();
    q.reset();
    if (!st.ok()) return st;
    return Status(Code::not_found, "Response with id '" + id + "' not found.");
  }
  auto r = row_from(q);
  q.reset();
  return r;
}

Result<std::vector<ItemPtr>> response_items(store::Database& db, const std::string& project,
                                            const std::string& id, ItemKind kind) {
  auto& q = db.stmt(
      "SELECT i.json FROM response_items r JOIN items i ON i.project_id=r.project_id AND"
      " i.id=r.item_id WHERE r.project_id=?1 AND r.response_id=?2 AND r.kind=?3 ORDER BY r.pos");
  q.bind(1, project).bind(2, id).bind(3, static_cast<int>(kind));
  std::vector<ItemPtr> out;
  while (q.step()) {
    auto it = wire::item_from_wire(q.text(0));
    if (!it.ok()) {
      q.reset();
      return it.status();
    }
    out.push_back(std::make_shared<const Item>(std::move(*it)));
  }
  Status st = q.status();
  q.reset();
  if (!st.ok()) return st;
  return out;
}

Result<ConvRow> get_conversation(store::Database& db, const std::string& project,
                                 const std::string& id) {
  auto& q = db.stmt("SELECT created_at, metadata FROM conversations WHERE project_id=?1 AND id=?2");
  q.bind(1, project).bind(2, id);
  if (!q.step()) {
    Status st = q.status();
    q.reset();
    if (!st.ok()) return st;
    return Status(Code::not_found, "Conversation with id '" + id + "' not found.");
  }
  ConvRow c{project, id, q.int64(0), q.text(1)};
  q.reset();
  return c;
}

Result<std::vector<ConvItemRow>> conversation_items(store::Database& db, const std::string& project,
                                                    const std::string& id) {
  auto& q = db.stmt(
      "SELECT c.seq, i.json FROM conversation_items c JOIN items i ON i.project_id=c.project_id"
      " AND i.id=c.item_id WHERE c.project_id=?1 AND c.conversation_id=?2 ORDER BY c.seq");
  q.bind(1, project).bind(2, id);
  std::vector<ConvItemRow> out;
  while (q.step()) {
    auto it = wire::item_from_wire(q.text(1));
    if (!it.ok()) {
      q.reset();
      return it.status();
    }
    out.push_back({q.int64(0), std::make_shared<const Item>(std::move(*it))});
  }
  Status st = q.status();
  q.reset();
  if (!st.ok()) return st;
  return out;
}

Result<std::vector<ResponseRow>> unfinished(store::Database& db) {
  auto& q = db.stmt(std::string("SELECT ") + kResponseCols +
                    " FROM responses WHERE status IN ('queued', 'in_progress')");
  std::vector<ResponseRow> out;
  while (q.step()) out.push_back(row_from(q));
  Status st = q.status();
  q.reset();
  if (!st.ok()) return st;
  return out;
}

}  // namespace cn::runtime::repo
