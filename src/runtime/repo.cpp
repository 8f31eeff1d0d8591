// SQL for the runtime's tables (see repo.hpp). A turn is one row of `turns` whose `data` blob
// holds its Response body and items (turn_codec.hpp, ~0.4 KB for a short turn): a turn's
// commit dirties one B-tree leaf, on the right edge because ids are time-ordered. (Measured
// against a rowid table with a unique (project_id, id) index: that costs a second page per turn
// and more bytes written, alone and grouped.)
#include "runtime/repo.hpp"

#include "base/node.hpp"

#include "base/ids.hpp"
#include "runtime/turn_codec.hpp"
#include "wire/items.hpp"

namespace cn::runtime::repo {

namespace {

constexpr int64_t kBackground = 1, kDeleted = 2, kHasChildren = 4;

// Version 1 stored each item once in `items`, linked to turns by `response_items` and to
// conversations by `conversation_items`: ~14 B-tree pages per turn. Version 2 re-encodes every
// turn into one `turns` row and keeps conversation entries with their item inline.
Status migrate_v2(store::Database& db) {
  auto& rows = db.stmt(
      "SELECT project_id, id, parent_id, conversation_id, status, background, created_at, deleted, body, events"
      " FROM responses");
  auto& items = db.stmt(
      "SELECT r.kind, i.json FROM response_items r JOIN items i ON i.project_id=r.project_id AND i.id=r.item_id"
      " WHERE r.project_id=?1 AND r.response_id=?2 ORDER BY r.kind, r.pos");
  auto& child = db.stmt("SELECT 1 FROM responses WHERE project_id=?1 AND parent_id=?2 LIMIT 1");
  auto& ins = db.stmt(
      "INSERT INTO turns(project_id, id, parent_id, conversation_id, status, flags, created_at, n_inputs, data, events)"
      " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)");
  while (rows.step()) {
    std::string project = rows.text(0), id = rows.text(1);
    std::vector<std::string> wires;
    int64_t n_inputs = 0;
    items.bind(1, project).bind(2, id);
    while (items.step()) {
      if (items.int64(0) == 0) ++n_inputs;
      wires.push_back(items.text(1));
    }
    items.reset();
    child.bind(1, project).bind(2, id);
    bool has_children = child.step();
    child.reset();
    int64_t flags = (rows.int64(5) ? kBackground : 0) | (rows.int64(7) ? kDeleted : 0) | (has_children ? kHasChildren : 0);
    ins.bind(1, project).bind(2, id).bind_opt(3, rows.text_opt(2)).bind_opt(4, rows.text_opt(3));
    ins.bind(5, rows.text(4)).bind(6, flags).bind(7, rows.int64(6)).bind(8, n_inputs);
    ins.bind_blob(9, encode_turn(rows.text(8), wires));
    if (rows.is_null(9)) ins.bind_null(10); else ins.bind_blob(10, rows.text(9));
    if (Status s = ins.run(); !s.ok()) {
      rows.reset();
      return s;
    }
  }
  Status st = rows.status();
  rows.reset();
  if (!st.ok()) return st;
  return db.exec(
      "INSERT INTO conversation_entries(project_id, conversation_id, seq, item)"
      " SELECT c.project_id, c.conversation_id, c.seq, i.json FROM conversation_items c"
      " JOIN items i ON i.project_id=c.project_id AND i.id=c.item_id;"
      "DROP TABLE response_items; DROP TABLE conversation_items; DROP TABLE items; DROP TABLE responses;");
}

}  // namespace

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
)sql"},
          {"runtime", 2, R"sql(
CREATE TABLE turns (
  project_id TEXT NOT NULL,
  id TEXT NOT NULL,
  parent_id TEXT,
  conversation_id TEXT,
  status TEXT NOT NULL,
  flags INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  n_inputs INTEGER NOT NULL,
  data BLOB NOT NULL,
  events BLOB,
  PRIMARY KEY (project_id, id)
) WITHOUT ROWID;
CREATE INDEX turns_unfinished ON turns(status) WHERE status IN ('queued', 'in_progress');
CREATE TABLE conversation_entries (
  project_id TEXT NOT NULL,
  conversation_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  item TEXT NOT NULL,
  PRIMARY KEY (project_id, conversation_id, seq)
) WITHOUT ROWID;
)sql",
           migrate_v2},
          // Objects belong to an end user when one created them (domain/scope.hpp).
          {"runtime", 3, R"sql(
ALTER TABLE turns ADD COLUMN user_id TEXT NOT NULL DEFAULT '';
ALTER TABLE conversations ADD COLUMN user_id TEXT NOT NULL DEFAULT '';
)sql"},
          // The node a turn runs on (base/node.hpp; "" with the embedded store): who recovers
          // it when its process is gone.
          {"runtime", 6, R"sql(
ALTER TABLE turns ADD COLUMN node TEXT NOT NULL DEFAULT '';
)sql"}};
}

Status put_response(store::Database& db, const ResponseRow& r, const std::vector<ItemPtr>& inputs,
                    const std::vector<ItemPtr>& outputs) {
  auto& st = db.stmt(
      "INSERT OR REPLACE INTO turns(project_id, id, parent_id, conversation_id, status, flags, created_at,"
      " n_inputs, data, events, user_id, node) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12)");
  st.bind(1, r.project_id).bind(2, r.id).bind_opt(3, r.parent_id).bind_opt(4, r.conversation_id);
  st.bind(5, r.status).bind(6, r.background ? kBackground : 0).bind(7, r.created_at);
  st.bind(8, static_cast<int64_t>(inputs.size())).bind_blob(9, encode_turn(r.body, inputs, outputs));
  if (r.events.empty()) st.bind_null(10); else st.bind_blob(10, r.events);
  st.bind(11, r.user_id).bind(12, this_node());
  if (Status s = st.run(); !s.ok()) return s;
  if (!r.parent_id) return {};
  // Usually the parent's row sits in the same right-edge leaf, so this dirties no extra page;
  // once set, the WHERE matches nothing and nothing is written.
  auto& mark = db.stmt("UPDATE turns SET flags = flags | 4 WHERE project_id=?1 AND id=?2 AND (flags & 4) = 0");
  return mark.bind(1, r.project_id).bind(2, *r.parent_id).run();
}

Status put_events(store::Database& db, const std::string& project, const std::string& id, const std::string& events) {
  auto& q = db.stmt("UPDATE turns SET events=?3 WHERE project_id=?1 AND id=?2 AND events IS NULL AND (flags & 2) = 0");
  return q.bind(1, project).bind(2, id).bind_blob(3, events).run();
}

Status update_response_status(store::Database& db, const std::string& project, const std::string& id,
                              const std::string& status, const std::string& body) {
  auto& q = db.stmt("SELECT data FROM turns WHERE project_id=?1 AND id=?2");
  q.bind(1, project).bind(2, id);
  if (!q.step()) {
    Status st = q.status();
    q.reset();
    return st.ok() ? Status(Code::not_found, "Response with id '" + id + "' not found.") : st;
  }
  auto old = decode_turn(q.blob(0));
  q.reset();
  if (!old.ok()) return old.status();
  auto& st = db.stmt("UPDATE turns SET status=?3, data=?4 WHERE project_id=?1 AND id=?2");
  return st.bind(1, project).bind(2, id).bind(3, status).bind_blob(4, encode_turn(body, old->item_wires)).run();
}

Status delete_response(store::Database& db, const Scope& scope, const std::string& id) {
  const std::string& project = scope.project;
  auto& q = db.stmt("SELECT flags, data FROM turns WHERE project_id=?1 AND id=?2 AND (?3 IS NULL OR user_id=?3 OR (?4 AND user_id=''))");
  q.bind(1, project).bind(2, id).bind_opt(3, scope.user).bind(4, scope.project_objects ? 1 : 0);
  if (!q.step()) {
    Status st = q.status();
    q.reset();
    return st;
  }
  bool has_children = q.int64(0) & kHasChildren;
  Result<DecodedTurn> old = has_children ? decode_turn(q.blob(1)) : Result<DecodedTurn>(DecodedTurn{});
  q.reset();
  if (!has_children) {
    auto& st = db.stmt("DELETE FROM turns WHERE project_id=?1 AND id=?2");
    return st.bind(1, project).bind(2, id).run();
  }
  // Descendants still need this turn's items as their context; keep them, forget the rest.
  if (!old.ok()) return old.status();
  auto& st = db.stmt("UPDATE turns SET flags = flags | 2, data=?3, events=NULL WHERE project_id=?1 AND id=?2");
  return st.bind(1, project).bind(2, id).bind_blob(3, encode_turn("{}", old->item_wires)).run();
}

Status put_conversation(store::Database& db, const ConvRow& c) {
  auto& st = db.stmt("INSERT INTO conversations(project_id, id, created_at, metadata, user_id)"
                     " VALUES (?1, ?2, ?3, ?4, ?5)");
  return st.bind(1, c.project_id).bind(2, c.id).bind(3, c.created_at).bind(4, c.metadata).bind(5, c.user_id).run();
}

namespace {

// Whether conversation `id` exists in `scope`: entries carry no owner of their own.
Status conversation_visible(store::Database& db, const Scope& scope, const std::string& id) {
  auto& q = db.stmt("SELECT 1 FROM conversations WHERE project_id=?1 AND id=?2 AND (?3 IS NULL OR user_id=?3 OR (?4 AND user_id=''))");
  q.bind(1, scope.project).bind(2, id).bind_opt(3, scope.user).bind(4, scope.project_objects ? 1 : 0);
  bool found = q.step();
  Status st = q.status();
  q.reset();
  if (!st.ok()) return st;
  if (!found) return Status(Code::not_found, "Conversation with id '" + id + "' not found.");
  return {};
}

}  // namespace

Status update_conversation(store::Database& db, const Scope& scope, const std::string& id,
                           const std::string& metadata) {
  if (Status s = conversation_visible(db, scope, id); !s.ok()) return s;
  auto& st = db.stmt("UPDATE conversations SET metadata=?3 WHERE project_id=?1 AND id=?2");
  return st.bind(1, scope.project).bind(2, id).bind(3, metadata).run();
}

Status delete_conversation(store::Database& db, const Scope& scope, const std::string& id) {
  if (Status s = conversation_visible(db, scope, id); !s.ok()) return s;
  auto& ci = db.stmt("DELETE FROM conversation_entries WHERE project_id=?1 AND conversation_id=?2");
  if (Status s = ci.bind(1, scope.project).bind(2, id).run(); !s.ok()) return s;
  auto& st = db.stmt("DELETE FROM conversations WHERE project_id=?1 AND id=?2");
  return st.bind(1, scope.project).bind(2, id).run();
}

Status append_conv_items(store::Database& db, const Scope& scope, const std::string& conv,
                         int64_t first_seq, const std::vector<ItemPtr>& items) {
  if (Status s = conversation_visible(db, scope, conv); !s.ok()) return s;
  auto& st = db.stmt("INSERT INTO conversation_entries(project_id, conversation_id, seq, item)"
                     " VALUES (?1, ?2, ?3, ?4)");
  for (size_t i = 0; i < items.size(); ++i) {
    st.bind(1, scope.project).bind(2, conv).bind(3, first_seq + static_cast<int64_t>(i));
    if (Status s = st.bind(4, items[i]->wire).run(); !s.ok()) return s;
  }
  return {};
}

Status delete_conv_item(store::Database& db, const Scope& scope, const std::string& conv,
                        int64_t seq) {
  if (Status s = conversation_visible(db, scope, conv); !s.ok()) return s;
  auto& st = db.stmt("DELETE FROM conversation_entries WHERE project_id=?1 AND conversation_id=?2"
                     " AND seq=?3");
  return st.bind(1, scope.project).bind(2, conv).bind(3, seq).run();
}

Status expire(store::Database& db, int64_t cutoff, int64_t* responses, int64_t* conversations) {
  // Turns have no index on created_at (it would cost every turn a page): ids sort by creation
  // time, so each project's expired turns are a range of its primary key.
  std::string bound = id_lower_bound("resp", (cutoff + 1) * 1000);
  auto& next = db.stmt("SELECT project_id FROM turns WHERE project_id > ?1 ORDER BY project_id LIMIT 1");
  auto& del = db.stmt("DELETE FROM turns WHERE project_id=?1 AND id < ?2 AND created_at < ?3");
  std::string project;
  *responses = 0;
  for (;;) {
    next.bind(1, project);
    bool more = next.step();
    if (more) project = next.text(0);
    Status st = next.status();
    next.reset();
    if (!st.ok()) return st;
    if (!more) break;
    if (Status s = del.bind(1, project).bind(2, bound).bind(3, cutoff).run(); !s.ok()) return s;
    *responses += db.changes();
  }
  auto& ce = db.stmt(
      "DELETE FROM conversation_entries WHERE (project_id, conversation_id) IN (SELECT project_id,"
      " id FROM conversations WHERE created_at < ?1)");
  if (Status s = ce.bind(1, cutoff).run(); !s.ok()) return s;
  auto& c = db.stmt("DELETE FROM conversations WHERE created_at < ?1");
  if (Status s = c.bind(1, cutoff).run(); !s.ok()) return s;
  *conversations = db.changes();
  return {};
}

namespace {

constexpr const char* kTurnCols =
    "project_id, id, parent_id, conversation_id, status, flags, created_at, n_inputs, data, events, user_id";

Result<ResponseRow> row_from(store::Statement& q, bool with_items) {
  ResponseRow r;
  r.project_id = q.text(0);
  r.id = q.text(1);
  r.parent_id = q.text_opt(2);
  r.conversation_id = q.text_opt(3);
  r.status = q.text(4);
  int64_t flags = q.int64(5);
  r.background = flags & kBackground;
  r.deleted = flags & kDeleted;
  r.has_children = flags & kHasChildren;
  r.created_at = q.int64(6);
  size_t n_inputs = static_cast<size_t>(q.int64(7));
  auto d = decode_turn(q.blob(8), with_items);
  if (!d.ok()) return d.status();
  r.body = std::move(d->body);
  if (!q.is_null(9)) r.events = std::string(q.blob(9));
  r.user_id = q.text(10);
  for (size_t i = 0; i < d->item_wires.size(); ++i) {
    auto it = wire::item_from_wire(d->item_wires[i]);
    if (!it.ok()) return it.status();
    (i < n_inputs ? r.inputs : r.outputs).push_back(std::make_shared<const Item>(std::move(*it)));
  }
  return r;
}

// Every row of the statement `q` (which is reset afterwards).
Result<std::vector<ResponseRow>> rows_from(store::Statement& q, bool with_items) {
  std::vector<ResponseRow> out;
  while (q.step()) {
    auto r = row_from(q, with_items);
    if (!r.ok()) {
      q.reset();
      return r.status();
    }
    out.push_back(std::move(*r));
  }
  Status st = q.status();
  q.reset();
  if (!st.ok()) return st;
  return out;
}

}  // namespace

Result<ResponseRow> get_response(store::Database& db, const Scope& scope, const std::string& id,
                                 bool with_items) {
  auto& q = db.stmt(std::string("SELECT ") + kTurnCols +
                    " FROM turns WHERE project_id=?1 AND id=?2 AND (?3 IS NULL OR user_id=?3 OR (?4 AND user_id=''))");
  q.bind(1, scope.project).bind(2, id).bind_opt(3, scope.user).bind(4, scope.project_objects ? 1 : 0);
  if (!q.step()) {
    Status st = q.status();
    q.reset();
    if (!st.ok()) return st;
    return Status(Code::not_found, "Response with id '" + id + "' not found.");
  }
  auto r = row_from(q, with_items);
  q.reset();
  return r;
}

Result<std::vector<ResponseRow>> list_responses(store::Database& db, const Scope& scope, const std::optional<std::string>& after,
                                                bool desc, int limit, const std::optional<std::string>& status) {
  // Two statements (newest first, oldest first): each keeps one cached plan on the primary key.
  auto& q = db.stmt(std::string("SELECT ") + kTurnCols + " FROM turns WHERE project_id=?1" +
                    " AND (?2 IS NULL OR user_id=?2 OR (?3 AND user_id='')) AND (flags & " + std::to_string(kDeleted) +
                    ")=0 AND (?4 IS NULL OR status=?4)" + (desc ? " AND (?5 IS NULL OR id < ?5) ORDER BY id DESC" : " AND (?5 IS NULL OR id > ?5) ORDER BY id") +
                    " LIMIT ?6");
  q.bind(1, scope.project).bind_opt(2, scope.user).bind(3, scope.project_objects ? 1 : 0).bind_opt(4, status).bind_opt(5, after).bind(6, limit);
  return rows_from(q, true);
}

Result<std::vector<ConvRow>> list_conversations(store::Database& db, const Scope& scope, const std::optional<std::string>& after,
                                                bool desc, int limit) {
  auto& q = db.stmt(std::string("SELECT id, created_at, metadata, user_id FROM conversations WHERE project_id=?1") +
                    " AND (?2 IS NULL OR user_id=?2 OR (?3 AND user_id=''))" +
                    (desc ? " AND (?4 IS NULL OR id < ?4) ORDER BY id DESC" : " AND (?4 IS NULL OR id > ?4) ORDER BY id") + " LIMIT ?5");
  q.bind(1, scope.project).bind_opt(2, scope.user).bind(3, scope.project_objects ? 1 : 0).bind_opt(4, after).bind(5, limit);
  std::vector<ConvRow> out;
  while (q.step()) {
    ConvRow c;
    c.project_id = scope.project;
    c.id = q.text(0);
    c.created_at = q.int64(1);
    c.metadata = q.text(2);
    c.user_id = q.text(3);
    out.push_back(std::move(c));
  }
  Status st = q.status();
  q.reset();
  if (!st.ok()) return st;
  return out;
}

Result<ConvRow> get_conversation(store::Database& db, const Scope& scope, const std::string& id) {
  auto& q = db.stmt("SELECT created_at, metadata, user_id FROM conversations WHERE project_id=?1 AND id=?2"
                    " AND (?3 IS NULL OR user_id=?3 OR (?4 AND user_id=''))");
  q.bind(1, scope.project).bind(2, id).bind_opt(3, scope.user).bind(4, scope.project_objects ? 1 : 0);
  if (!q.step()) {
    Status st = q.status();
    q.reset();
    if (!st.ok()) return st;
    return Status(Code::not_found, "Conversation with id '" + id + "' not found.");
  }
  ConvRow c{scope.project, id, q.int64(0), q.text(1), q.text(2)};
  q.reset();
  return c;
}

Result<std::vector<ConvItemRow>> conversation_items(store::Database& db, const Scope& scope,
                                                    const std::string& id) {
  if (Status s = conversation_visible(db, scope, id); !s.ok()) return s;
  const std::string& project = scope.project;
  auto& q = db.stmt("SELECT seq, item FROM conversation_entries WHERE project_id=?1 AND conversation_id=?2"
                    " ORDER BY seq");
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
  auto& q = db.stmt(std::string("SELECT ") + kTurnCols + " FROM turns WHERE status IN ('queued', 'in_progress') AND node=?1");
  q.bind(1, this_node());
  return rows_from(q, false);
}

Result<std::vector<ResponseRow>> adopt_unfinished(store::Database& db, const std::string& from) {
  auto& q = db.stmt(std::string("UPDATE turns SET node=?2 WHERE status IN ('queued', 'in_progress') AND node=?1 RETURNING ") +
                    kTurnCols);
  q.bind(1, from).bind(2, this_node());
  auto rows = rows_from(q, false);
  if (!rows.ok()) return rows;
  // A resumed run streams again from its first event: what the lost node shipped goes.
  for (const auto& r : *rows)
    if (Status st = db.stmt("DELETE FROM run_events WHERE response_id=?1").bind(1, r.id).run(); !st.ok()) return st;
  return rows;
}

Result<std::vector<std::string>> unfinished_owners(store::Database& db) {
  auto& q = db.stmt("SELECT DISTINCT node FROM turns WHERE status IN ('queued', 'in_progress')");
  std::vector<std::string> out;
  while (q.step()) out.push_back(q.text(0));
  Status st = q.status();
  q.reset();
  if (!st.ok()) return st;
  return out;
}

}  // namespace cn::runtime::repo
