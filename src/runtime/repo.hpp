// SQL for the runtime's tables: responses, items, their links, conversations. Every function
// takes the caller's project id and every query is scoped by it: an id from another project is
// simply not found. Functions run on store executor threads (Database is confined there).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "domain/item.hpp"
#include "store/database.hpp"

namespace cn::runtime {

struct ResponseRow {
  std::string project_id, id;
  std::optional<std::string> parent_id, conversation_id;
  std::string status;
  bool background = false;
  int64_t created_at = 0;
  bool deleted = false;
  std::string body;    // the Response JSON with "output": [] (output lives in items)
  std::string events;  // JSON array of stored stream events (background responses), or ""
};

struct ConvRow {
  std::string project_id, id;
  int64_t created_at = 0;
  std::string metadata;  // JSON object
};

struct ConvItemRow {
  int64_t seq;
  ItemPtr item;
};

enum class ItemKind { input = 0, output = 1 };

namespace repo {

std::vector<store::Migration> migrations();

// Writes (inside the writer's transaction).
Status put_response(store::Database& db, const ResponseRow& r, const std::vector<ItemPtr>& inputs,
                    const std::vector<ItemPtr>& outputs);
Status update_response_status(store::Database& db, const std::string& project,
                              const std::string& id, const std::string& status,
                              const std::string& body);
// Marks deleted and blanks the body; removes the items unless a child still chains from it.
Status delete_response(store::Database& db, const std::string& project, const std::string& id);
Status put_items(store::Database& db, const std::string& project, const std::vector<ItemPtr>& items);
Status put_conversation(store::Database& db, const ConvRow& c);
Status update_conversation(store::Database& db, const ConvRow& c);
Status delete_conversation(store::Database& db, const std::string& project, const std::string& id);
Status append_conv_items(store::Database& db, const std::string& project, const std::string& conv,
                         int64_t first_seq, const std::vector<ItemPtr>& items);
Status delete_conv_item(store::Database& db, const std::string& project, const std::string& conv,
                        int64_t seq);
// Deletes responses and conversations created before `cutoff` (unix seconds); returns counts.
Status expire(store::Database& db, int64_t cutoff, int64_t* responses, int64_t* conversations);

// Reads.
Result<ResponseRow> get_response(store::Database& db, const std::string& project,
                                 const std::string& id);
Result<std::vector<ItemPtr>> response_items(store::Database& db, const std::string& project,
                                            const std::string& id, ItemKind kind);
Result<ConvRow> get_conversation(store::Database& db, const std::string& project,
                                 const std::string& id);
Result<std::vector<ConvItemRow>> conversation_items(store::Database& db, const std::string& project,
                                                    const std::string& id);
// Responses left queued or in progress by a previous process.
Result<std::vector<ResponseRow>> unfinished(store::Database& db);

}  // namespace repo
}  // namespace cn::runtime
