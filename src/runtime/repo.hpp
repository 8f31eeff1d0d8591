// SQL for the runtime's tables: turns (one row per response, its items inside, see
// turn_codec.hpp), conversations and their entries. Every function that names a stored object
// takes the caller's Scope and every query is bounded by it: an id of another project, or of
// another end user when the scope has one, is simply not found. Functions run on store executor
// threads (Database is confined there).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "domain/item.hpp"
#include "domain/scope.hpp"
#include "store/database.hpp"

namespace cn::runtime {

struct ResponseRow {
  std::string project_id, id;
  std::string user_id;  // the end user it belongs to ("" = the project)
  std::optional<std::string> parent_id, conversation_id;
  std::string status;
  bool background = false;
  int64_t created_at = 0;
  bool deleted = false;
  bool has_children = false;  // some stored turn continues this one
  std::string body;    // the Response JSON with "output": [] (output lives in the items)
  std::string events;  // JSON array of stored stream events (background responses), or ""
  // Filled by get_response(..., with_items = true).
  std::vector<ItemPtr> inputs, outputs;
};

struct ConvRow {
  std::string project_id, id;
  int64_t created_at = 0;
  std::string metadata;  // JSON object
  std::string user_id;   // the end user it belongs to ("" = the project)
};

struct ConvItemRow {
  int64_t seq;
  ItemPtr item;
};

namespace repo {

std::vector<store::Migration> migrations();

// Writes (inside the writer's transaction).
// Inserts or replaces a turn with its items (one row), and marks its parent as continued.
Status put_response(store::Database& db, const ResponseRow& r, const std::vector<ItemPtr>& inputs,
                    const std::vector<ItemPtr>& outputs);
// Stores the event log of a finished streamed turn (a JSON array), when it has none and is not
// deleted: written when the run's in-memory log is evicted.
Status put_events(store::Database& db, const std::string& project, const std::string& id, const std::string& events);
Status update_response_status(store::Database& db, const std::string& project,
                              const std::string& id, const std::string& status,
                              const std::string& body);
// Removes the turn; one that other turns continue stays as a tombstone (deleted, body blanked)
// that keeps its items as their context.
Status delete_response(store::Database& db, const Scope& scope, const std::string& id);
Status put_conversation(store::Database& db, const ConvRow& c);
Status update_conversation(store::Database& db, const Scope& scope, const std::string& id,
                           const std::string& metadata);
Status delete_conversation(store::Database& db, const Scope& scope, const std::string& id);
Status append_conv_items(store::Database& db, const Scope& scope, const std::string& conv,
                         int64_t first_seq, const std::vector<ItemPtr>& items);
Status delete_conv_item(store::Database& db, const Scope& scope, const std::string& conv,
                        int64_t seq);
// Deletes responses and conversations created before `cutoff` (unix seconds); returns counts.
Status expire(store::Database& db, int64_t cutoff, int64_t* responses, int64_t* conversations);

// Reads.
Result<ResponseRow> get_response(store::Database& db, const Scope& scope, const std::string& id,
                                 bool with_items = false);
Result<ConvRow> get_conversation(store::Database& db, const Scope& scope, const std::string& id);
// The stored responses (not deleted) and conversations `scope` sees, by id (newest first when
// `desc`), after the id `after` (exclusive), at most `limit`; responses only with `status`
// when it is set.
Result<std::vector<ResponseRow>> list_responses(store::Database& db, const Scope& scope, const std::optional<std::string>& after,
                                                bool desc, int limit, const std::optional<std::string>& status);
Result<std::vector<ConvRow>> list_conversations(store::Database& db, const Scope& scope, const std::optional<std::string>& after,
                                                bool desc, int limit);
Result<std::vector<ConvItemRow>> conversation_items(store::Database& db, const Scope& scope,
                                                    const std::string& id);
// Responses left queued or in progress by a previous process.
// This node's (base/node.hpp) queued and in-progress turns.
Result<std::vector<ResponseRow>> unfinished(store::Database& db);
// Makes this node the owner of node `from`'s queued and in-progress turns and returns them. Rows
// another node claimed first are not returned: the update's condition is rechecked under its row
// locks, so each turn is adopted once.
Result<std::vector<ResponseRow>> adopt_unfinished(store::Database& db, const std::string& from);
// The nodes that own queued or in-progress turns.
Result<std::vector<std::string>> unfinished_owners(store::Database& db);

}  // namespace repo
}  // namespace cn::runtime
