// Conversations: their hot cache (items in seq order, loaded once) and the operations of the
// conversation routes. Turns append to a conversation in commit.cpp.
#include "runtime/impl.hpp"

#include "base/ids.hpp"

namespace cn::runtime {

std::string conversation_json(const std::string& id, int64_t created_at, const std::string& metadata) {
  json::object o;
  o["id"] = id;
  o["object"] = "conversation";
  o["created_at"] = created_at;
  boost::system::error_code ec;
  auto md = json::parse(metadata, ec);
  o["metadata"] = ec ? json::value(json::object()) : md;
  return json::serialize(o);
}

awaitable<Result<ConvPtr>> Runtime::Impl::load_conv(Scope scope, std::string id) {
  const std::string project = scope.project;
  {
    std::lock_guard lk(mu);
    auto it = convs.find(key_of(project, id));
    if (it != convs.end() && opts.shared_store) {
      convs.erase(it);  // another node may have changed it: read it again
      it = convs.end();
    }
    if (it != convs.end()) {
      touch_locked(*it->second);
      std::lock_guard lk2(it->second->mu);
      if (it->second->deleted || !scope.sees(it->second->owner)) co_return not_found_conversation(id);
      co_return it->second;
    }
  }
  using Loaded = std::pair<ConvRow, std::vector<ConvItemRow>>;
  std::function<Result<Loaded>(store::Database&)> store_fn1 = [scope, id](store::Database& db) -> Result<Loaded> {
    auto c = repo::get_conversation(db, scope, id);
    if (!c.ok()) return c.status();
    auto items = repo::conversation_items(db, scope, id);
    if (!items.ok()) return items.status();
    return Loaded{std::move(*c), std::move(*items)};
  };
  auto r = co_await read_async<Result<Loaded>>(store, std::move(store_fn1));
  if (!r.ok()) co_return r.status();
  auto c = std::make_shared<ConvState>();
  c->project = project;
  c->id = id;
  c->owner = r->first.user_id;
  c->created_at = r->first.created_at;
  c->metadata = r->first.metadata;
  meter_conv(*c);
  if (!r->second.empty()) {
    std::vector<ItemPtr> loaded;
    loaded.reserve(r->second.size());
    for (auto& row : r->second) loaded.push_back(std::move(row.item));
    conv_insert_sorted(*c, r->second.front().seq, loaded);
    for (size_t i = 0; i < loaded.size(); ++i) c->items[i].seq = r->second[i].seq;  // seqs may have gaps
  }
  c->next_seq = c->items.empty() ? 0 : c->items.back().seq + 1;
  std::lock_guard lk(mu);
  auto [it, inserted] = convs.emplace(key_of(project, id), c);
  ConvPtr out = it->second;
  touch_locked(*out);
  if (inserted) trim_convs_locked();
  co_return out;
}

void Runtime::Impl::touch_locked(ConvState& c) {
  c.last_used = ++conv_clock;
  c.used_at = std::chrono::steady_clock::now();
}

// Bounds the conversation cache by count and by bytes: drops the least recently used
// conversations nobody is using (a turn in flight holds its own reference, so its state is never
// duplicated by a reload), down to nine tenths of the bound so that trims are rare. Caller holds mu.
void Runtime::Impl::trim_convs_locked() {
  constexpr size_t kMaxConvs = 100'000;
  const auto budget = static_cast<int64_t>(opts.conversation_cache_bytes);
  if (convs.size() <= kMaxConvs && conv_meter->load(std::memory_order_relaxed) <= budget) return;
  std::vector<std::pair<uint64_t, std::string>> idle;
  for (const auto& [k, c] : convs)
    if (c.use_count() == 1) idle.emplace_back(c->last_used, k);
  std::sort(idle.begin(), idle.end());
  for (const auto& [used, k] : idle) {
    if (convs.size() <= kMaxConvs * 9 / 10 && conv_meter->load(std::memory_order_relaxed) <= budget * 9 / 10) break;
    convs.erase(k);
  }
}

void Runtime::Impl::conv_insert_sorted(ConvState& c, int64_t first_seq, const std::vector<ItemPtr>& items) {
  int64_t bytes = 0;
  for (const auto& i : items) bytes += static_cast<int64_t>(i->approx_bytes() + sizeof(ConvItemRow));
  c.bytes += bytes;
  if (c.meter) c.meter->fetch_add(bytes, std::memory_order_relaxed);
  std::vector<ConvItemRow> add;
  for (size_t i = 0; i < items.size(); ++i) add.push_back({first_seq + static_cast<int64_t>(i), items[i]});
  if (c.items.empty() || c.items.back().seq < first_seq) {
    c.items.insert(c.items.end(), add.begin(), add.end());
  } else {
    c.items.insert(c.items.end(), add.begin(), add.end());
    std::stable_sort(c.items.begin(), c.items.end(),
                     [](const ConvItemRow& a, const ConvItemRow& b) { return a.seq < b.seq; });
  }
}

awaitable<Result<std::string>> Runtime::create_conversation(Scope scope, std::string metadata,
                                                            std::vector<Item> items) {
  auto& im = *impl_;
  const std::string project = scope.project;
  ConvRow row{project, new_id("conv"), im.clock.now_seconds(), std::move(metadata), scope.owner()};
  if (Status st = co_await im.resolve_references(scope, items, "items"); !st.ok()) co_return st;
  Impl::own_items(items, row.id, 0);
  std::vector<ItemPtr> ptrs;
  for (auto& i : items) ptrs.push_back(std::make_shared<const Item>(std::move(i)));
  std::function<Status(store::Database&)> store_fn10 = [row, ptrs, scope](store::Database& db) {
    if (Status s = repo::put_conversation(db, row); !s.ok()) return s;
    return repo::append_conv_items(db, scope, row.id, 0, ptrs);
  };
  Status st = co_await write_async(im.store, std::move(store_fn10));
  if (!st.ok()) co_return st;
  auto c = std::make_shared<ConvState>();
  c->project = project;
  c->id = row.id;
  c->owner = row.user_id;
  c->created_at = row.created_at;
  c->metadata = row.metadata;
  im.meter_conv(*c);
  Impl::conv_insert_sorted(*c, 0, ptrs);
  c->next_seq = static_cast<int64_t>(ptrs.size());
  {
    std::lock_guard lk(im.mu);
    im.touch_locked(*c);
    im.convs[key_of(project, row.id)] = c;
    im.trim_convs_locked();
  }
  co_return conversation_json(row.id, row.created_at, row.metadata);
}

awaitable<Result<std::string>> Runtime::get_conversation(Scope scope, const std::string& id) {
  auto c = co_await impl_->load_conv(scope, id);
  if (!c.ok()) co_return c.status();
  std::lock_guard lk((*c)->mu);
  co_return conversation_json(id, (*c)->created_at, (*c)->metadata);
}

awaitable<Result<ResponsePage>> Runtime::list_conversations(Scope scope, ListQuery q) {
  using R = Result<std::vector<ConvRow>>;
  std::function<R(store::Database&)> fn = [scope, q](store::Database& db) -> R {
    return repo::list_conversations(db, scope, q.after, q.desc, q.limit + 1);
  };
  auto rows = co_await read_async<R>(impl_->store, std::move(fn));
  if (!rows.ok()) co_return rows.status();
  ResponsePage page;
  page.has_more = static_cast<int>(rows->size()) > q.limit;
  if (page.has_more) rows->pop_back();
  for (const auto& row : *rows) page.data.push_back(json::parse(conversation_json(row.id, row.created_at, row.metadata)).as_object());
  co_return page;
}

awaitable<Result<std::string>> Runtime::update_conversation(Scope scope, const std::string& id,
                                                            std::string metadata) {
  auto c = co_await impl_->load_conv(scope, id);
  if (!c.ok()) co_return c.status();
  std::function<Status(store::Database&)> store_fn11 = [scope, id, metadata](store::Database& db) {
    return repo::update_conversation(db, scope, id, metadata);
  };
  Status st = co_await write_async(impl_->store, std::move(store_fn11));
  if (!st.ok()) co_return st;
  std::lock_guard lk((*c)->mu);
  (*c)->metadata = std::move(metadata);
  co_return conversation_json(id, (*c)->created_at, (*c)->metadata);
}

awaitable<Result<std::string>> Runtime::delete_conversation(Scope scope, const std::string& id) {
  auto c = co_await impl_->load_conv(scope, id);
  if (!c.ok()) co_return c.status();
  std::function<Status(store::Database&)> store_fn12 = [scope, id](store::Database& db) {
    return repo::delete_conversation(db, scope, id);
  };
  Status st = co_await write_async(impl_->store, std::move(store_fn12));
  if (!st.ok()) co_return st;
  {
    std::lock_guard lk((*c)->mu);
    (*c)->deleted = true;
  }
  {
    std::lock_guard lk(impl_->mu);
    impl_->convs.erase(key_of(scope.project, id));
  }
  co_return json::serialize(json::object{{"id", id}, {"object", "conversation.deleted"}, {"deleted", true}});
}

awaitable<Result<std::vector<ItemPtr>>> Runtime::add_conversation_items(Scope scope, const std::string& id,
                                                                        std::vector<Item> items) {
  auto c = co_await impl_->load_conv(scope, id);
  if (!c.ok()) co_return c.status();
  if (Status st = co_await impl_->resolve_references(scope, items, "items"); !st.ok()) co_return st;
  int64_t first;
  {
    std::lock_guard lk((*c)->mu);
    first = (*c)->next_seq;
    (*c)->next_seq += static_cast<int64_t>(items.size());
  }
  Impl::own_items(items, id, static_cast<size_t>(first));
  std::vector<ItemPtr> ptrs;
  for (auto& i : items) ptrs.push_back(std::make_shared<const Item>(std::move(i)));
  std::function<Status(store::Database&)> store_fn13 = [scope, id, first, ptrs](store::Database& db) {
    return repo::append_conv_items(db, scope, id, first, ptrs);
  };
  Status st = co_await write_async(impl_->store, std::move(store_fn13));
  if (!st.ok()) co_return st;
  std::lock_guard lk((*c)->mu);
  Impl::conv_insert_sorted(**c, first, ptrs);
  co_return ptrs;
}

awaitable<Result<ItemPage>> Runtime::list_conversation_items(Scope scope, const std::string& id, ListQuery q) {
  auto c = co_await impl_->load_conv(scope, id);
  if (!c.ok()) co_return c.status();
  std::vector<ItemPtr> all;
  {
    std::lock_guard lk((*c)->mu);
    all.reserve((*c)->items.size());
    for (const auto& r : (*c)->items) all.push_back(r.item);
  }
  co_return paginate(std::move(all), q);
}

awaitable<Result<ItemPtr>> Runtime::get_conversation_item(Scope scope, const std::string& conv,
                                                          const std::string& item) {
  auto c = co_await impl_->load_conv(scope, conv);
  if (!c.ok()) co_return c.status();
  std::lock_guard lk((*c)->mu);
  for (const auto& r : (*c)->items)
    if (r.item->id == item) co_return r.item;
  co_return Status(Code::not_found, "Item with id '" + item + "' not found.");
}

awaitable<Result<std::string>> Runtime::delete_conversation_item(Scope scope, const std::string& conv,
                                                                 const std::string& item) {
  auto c = co_await impl_->load_conv(scope, conv);
  if (!c.ok()) co_return c.status();
  std::optional<int64_t> seq;
  {
    std::lock_guard lk((*c)->mu);
    for (const auto& r : (*c)->items)
      if (r.item->id == item) seq = r.seq;
  }
  if (!seq) co_return Status(Code::not_found, "Item with id '" + item + "' not found.");
  std::function<Status(store::Database&)> store_fn14 = [scope, conv, s = *seq](store::Database& db) {
    return repo::delete_conv_item(db, scope, conv, s);
  };
  Status st = co_await write_async(impl_->store, std::move(store_fn14));
  if (!st.ok()) co_return st;
  std::lock_guard lk((*c)->mu);
  std::erase_if((*c)->items, [&](const ConvItemRow& r) { return r.seq == *seq; });
  co_return conversation_json(conv, (*c)->created_at, (*c)->metadata);
}

}  // namespace cn::runtime
