// Conversations carried between servers (an agent's export and import): read one whole with its
// owner and items, write one back with its id kept or new, and find the conversations an agent
// answered in.
#include "runtime/impl.hpp"

#include "base/ids.hpp"
#include "runtime/turn_codec.hpp"
#include "wire/items.hpp"

namespace cn::runtime {

awaitable<Result<ConversationExport>> Runtime::export_conversation(std::string project, std::string id) {
  using R = Result<ConversationExport>;
  std::function<R(store::Database&)> fn = [project, id](store::Database& db) -> R {
    Scope scope{project};
    auto row = repo::get_conversation(db, scope, id);
    if (!row.ok()) return row.status();
    auto items = repo::conversation_items(db, scope, id);
    if (!items.ok()) return items.status();
    ConversationExport out{id, row->user_id, row->metadata, row->created_at, {}};
    for (const auto& it : *items) out.item_wires.push_back(it.item->wire);
    return out;
  };
  co_return co_await read_async<R>(impl_->store, std::move(fn));
}

awaitable<Result<std::string>> Runtime::import_conversation(std::string project, ConversationExport c, bool keep_id) {
  ConvRow row{project, keep_id ? c.id : new_id("conv"), c.created_at, c.metadata, c.user_id};
  if (!valid_id_syntax(row.id) || !row.id.starts_with("conv_"))
    co_return Status(Code::invalid_argument, "Invalid conversation id '" + c.id + "'.", "conversations");
  std::vector<ItemPtr> items;
  for (const auto& w : c.item_wires) {
    auto it = wire::item_from_wire(w);
    if (!it.ok()) co_return Status(Code::invalid_argument, "A conversation item could not be read: " + it.status().message(), "conversations");
    items.push_back(std::make_shared<const Item>(std::move(*it)));
  }
  Scope scope{project};
  std::function<Status(store::Database&)> fn = [row, items, scope](store::Database& db) -> Status {
    if (repo::get_conversation(db, scope, row.id).ok())
      return Status(Code::already_exists, "A conversation with id '" + row.id + "' already exists; import with ids=remap.",
                    "conversations", "conversation_exists");
    if (Status s = repo::put_conversation(db, row); !s.ok()) return s;
    return repo::append_conv_items(db, scope, row.id, 0, items);
  };
  Status st = co_await write_async(impl_->store, std::move(fn));
  if (!st.ok()) co_return st;
  co_return row.id;
}

awaitable<Result<std::vector<std::string>>> Runtime::agent_conversations(std::string project, std::string agent, int limit) {
  using R = Result<std::vector<std::string>>;
  std::function<R(store::Database&)> fn = [project, agent, limit](store::Database& db) -> R {
    auto& q = db.stmt("SELECT conversation_id, data FROM turns WHERE project_id=?1 AND conversation_id IS NOT NULL ORDER BY id DESC");
    q.bind(1, project);
    std::vector<std::string> out;
    while (static_cast<int>(out.size()) < limit && q.step()) {
      std::string conv = q.text(0);
      if (std::find(out.begin(), out.end(), conv) != out.end()) continue;
      auto d = decode_turn(q.blob(1), false);
      if (!d.ok()) continue;
      boost::system::error_code ec;
      auto body = json::parse(d->body, ec);
      if (ec || !body.is_object()) continue;
      auto* a = body.as_object().if_contains("agent");
      auto* name = a && a->is_object() ? a->as_object().if_contains("name") : nullptr;
      if (name && name->is_string() && name->as_string() == agent) out.push_back(std::move(conv));
    }
    Status st = q.status();
    q.reset();
    if (!st.ok()) return st;
    return out;
  };
  co_return co_await read_async<R>(impl_->store, std::move(fn));
}

}  // namespace cn::runtime
