// Item references ({"type": "item_reference", "id"}): a stored item named by its id, replaced by
// a copy of that item before a turn or a conversation sees its input. (Compaction items in the
// input are checked here too: one sealed for another project is refused.)
//
// Items the server stores have owned ids (base/ids.hpp: owned_id): a response's input and output
// items carry the response's id, items added to a conversation carry the conversation's. So a
// reference is one keyed read — the response's chain node (usually cached) or the conversation —
// within the caller's scope (its project, and its end user when it has one). An id that names
// nothing visible, another project's item or a response stored with store: false is a 400
// naming the id.
#include "runtime/impl.hpp"

#include "base/ids.hpp"
#include "wire/items.hpp"

namespace cn::runtime {

namespace {

Status unknown_reference(const std::string& param, const std::string& id) {
  return Status(Code::invalid_argument, "Item with id '" + id + "' not found (an item_reference names an item stored in this project).",
                param, "item_not_found");
}

ItemPtr find_in(const std::vector<ItemPtr>& items, const std::string& id) {
  for (const auto& it : items)
    if (it->id == id) return it;
  return nullptr;
}

}  // namespace

awaitable<Status> Runtime::Impl::resolve_references(const Scope& scope, std::vector<Item>& items, std::string_view param) {
  for (size_t i = 0; i < items.size(); ++i) {
    // A compaction's sealed summary is good only in the project it was made for.
    if (items[i].type == ItemType::compaction && items[i].server_label != scope.project)
      co_return Status(Code::invalid_argument, "The encrypted_content is not one this server sealed (or it was altered).",
                       std::string(param) + "[" + std::to_string(i) + "].encrypted_content", "invalid_value");
    if (items[i].type != ItemType::item_reference) continue;
    const std::string id = items[i].id;
    const std::string where = std::string(param) + "[" + std::to_string(i) + "].id";
    ItemPtr found;
    if (std::string resp = owner_of(id, "resp"); !resp.empty()) {
      auto node = co_await load_node(scope, resp);
      if (node.ok()) {
        found = find_in((*node)->inputs, id);
        if (!found) found = find_in((*node)->outputs, id);
      } else if (node.status().code() != Code::not_found) {
        co_return node.status();
      }
    }
    if (std::string conv = owner_of(id, "conv"); !found && !conv.empty()) {
      auto c = co_await load_conv(scope, conv);
      if (c.ok()) {
        std::lock_guard lk((*c)->mu);
        for (const auto& r : (*c)->items)
          if (r.item->id == id) found = r.item;
      } else if (c.status().code() != Code::not_found) {
        co_return c.status();
      }
    }
    if (!found) co_return unknown_reference(where, id);
    items[i] = *found;
  }
  co_return Status();
}

void Runtime::Impl::own_items(std::vector<Item>& items, const std::string& owner, size_t first_index) {
  for (size_t i = 0; i < items.size(); ++i) {
    items[i].id = owned_id(wire::id_prefix(items[i].type), owner, first_index + i);
    wire::finalize_wire(items[i]);
  }
}

}  // namespace cn::runtime
