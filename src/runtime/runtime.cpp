#include "runtime/runtime.hpp"

#include <boost/asio.hpp>

#include <algorithm>
#include <deque>
#include <unordered_map>

#include "base/ids.hpp"
#include "base/log.hpp"
#include "store/async.hpp"

namespace cn::runtime {
namespace net = boost::asio;
using store::read_async;
using store::write_async;
}  // namespace cn::runtime
#include "runtime/repo.hpp"
#include "runtime/run_state.hpp"
#include "wire/items.hpp"

namespace cn::runtime {

namespace {

// An immutable node of the response tree: one stored turn and a pointer to its parent. The
// context of a turn is the path from the root; nodes are shared by every branch below them.
struct ChainNode {
  std::string id;
  std::shared_ptr<const ChainNode> parent;
  std::vector<ItemPtr> inputs, outputs;
  int64_t created_at = 0;
  int64_t tokens = 0;  // this node's items only
};
using NodePtr = std::shared_ptr<const ChainNode>;

// A conversation's hot state. Items are kept in seq order.
struct ConvState {
  std::string project, id;
  int64_t created_at = 0;
  std::mutex mu;
  std::string metadata;             // guarded by mu
  std::vector<ConvItemRow> items;   // guarded by mu
  int64_t next_seq = 0;             // guarded by mu
  bool deleted = false;             // guarded by mu
};
using ConvPtr = std::shared_ptr<ConvState>;

std::string key_of(const std::string& project, const std::string& id) { return project + "\x1f" + id; }

// A turn waiting for its line (conversation or chain tip).
struct LineWaiter {
  std::shared_ptr<Run> run;
  bool granted = false;
  bool abandoned = false;
  std::function<void()> wake;
};

struct Line {
  std::shared_ptr<Run> current;
  std::deque<std::shared_ptr<LineWaiter>> waiting;
};

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

Status not_found_response(const std::string& id) {
  return Status(Code::not_found, "Response with id '" + id + "' not found.");
}
// One page of `all` (oldest first) in the order and from the cursor `q` asks for.
Result<ItemPage> paginate(std::vector<ItemPtr> all, const ListQuery& q) {
  if (q.desc) std::reverse(all.begin(), all.end());
  size_t start = 0;
  if (q.after) {
    auto it = std::find_if(all.begin(), all.end(), [&](const ItemPtr& i) { return i->id == *q.after; });
    if (it == all.end()) return Status(Code::invalid_argument, "No item with id '" + *q.after + "' in this list.", "after");
    start = static_cast<size_t>(it - all.begin()) + 1;
  }
  ItemPage page;
  for (size_t i = start; i < all.size() && page.items.size() < static_cast<size_t>(q.limit); ++i)
    page.items.push_back(all[i]);
  page.has_more = start + page.items.size() < all.size();
  return page;
}

Status not_found_conversation(const std::string& id) {
  return Status(Code::not_found, "Conversation with id '" + id + "' not found.");
}

}  // namespace

struct Runtime::Impl {
  net::io_context& io;
  store::Executor& store;
  model::Registry& models;
  RuntimeOptions opts;
  Clock& clock;

  mutable std::mutex mu;
  std::unordered_map<std::string, std::shared_ptr<Run>> live;     // guarded by mu
  std::deque<std::shared_ptr<Run>> recent;                        // guarded by mu
  std::unordered_map<std::string, Line> lines;                    // guarded by mu
  std::unordered_map<std::string, NodePtr> nodes;                 // guarded by mu
  std::deque<std::string> node_order;                             // guarded by mu (FIFO eviction)
  std::unordered_map<std::string, ConvPtr> convs;                 // guarded by mu
  size_t active = 0;                                              // guarded by mu
  bool shutting_down = false;                                     // guarded by mu
  uint64_t hits = 0, misses = 0;                                  // guarded by mu

  memory::Memory* memory;

  Impl(net::io_context& i, store::Executor& s, model::Registry& m, RuntimeOptions o, memory::Memory* mem, Clock& c)
      : io(i), store(s), models(m), opts(o), clock(c), memory(mem) {}

  // ---- chain cache -------------------------------------------------------------------------

  void cache_node(const std::string& project, NodePtr n) {
    std::lock_guard lk(mu);
    auto k = key_of(project, n->id);
    if (nodes.emplace(k, std::move(n)).second) node_order.push_back(k);
    while (nodes.size() > opts.chain_cache_nodes && !node_order.empty()) {
      nodes.erase(node_order.front());
      node_order.pop_front();
    }
  }

  NodePtr cached_node(const std::string& project, const std::string& id) {
    std::lock_guard lk(mu);
    auto it = nodes.find(key_of(project, id));
    if (it == nodes.end()) {
      ++misses;
      return nullptr;
    }
    ++hits;
    return it->second;
  }

  // The node of a stored response, from the cache or loaded (with uncached ancestors) from disk.
  awaitable<Result<NodePtr>> load_node(const std::string& project, const std::string& id) {
    if (auto n = cached_node(project, id)) co_return n;
    std::function<Result<std::vector<std::pair<ResponseRow, std::vector<ItemPtr>>>>(store::Database&)> store_fn0 = [this, project, id](store::Database& db)
                   -> Result<std::vector<std::pair<ResponseRow, std::vector<ItemPtr>>>> {
          std::vector<std::pair<ResponseRow, std::vector<ItemPtr>>> chain;  // child first
          std::string cur = id;
          for (;;) {
            auto row = repo::get_response(db, project, cur);
            if (!row.ok()) {
              if (chain.empty()) return row.status();
              break;  // an expired ancestor: the chain starts here
            }
            // A deleted response is gone for its own id, but stays as its children's context.
            if (chain.empty() && row->deleted) return not_found_response(cur);
            auto in = repo::response_items(db, project, cur, ItemKind::input);
            if (!in.ok()) return in.status();
            auto out = repo::response_items(db, project, cur, ItemKind::output);
            if (!out.ok()) return out.status();
            std::vector<ItemPtr> items = std::move(*in);
            items.insert(items.end(), out->begin(), out->end());
            bool has_parent = row->parent_id.has_value();
            std::string parent = row->parent_id.value_or("");
            size_t n_in = items.size() - out->size();
            row->body.clear();
            row->events.clear();
            row->events = std::to_string(n_in);  // reuse the field to carry the split
            chain.emplace_back(std::move(*row), std::move(items));
            if (!has_parent) break;
            {
              std::lock_guard lk(mu);
              if (nodes.count(key_of(project, parent))) break;
            }
            cur = parent;
          }
          return chain;
        };
    auto loaded = co_await read_async<Result<std::vector<std::pair<ResponseRow, std::vector<ItemPtr>>>>>(
        store, std::move(store_fn0));
    if (!loaded.ok()) co_return loaded.status();
    auto& chain = *loaded;
    NodePtr parent;
    if (!chain.empty() && chain.back().first.parent_id)
      parent = cached_node(project, *chain.back().first.parent_id);
    for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
      auto n = std::make_shared<ChainNode>();
      n->id = it->first.id;
      n->parent = parent;
      n->created_at = it->first.created_at;
      size_t n_in = std::stoul(it->first.events);
      n->inputs.assign(it->second.begin(), it->second.begin() + static_cast<long>(n_in));
      n->outputs.assign(it->second.begin() + static_cast<long>(n_in), it->second.end());
      for (const auto& i : it->second) n->tokens += i->token_estimate();
      parent = n;
      cache_node(project, n);
    }
    co_return parent;
  }

  static std::vector<ItemPtr> path_items(const NodePtr& tip) {
    std::vector<const ChainNode*> path;
    size_t n = 0;
    for (const ChainNode* c = tip.get(); c; c = c->parent.get()) {
      path.push_back(c);
      n += c->inputs.size() + c->outputs.size();
    }
    std::vector<ItemPtr> out;
    out.reserve(n);
    for (auto it = path.rbegin(); it != path.rend(); ++it) {
      out.insert(out.end(), (*it)->inputs.begin(), (*it)->inputs.end());
      out.insert(out.end(), (*it)->outputs.begin(), (*it)->outputs.end());
    }
    return out;
  }

  // ---- conversations -----------------------------------------------------------------------

  awaitable<Result<ConvPtr>> load_conv(const std::string& project, const std::string& id) {
    {
      std::lock_guard lk(mu);
      auto it = convs.find(key_of(project, id));
      if (it != convs.end()) {
        std::lock_guard lk2(it->second->mu);
        if (it->second->deleted) co_return not_found_conversation(id);
        co_return it->second;
      }
    }
    using Loaded = std::pair<ConvRow, std::vector<ConvItemRow>>;
    std::function<Result<Loaded>(store::Database&)> store_fn1 = [project, id](store::Database& db) -> Result<Loaded> {
      auto c = repo::get_conversation(db, project, id);
      if (!c.ok()) return c.status();
      auto items = repo::conversation_items(db, project, id);
      if (!items.ok()) return items.status();
      return Loaded{std::move(*c), std::move(*items)};
    };
    auto r = co_await read_async<Result<Loaded>>(store, std::move(store_fn1));
    if (!r.ok()) co_return r.status();
    auto c = std::make_shared<ConvState>();
    c->project = project;
    c->id = id;
    c->created_at = r->first.created_at;
    c->metadata = r->first.metadata;
    c->items = std::move(r->second);
    c->next_seq = c->items.empty() ? 0 : c->items.back().seq + 1;
    std::lock_guard lk(mu);
    auto [it, inserted] = convs.emplace(key_of(project, id), c);
    ConvPtr out = it->second;
    if (inserted) trim_convs_locked();
    co_return out;
  }

  // Bounds the conversation cache: drops conversations nobody is using (a turn in flight holds
  // its own reference, so its state is never duplicated by a reload). Caller holds mu.
  void trim_convs_locked() {
    constexpr size_t kMaxConvs = 100'000;
    if (convs.size() <= kMaxConvs) return;
    for (auto it = convs.begin(); it != convs.end() && convs.size() > kMaxConvs * 9 / 10;) {
      if (it->second.use_count() == 1) it = convs.erase(it);
      else ++it;
    }
  }

  static void conv_insert_sorted(ConvState& c, int64_t first_seq, const std::vector<ItemPtr>& items) {
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

  // ---- lines -------------------------------------------------------------------------------

  static Status busy_status() {
    return Status(Code::aborted,
                  "Another response is in progress on this conversation or response chain. Retry "
                  "when it has finished, or send \"concurrency\": \"enqueue\" or \"interrupt\".",
                  "", "conversation_busy");
  }

  // Takes the line `key` for `run`: at once when free; otherwise refuses (reject), waits in
  // arrival order (enqueue), or cancels the holder and waits first in line (interrupt).
  awaitable<Status> acquire(const std::string& key, Concurrency mode, std::shared_ptr<Run> run) {
    auto ex = co_await net::this_coro::executor;
    auto timer = std::make_shared<net::steady_timer>(ex, std::chrono::steady_clock::time_point::max());
    auto w = std::make_shared<LineWaiter>();
    std::shared_ptr<Run> to_cancel;
    {
      std::lock_guard lk(mu);
      auto& line = lines[key];
      if (!line.current) {
        line.current = run;
        co_return Status();
      }
      if (mode == Concurrency::reject) co_return busy_status();
      if (line.waiting.size() >= opts.max_waiting_per_line) {
        co_return Status(Code::resource_exhausted, "Too many turns are waiting on this conversation.",
                         "", "rate_limit_exceeded")
            .with_retry_after(1);
      }
      w->run = run;
      w->wake = [timer, ex] { net::post(ex, [timer] { timer->cancel(); }); };
      if (mode == Concurrency::interrupt) {
        line.waiting.push_front(w);
        to_cancel = line.current;
      } else {
        line.waiting.push_back(w);
      }
    }
    if (to_cancel) request_cancel(to_cancel, "interrupt");
    for (;;) {
      {
        std::lock_guard lk(mu);
        if (w->granted) co_return Status();
      }
      co_await timer->async_wait(net::as_tuple(net::use_awaitable));
    }
  }

  void release(const std::string& key) {
    std::shared_ptr<LineWaiter> next;
    {
      std::lock_guard lk(mu);
      auto it = lines.find(key);
      if (it == lines.end()) return;
      auto& line = it->second;
      line.current.reset();
      while (!line.waiting.empty()) {
        next = line.waiting.front();
        line.waiting.pop_front();
        if (!next->abandoned) break;
        next.reset();
      }
      if (next) {
        line.current = next->run;
        next->granted = true;
      } else {
        lines.erase(it);
      }
    }
    if (next) next->wake();
  }

  void request_cancel(const std::shared_ptr<Run>& run, const std::string& reason) {
    {
      std::lock_guard lk(run->mu_);
      if (run->st_->done) return;
      if (run->st_->cancel_reason.empty()) run->st_->cancel_reason = reason;
    }
    run->st_->cancel->cancel();
  }

  // ---- running a turn ----------------------------------------------------------------------

  class Sink final : public model::ModelSink {
   public:
    explicit Sink(Run& r) : run_(r) {}

    void reasoning_delta(std::string_view t) override {
      std::lock_guard lk(run_.mu_);
      auto& st = *run_.st_;
      int idx = open_of(ItemType::reasoning);
      if (idx < 0) {
        close_text_items();
        idx = begin(ItemType::reasoning, new_id("rs"));
        run_.publish("response.content_part.added",
                     {{"item_id", st.output[idx].id}, {"output_index", idx}, {"content_index", 0},
                      {"part", json::object{{"type", "reasoning_text"}, {"text", ""}}}});
      }
      st.output[idx].text += t;
      if (st.record_events) run_.publish("response.reasoning_text.delta", {{"item_id", st.output[idx].id},
                                                     {"output_index", idx},
                                                     {"content_index", 0},
                                                     {"delta", t}});
      started_ = true;
      wake();
    }

    void text_delta(std::string_view t) override {
      std::lock_guard lk(run_.mu_);
      auto& st = *run_.st_;
      int idx = open_of(ItemType::message);
      if (idx < 0) {
        close_text_items();
        idx = begin(ItemType::message, new_id("msg"));
        run_.publish("response.content_part.added",
                     {{"item_id", st.output[idx].id}, {"output_index", idx}, {"content_index", 0},
                      {"part", json::object{{"type", "output_text"}, {"text", ""},
                                            {"annotations", json::array()},
                                            {"logprobs", json::array()}}}});
      }
      st.output[idx].text += t;
      if (st.record_events) run_.publish("response.output_text.delta", {{"item_id", st.output[idx].id},
                                                  {"output_index", idx},
                                                  {"content_index", 0},
                                                  {"delta", t},
                                                  {"logprobs", json::array()}});
      started_ = true;
      wake();
    }

    void tool_call_begin(int index, std::string call_id, std::string name) override {
      std::lock_guard lk(run_.mu_);
      close_text_items();
      bool builtin = memory_tools_ && (name == "memory_search" || name == "memory_write");
      OutItem o{builtin ? ItemType::memory_call : ItemType::function_call, new_id(builtin ? "mc" : "fc")};
      o.call_id = std::move(call_id);
      o.name = std::move(name);
      int idx = push(std::move(o));
      calls_[index] = idx;
      started_ = true;
      wake();
    }

    void tool_call_delta(int index, std::string_view args) override {
      std::lock_guard lk(run_.mu_);
      auto it = calls_.find(index);
      if (it == calls_.end()) return;
      auto& o = run_.st_->output[it->second];
      o.text += args;
      if (o.type == ItemType::function_call && run_.st_->record_events) run_.publish("response.function_call_arguments.delta",
                   {{"item_id", o.id}, {"output_index", it->second}, {"delta", args}});
      wake();
    }

    bool started() const override { return started_; }

    // Offers the built-in memory tools: calls to them become memory_call items.
    void enable_memory_tools() { memory_tools_ = true; }
    // A new model call of the same run starts: tool-call indices restart from 0.
    void next_step() {
      std::lock_guard lk(run_.mu_);
      close_text_items();
      calls_.clear();
    }
    // Memory calls the model made in the last step and nobody executed yet (output indices).
    std::vector<int> pending_memory_calls() {
      std::lock_guard lk(run_.mu_);
      std::vector<int> out;
      auto& st = *run_.st_;
      for (size_t i = 0; i < st.output.size(); ++i)
        if (st.output[i].open && st.output[i].type == ItemType::memory_call) out.push_back(static_cast<int>(i));
      return out;
    }
    bool has_client_calls() {
      std::lock_guard lk(run_.mu_);
      for (const auto& o : run_.st_->output)
        if (o.open && o.type == ItemType::function_call) return true;
      return false;
    }
    // Records a memory call's result and closes it.
    void complete_memory_call(int idx, std::string output) {
      {
        std::lock_guard lk(run_.mu_);
        auto& o = run_.st_->output[static_cast<size_t>(idx)];
        o.output = std::move(output);
        o.open = false;
        o.status = "completed";
        run_.publish("response.output_item.done", {{"output_index", idx}, {"item", out_item_json(o)}});
      }
      run_.wake_all();
    }

    // Closes every open item with `status` ("completed" or "incomplete").
    void finish(const std::string& status) {
      std::lock_guard lk(run_.mu_);
      close_text_items(status);
      auto& st = *run_.st_;
      for (size_t i = 0; i < st.output.size(); ++i) {
        auto& o = st.output[i];
        if (!o.open || o.type != ItemType::function_call) continue;
        o.open = false;
        o.status = status;
        int idx = static_cast<int>(i);
        run_.publish("response.function_call_arguments.done",
                     {{"item_id", o.id}, {"output_index", idx}, {"name", o.name}, {"arguments", o.text}});
        run_.publish("response.output_item.done", {{"output_index", idx}, {"item", out_item_json(o)}});
      }
    }

   private:
    int open_of(ItemType t) {
      auto& out = run_.st_->output;
      for (int i = static_cast<int>(out.size()) - 1; i >= 0; --i)
        if (out[i].open && out[i].type == t) return i;
      return -1;
    }
    int push(OutItem o) {
      auto& out = run_.st_->output;
      out.push_back(std::move(o));
      int idx = static_cast<int>(out.size()) - 1;
      run_.publish("response.output_item.added", {{"output_index", idx}, {"item", out_item_json(out[idx])}});
      return idx;
    }
    int begin(ItemType t, std::string id) { return push(OutItem{t, std::move(id)}); }
    void close_text_items(const std::string& status = "completed") {
      auto& out = run_.st_->output;
      for (size_t i = 0; i < out.size(); ++i) {
        auto& o = out[i];
        if (!o.open || o.type == ItemType::function_call) continue;
        o.open = false;
        o.status = status;
        int idx = static_cast<int>(i);
        if (o.type == ItemType::message) {
          json::object part{{"type", "output_text"}, {"text", o.text}, {"annotations", json::array()},
                            {"logprobs", json::array()}};
          run_.publish("response.output_text.done", {{"item_id", o.id}, {"output_index", idx},
                                                     {"content_index", 0}, {"text", o.text},
                                                     {"logprobs", json::array()}});
          run_.publish("response.content_part.done", {{"item_id", o.id}, {"output_index", idx},
                                                      {"content_index", 0}, {"part", part}});
        } else {
          run_.publish("response.reasoning_text.done", {{"item_id", o.id}, {"output_index", idx},
                                                        {"content_index", 0}, {"text", o.text}});
          run_.publish("response.content_part.done",
                       {{"item_id", o.id}, {"output_index", idx}, {"content_index", 0},
                        {"part", json::object{{"type", "reasoning_text"}, {"text", o.text}}}});
        }
        run_.publish("response.output_item.done", {{"output_index", idx}, {"item", out_item_json(o)}});
      }
    }
    void wake() { pending_wake_ = true; }

   public:
    // Wakes followers; called outside the run's lock after each provider callback batch.
    void flush() {
      if (pending_wake_) {
        pending_wake_ = false;
        run_.wake_all();
      }
    }

   private:
    Run& run_;
    std::map<int, int> calls_;
    bool memory_tools_ = false;
    bool started_ = false;
    bool pending_wake_ = false;
  };

  struct Turn {
    std::shared_ptr<CreateParams> params;
    std::vector<ItemPtr> inputs;
    std::vector<std::string> line_keys;
    NodePtr parent;
    ConvPtr conv;
    std::vector<ItemPtr> context;
    std::optional<std::vector<std::string>> memories_used;
  };

  // Resolves the context once the turn holds its lines. Fails with 400 on a context that does
  // not fit (truncation disabled).
  awaitable<Status> assemble(Turn& t) {
    const auto& p = *t.params;
    std::vector<ItemPtr> ctx;
    if (p.previous_response_id) {
      auto n = co_await load_node(p.project_id, *p.previous_response_id);
      if (!n.ok()) {
        if (n.status().code() == Code::not_found)
          co_return Status(Code::invalid_argument,
                           "Previous response with id '" + *p.previous_response_id + "' not found.",
                           "previous_response_id", "previous_response_not_found");
        co_return n.status();
      }
      t.parent = *n;
      ctx = path_items(t.parent);
    } else if (p.conversation_id) {
      auto c = co_await load_conv(p.project_id, *p.conversation_id);
      if (!c.ok()) {
        Status st = c.status();
        if (st.code() == Code::not_found)
          co_return Status(Code::not_found, st.message(), "conversation", "conversation_not_found");
        co_return st;
      }
      t.conv = *c;
      std::lock_guard lk(t.conv->mu);
      if (t.conv->deleted) co_return Status(Code::not_found, "Conversation with id '" + *p.conversation_id + "' not found.", "conversation");
      ctx.reserve(t.conv->items.size() + t.inputs.size());
      for (const auto& ci : t.conv->items) ctx.push_back(ci.item);
    }
    size_t history = ctx.size();
    ctx.insert(ctx.end(), t.inputs.begin(), t.inputs.end());

    // Long-term memory relevant to this turn's input, as a delimited block before the history.
    if (memory && p.memory_on && !p.memory_user.empty()) {
      std::string query;
      for (const auto& i : t.inputs)
        if (i->type == ItemType::message) query += i->text() + "\n";
      std::vector<std::string> used;
      if (!query.empty()) {
        memory::Namespace ns{p.memory_user, p.memory_agent, p.conversation_id.value_or("")};
        auto found = co_await memory->relevant(p.project_id, ns, query);
        if (!found.ok()) {
          spdlog::warn("memory retrieval failed: {}", found.status().message());
        } else if (!found->empty()) {
          std::string block =
              "<long_term_memory>\nWhat you remember about this user from earlier conversations "
              "(may be outdated; the user's current words win):\n";
          for (const auto& r : *found) {
            block += "- " + r.text + "\n";
            used.push_back(r.id);
          }
          block += "</long_term_memory>";
          Item m;
          m.id = new_id("msg");
          m.role = "system";
          m.content.push_back({"input_text", block});
          wire::finalize_wire(m);
          ctx.insert(ctx.begin(), std::make_shared<const Item>(std::move(m)));
          ++history;
        }
      }
      t.memories_used = std::move(used);
    }

    int64_t window = models.context_window(p.model);
    int64_t budget = window - (p.max_output_tokens.value_or(0));
    int64_t total = p.instructions ? static_cast<int64_t>(p.instructions->size() / 4) + 4 : 0;
    for (const auto& i : ctx) total += i->token_estimate();
    if (total > budget) {
      if (!p.truncation_auto) {
        co_return Status(Code::invalid_argument,
                         "Your input exceeds the context window of this model (about " +
                             std::to_string(total) + " tokens of " + std::to_string(window) +
                             "). Shorten the input, or set \"truncation\": \"auto\".",
                         "input", "context_length_exceeded");
      }
      size_t drop = 0;
      while (drop < history && total > budget) total -= ctx[drop++]->token_estimate();
      // Never start mid-turn: skip to the next user message (or the new input).
      while (drop < history && !(ctx[drop]->type == ItemType::message && ctx[drop]->role == "user")) {
        total -= ctx[drop++]->token_estimate();
      }
      if (total > budget) {
        co_return Status(Code::invalid_argument,
                         "This turn's input alone exceeds the context window of this model.",
                         "input", "context_length_exceeded");
      }
      ctx.erase(ctx.begin(), ctx.begin() + static_cast<long>(drop));
    }
    t.context = std::move(ctx);
    co_return Status();
  }

  void release_turn(Turn& t, const std::shared_ptr<Run>& run) {
    for (auto it = t.line_keys.rbegin(); it != t.line_keys.rend(); ++it) release(*it);
    t.line_keys.clear();
  }

  void end_active(const std::shared_ptr<Run>& run) {
    std::lock_guard lk(mu);
    live.erase(key_of(run->project_id(), run->id()));
    recent.push_back(run);
    while (recent.size() > opts.recent_runs) recent.pop_front();
    --active;
  }

  // The function definitions of the built-in memory tools, added to the request's tools.
  static std::string with_memory_tools(const std::string& tools_json) {
    json::array tools;
    if (!tools_json.empty()) tools = json::parse(tools_json).as_array();
    tools.push_back(json::object{
        {"type", "function"},
        {"name", "memory_search"},
        {"description", "Search what you remember about the user from earlier conversations."},
        {"parameters", json::object{{"type", "object"},
                                    {"properties", json::object{{"query", json::object{{"type", "string"}}},
                                                                {"top_k", json::object{{"type", "integer"}}}}},
                                    {"required", json::array{"query"}}}}});
    tools.push_back(json::object{
        {"type", "function"},
        {"name", "memory_write"},
        {"description", "Remember a durable fact or preference about the user for future conversations."},
        {"parameters", json::object{{"type", "object"},
                                    {"properties", json::object{{"text", json::object{{"type", "string"}}},
                                                                {"kind", json::object{{"type", "string"}, {"enum", json::array{"fact", "preference"}}}}}},
                                    {"required", json::array{"text"}}}}});
    return json::serialize(tools);
  }

  // Runs one built-in memory tool call for the run's user; the result (or the error) is JSON
  // text for the model.
  awaitable<std::string> run_memory_tool(const CreateParams& p, const std::string& response_id,
                                         const std::string& name, const std::string& arguments) {
    auto error = [](const std::string& m) { return json::serialize(json::object{{"error", m}}); };
    boost::system::error_code ec;
    auto args = json::parse(arguments, ec);
    if (ec || !args.is_object()) co_return error("arguments must be a JSON object");
    const auto& a = args.as_object();
    if (name == "memory_search") {
      auto* q = a.if_contains("query");
      if (!q || !q->is_string() || q->as_string().empty()) co_return error("'query' must be a non-empty string");
      size_t k = 5;
      if (auto* t = a.if_contains("top_k"); t && t->is_int64()) k = static_cast<size_t>(std::clamp<int64_t>(t->as_int64(), 1, 20));
      memory::Filter f;
      f.user_id = p.memory_user;
      std::string query(q->as_string());
      auto r = co_await memory->search(p.project_id, std::move(query), f, k * 2);
      if (!r.ok()) co_return error(r.status().message());
      json::array results;
      memory::Namespace ns{p.memory_user, p.memory_agent, p.conversation_id.value_or("")};
      for (const auto& rec : *r)
        if (results.size() < k && memory::visible(rec, ns))
          results.push_back(json::object{{"id", rec.id}, {"text", rec.text}, {"kind", rec.kind}});
      co_return json::serialize(json::object{{"results", std::move(results)}});
    }
    if (name == "memory_write") {
      auto* t = a.if_contains("text");
      if (!t || !t->is_string() || t->as_string().empty() || t->as_string().size() > 4000)
        co_return error("'text' must be a string of 1 to 4000 characters");
      std::string kind = "fact";
      if (auto* kv = a.if_contains("kind"); kv && kv->is_string() && (kv->as_string() == "preference" || kv->as_string() == "fact"))
        kind = std::string(kv->as_string());
      memory::Source src{"tool", response_id, p.conversation_id.value_or(""), {}};
      memory::Namespace ns{p.memory_user, p.memory_agent, ""};
      std::string text(t->as_string());
      auto r = co_await memory->write(p.project_id, std::move(ns), std::move(kind), std::move(text), "{}", std::move(src));
      if (!r.ok()) co_return error(r.status().message());
      co_return json::serialize(json::object{{"id", r->id}, {"status", "remembered"}});
    }
    co_return error("unknown tool " + name);
  }

  // The store write of a finished turn. Built outside the coroutine on purpose: GCC 12
  // miscompiles init-captures of coroutine locals.
  static std::function<Status(store::Database&)> commit_fn(ResponseRow row, std::vector<ItemPtr> inputs,
                                                           std::vector<ItemPtr> outputs, ConvPtr conv,
                                                           int64_t first_seq,
                                                           std::vector<ItemPtr> conv_items,
                                                           memory::Memory* mem,
                                                           std::optional<memory::TurnForExtraction> learn) {
    return [row = std::move(row), inputs = std::move(inputs), outputs = std::move(outputs),
            conv = std::move(conv), first_seq, conv_items = std::move(conv_items), mem,
            learn = std::move(learn)](store::Database& db) {
      if (Status s = repo::put_response(db, row, inputs, outputs); !s.ok()) return s;
      if (conv) {
        if (Status s = repo::append_conv_items(db, row.project_id, conv->id, first_seq, conv_items); !s.ok()) return s;
      }
      // Extraction is enqueued in the turn's own transaction: a turn is never stored without
      // its memory job, nor a job without its turn.
      if (mem && learn) return mem->enqueue_extraction(db, *learn);
      return Status();
    };
  }

  // Executes a turn that holds its lines and has its context. Ends by storing the outcome,
  // publishing the terminal event, and releasing the lines.
  awaitable<void> execute(std::shared_ptr<Run> run, std::shared_ptr<Turn> t) {
    auto& p = *t->params;
    {
      std::lock_guard lk(run->mu_);
      bool was_queued = run->st_->status == "queued";
      run->st_->status = "in_progress";
      run->st_->memories_used = t->memories_used;
      if (was_queued) {
        run->publish("response.in_progress", {{"response", response_object(run->id(), *run->st_)}});
      }
    }
    run->wake_all();

    // Deadline: cancel the run when it passes.
    std::weak_ptr<Run> weak = run;
    auto run_ex = co_await net::this_coro::executor;
    auto deadline = std::make_shared<net::steady_timer>(run_ex, opts.run_deadline);
    deadline->async_wait([this, weak](boost::system::error_code ec) {
      if (ec) return;
      if (auto r = weak.lock()) request_cancel(r, "deadline");
    });

    model::ModelRequest mr;
    mr.model = p.model;
    mr.instructions = p.instructions;
    mr.context = std::move(t->context);
    mr.tools_json = p.tools_json;
    mr.tool_choice_json = p.tool_choice_json;
    mr.parallel_tool_calls = p.parallel_tool_calls;
    mr.max_output_tokens = p.max_output_tokens;
    mr.temperature = p.temperature;
    mr.top_p = p.top_p;
    mr.text_format_json = p.text_format_json;
    mr.user = p.user;
    int64_t input_estimate = 0;
    for (const auto& i : mr.context) input_estimate += i->token_estimate();

    Sink sink(*run);
    if (p.memory_tools && memory) {
      sink.enable_memory_tools();
      mr.tools_json = with_memory_tools(mr.tools_json);
    }
    Result<model::ModelResult> res = Status(Code::internal, "no provider");
    Usage total_usage;
    bool usage_reported = true;
    auto prov = models.route(p.model);
    if (!prov.ok()) {
      res = prov.status();
    } else {
      // Provider callbacks run on this coroutine; flush wake-ups as they come.
      struct FlushingSink final : model::ModelSink {
        Sink& s;
        explicit FlushingSink(Sink& x) : s(x) {}
        void reasoning_delta(std::string_view t) override { s.reasoning_delta(t); s.flush(); }
        void text_delta(std::string_view t) override { s.text_delta(t); s.flush(); }
        void tool_call_begin(int i, std::string c, std::string n) override {
          s.tool_call_begin(i, std::move(c), std::move(n));
          s.flush();
        }
        void tool_call_delta(int i, std::string_view a) override { s.tool_call_delta(i, a); s.flush(); }
        bool started() const override { return s.started(); }
      } fs(sink);
      // The agent loop: built-in memory tools run here and the model is called again with their
      // results; client tools end the run so the client can answer them.
      constexpr int kMaxSteps = 8;
      for (int step = 0; step < kMaxSteps; ++step) {
        size_t first_new;
        {
          std::lock_guard lk(run->mu_);
          first_new = run->st_->output.size();
        }
        res = co_await (*prov)->generate(mr, fs, run->st_->cancel);
        if (!res.ok()) break;
        total_usage.input_tokens += res->usage.input_tokens;
        total_usage.output_tokens += res->usage.output_tokens;
        total_usage.cached_tokens += res->usage.cached_tokens;
        total_usage.reasoning_tokens += res->usage.reasoning_tokens;
        usage_reported = usage_reported && res->usage_reported;
        auto pending = sink.pending_memory_calls();
        if (pending.empty() || sink.has_client_calls() || step + 1 == kMaxSteps) break;
        sink.next_step();
        for (int idx : pending) {
          OutItem call;
          {
            std::lock_guard lk(run->mu_);
            call = run->st_->output[static_cast<size_t>(idx)];
          }
          std::string output = co_await run_memory_tool(p, run->id(), call.name, call.text);
          sink.complete_memory_call(idx, output);
        }
        // The next call sees this step's output: text, and each memory call with its result.
        std::lock_guard lk(run->mu_);
        for (size_t i = first_new; i < run->st_->output.size(); ++i) {
          const auto& o = run->st_->output[i];
          if (o.type == ItemType::message)
            mr.context.push_back(std::make_shared<const Item>(wire::make_output_message(o.id, o.text, "completed")));
          else if (o.type == ItemType::memory_call)
            mr.context.push_back(std::make_shared<const Item>(wire::make_memory_call(o.id, o.call_id, o.name, o.text, o.output)));
        }
      }
      if (res.ok()) {
        res->usage = total_usage;
        res->usage_reported = usage_reported;
      }
    }
    deadline->cancel();

    // Decide the outcome.
    std::string cancel_reason;
    {
      std::lock_guard lk(run->mu_);
      cancel_reason = run->st_->cancel_reason;
    }
    std::string status = "completed";
    std::optional<std::pair<std::string, std::string>> error;
    std::optional<std::string> incomplete;
    Status failure;
    if (!cancel_reason.empty() && (!res.ok() || true)) {
      if (cancel_reason == "deadline") {
        status = "failed";
        error = {"server_error", "The response did not finish within the run deadline."};
        failure = Status(Code::deadline_exceeded, error->second);
      } else if (cancel_reason == "shutdown") {
        status = "failed";
        error = {"server_error", "The server shut down while this response was in progress; it was interrupted."};
        failure = Status(Code::unavailable, error->second);
      } else {
        status = "cancelled";
      }
    } else if (!res.ok()) {
      status = "failed";
      const Status& st = res.status();
      error = {st.code() == Code::invalid_argument ? "invalid_prompt" : "server_error", st.message()};
      failure = st;
    } else if (res->finish_reason == "length" || res->finish_reason == "content_filter") {
      status = "incomplete";
      incomplete = res->finish_reason == "length" ? "max_output_tokens" : "content_filter";
    }
    sink.finish(status == "completed" ? "completed" : "incomplete");

    Usage usage;
    if (res.ok()) {
      usage = res->usage;
      if (!res->usage_reported && usage.input_tokens == 0) usage.input_tokens = input_estimate;
    }

    // The final state is built on a copy: followers and readers keep seeing the run in progress
    // until its outcome is committed; only then is it published (and so acknowledged).
    std::vector<ItemPtr> outputs;
    Run::State fin;
    {
      std::lock_guard lk(run->mu_);
      fin = *run->st_;
    }
    fin.status = status;
    fin.error = error;
    fin.incomplete_reason = incomplete;
    fin.usage = usage;
    fin.completed_at = status == "completed" ? std::optional<int64_t>(clock.now_seconds()) : std::nullopt;
    fin.failure = failure;
    for (const auto& o : fin.output) {
      Item it;
      switch (o.type) {
        case ItemType::message: it = wire::make_output_message(o.id, o.text, o.status); break;
        case ItemType::function_call:
          it = wire::make_function_call(o.id, o.call_id, o.name, o.text, o.status);
          break;
        case ItemType::reasoning: it = wire::make_reasoning(o.id, o.text); break;
        case ItemType::memory_call:
          if (o.open) continue;  // never executed (the run ended first)
          it = wire::make_memory_call(o.id, o.call_id, o.name, o.text, o.output);
          break;
        default: continue;
      }
      outputs.push_back(std::make_shared<const Item>(std::move(it)));
    }
    std::string terminal = terminal_event(run->id(), fin);

    Status stored;
    if (p.store) {
      ResponseRow row;
      row.project_id = p.project_id;
      row.id = run->id();
      row.parent_id = p.previous_response_id;
      row.conversation_id = p.conversation_id;
      row.status = status;
      row.background = p.background;
      row.created_at = fin.created_at;
      row.body = json::serialize(response_object(run->id(), fin, false));
      ConvPtr conv = t->conv;
      bool append = conv && (status == "completed" || status == "incomplete");
      std::vector<ItemPtr> conv_items;
      int64_t first_seq = 0;
      if (append) {
        conv_items = t->inputs;
        conv_items.insert(conv_items.end(), outputs.begin(), outputs.end());
        std::lock_guard lk(conv->mu);
        first_seq = conv->next_seq;
        conv->next_seq += static_cast<int64_t>(conv_items.size());
      }
      if (p.background) {
        // Background responses keep their whole event log, terminal event included, for replay.
        std::string blob = "[";
        for (const auto& e : fin.events) blob += e + ",";
        blob += terminal + "]";
        row.events = std::move(blob);
      }
      std::optional<memory::TurnForExtraction> learn;
      if (memory && p.memory_on && !p.memory_user.empty() && status == "completed") {
        memory::TurnForExtraction te;
        te.project_id = p.project_id;
        te.response_id = run->id();
        te.conversation_id = p.conversation_id.value_or("");
        te.model = p.model;
        te.ns = memory::Namespace{p.memory_user, p.memory_agent, te.conversation_id};
        te.items = t->inputs;
        te.items.insert(te.items.end(), outputs.begin(), outputs.end());
        learn = std::move(te);
      }
      bool learning = learn.has_value();
      auto commit = commit_fn(std::move(row), t->inputs, outputs, append ? conv : nullptr,
                              first_seq, conv_items, memory, std::move(learn));
      stored = co_await write_async(store, std::move(commit));
      if (!stored.ok()) {
        spdlog::error("storing response {} failed: {}", run->id(), stored.message());
      } else {
        if (learning) memory->notify();
        auto node = std::make_shared<ChainNode>();
        node->id = run->id();
        node->parent = t->parent;
        node->inputs = t->inputs;
        node->outputs = outputs;
        node->created_at = fin.created_at;
        cache_node(p.project_id, node);
        if (append) {
          std::lock_guard lk(conv->mu);
          conv_insert_sorted(*conv, first_seq, conv_items);
        }
      }
    }
    {
      std::lock_guard lk(run->mu_);
      auto& st = *run->st_;
      if (stored.ok()) {
        st.status = fin.status;
        st.error = fin.error;
        st.incomplete_reason = fin.incomplete_reason;
        st.usage = fin.usage;
        st.completed_at = fin.completed_at;
        st.failure = fin.failure;
        if (st.record_events) st.events.push_back(std::move(terminal));
      } else {
        st.status = "failed";
        st.error = std::make_pair(std::string("server_error"), std::string("The response could not be stored."));
        st.failure = Status(Code::unavailable, "The response could not be stored: " + stored.message());
        st.usage = fin.usage;
        run->publish("response.failed", {{"response", response_object(run->id(), st)}});
      }
      st.done = true;
    }
    release_turn(*t, run);
    end_active(run);
    run->wake_all();
  }

  // The terminal stream event of a run in state `st`, numbered after its last event.
  static std::string terminal_event(const std::string& id, const Run::State& st) {
    const char* type = st.status == "completed" ? "response.completed"
                       : st.status == "failed"  ? "response.failed"
                                                : "response.incomplete";
    json::object ev;
    ev["type"] = type;
    ev["sequence_number"] = static_cast<int64_t>(st.events.size());
    ev["response"] = response_object(id, st);
    return json::serialize(ev);
  }

  // Background path: waits for its lines, assembles, then executes; failures become a failed
  // response (the client already has the queued acknowledgement).
  awaitable<void> background(std::shared_ptr<Run> run, std::shared_ptr<Turn> t, Concurrency mode,
                             std::string line_key) {
    Status st;
    if (!line_key.empty()) {
      st = co_await acquire(line_key, mode == Concurrency::reject ? Concurrency::enqueue : mode, run);
      if (st.ok()) t->line_keys.insert(t->line_keys.begin(), line_key);
    }
    if (st.ok()) st = co_await assemble(*t);
    if (st.ok()) {
      co_await execute(run, t);
      co_return;
    }
    Run::State fin;
    {
      std::lock_guard lk(run->mu_);
      fin = *run->st_;
    }
    fin.status = "failed";
    fin.error = std::make_pair(std::string("server_error"), st.message());
    fin.failure = st;
    std::string body = json::serialize(response_object(run->id(), fin, false));
    auto project = run->project_id();
    auto id = run->id();
    std::function<Status(store::Database&)> store_fn2 = [project, id, body](store::Database& db) {
      return repo::update_response_status(db, project, id, "failed", body);
    };
    Status stored = co_await write_async(store, std::move(store_fn2));
    if (!stored.ok()) spdlog::error("storing the failure of response {} failed: {}", id, stored.message());
    {
      std::lock_guard lk(run->mu_);
      auto& cur = *run->st_;
      cur.status = fin.status;
      cur.error = fin.error;
      cur.failure = fin.failure;
      if (cur.record_events) cur.events.push_back(terminal_event(id, cur));
      cur.done = true;
    }
    release_turn(*t, run);
    end_active(run);
    run->wake_all();
  }
};

Runtime::Runtime(net::io_context& io, store::Executor& store, model::Registry& models,
                 RuntimeOptions opts, memory::Memory* memory, Clock& clock)
    : impl_(std::make_unique<Impl>(io, store, models, opts, memory, clock)) {}

Runtime::~Runtime() = default;

std::vector<store::Migration> Runtime::migrations() { return repo::migrations(); }

Status Runtime::recover() {
  std::promise<Status> done;
  auto fut = done.get_future();
  impl_->store.submit(
      [](store::Database& db) -> Status {
        auto rows = repo::unfinished(db);
        if (!rows.ok()) return rows.status();
        for (auto& r : *rows) {
          boost::system::error_code ec;
          auto v = json::parse(r.body, ec);
          if (ec || !v.is_object()) continue;
          auto& o = v.as_object();
          o["status"] = "failed";
          o["error"] = json::object{{"code", "server_error"},
                                    {"message", "The server stopped while this response was in "
                                                "progress; it was interrupted and did not finish."}};
          std::string events;
          if (Status s = repo::update_response_status(db, r.project_id, r.id, "failed", json::serialize(o));
              !s.ok())
            return s;
          spdlog::warn("recovered interrupted response {} as failed", r.id);
        }
        return Status();
      },
      [&done](Status st) { done.set_value(std::move(st)); });
  return fut.get();
}

awaitable<Result<std::shared_ptr<Run>>> Runtime::create(CreateParams params) {
  auto& im = *impl_;
  auto p = std::make_shared<CreateParams>(std::move(params));
  auto run = std::shared_ptr<Run>(new Run(new_id("resp"), p->project_id, p->background));
  {
    auto& st = *run->st_;
    st.model = p->model;
    st.instructions = p->instructions;
    st.echo = p->echo;
    st.previous_response_id = p->previous_response_id;
    st.conversation_id = p->conversation_id;
    st.store = p->store;
    st.created_at = im.clock.now_seconds();
    st.status = p->background ? "queued" : "in_progress";
    st.record_events = p->stream || p->background;
  }
  auto turn = std::make_shared<Impl::Turn>();
  turn->params = p;
  for (auto& it : p->input) turn->inputs.push_back(std::make_shared<const Item>(std::move(it)));
  p->input.clear();

  if (p->memory_tools) {
    if (!im.memory) co_return invalid_param("tools", "Memory tools are not available on this server.", "unsupported_parameter");
    if (p->memory_user.empty())
      co_return invalid_param("tools", "Memory tools need an end user: send 'safety_identifier' (or 'user') or the X-Continuum-User header.");
    if (!p->memory_on) co_return invalid_param("tools", "Memory tools cannot be used with \"memory\": \"off\".");
  }
  // Existence checks come first so that a bad reference is a 4xx, not a wait.
  std::string line_key;
  if (p->previous_response_id) {
    bool known;
    {
      std::lock_guard lk(im.mu);
      known = im.live.count(key_of(p->project_id, *p->previous_response_id)) > 0;
    }
    if (!known) {
      auto n = co_await im.load_node(p->project_id, *p->previous_response_id);
      if (!n.ok()) {
        if (n.status().code() == Code::not_found)
          co_return Status(Code::invalid_argument,
                           "Previous response with id '" + *p->previous_response_id + "' not found.",
                           "previous_response_id", "previous_response_not_found");
        co_return n.status();
      }
    }
    line_key = "resp:" + key_of(p->project_id, *p->previous_response_id);
  } else if (p->conversation_id) {
    auto c = co_await im.load_conv(p->project_id, *p->conversation_id);
    if (!c.ok()) {
      if (c.status().code() == Code::not_found)
        co_return Status(Code::not_found, c.status().message(), "conversation", "conversation_not_found");
      co_return c.status();
    }
    line_key = "conv:" + key_of(p->project_id, *p->conversation_id);
  }

  {
    std::lock_guard lk(im.mu);
    if (im.shutting_down)
      co_return Status(Code::unavailable, "The server is shutting down.").with_retry_after(1);
    if (im.active >= im.opts.max_active_runs)
      co_return Status(Code::resource_exhausted, "Too many responses are in progress; retry shortly.",
                       "", "rate_limit_exceeded")
          .with_retry_after(1);
    ++im.active;
    im.live[key_of(p->project_id, run->id())] = run;
    // The run's own tip: children of a running response wait for (or are refused by) it.
    im.lines["resp:" + key_of(p->project_id, run->id())].current = run;
  }
  turn->line_keys.push_back("resp:" + key_of(p->project_id, run->id()));

  auto fail_early = [&](Status st) -> Status {
    im.release_turn(*turn, run);
    {
      std::lock_guard lk(im.mu);
      im.live.erase(key_of(p->project_id, run->id()));
      --im.active;
    }
    return st;
  };

  {
    std::lock_guard lk(run->mu_);
    run->publish("response.created", {{"response", response_object(run->id(), *run->st_)}});
    if (p->background) {
      run->publish("response.queued", {{"response", response_object(run->id(), *run->st_)}});
    } else {
      run->publish("response.in_progress", {{"response", response_object(run->id(), *run->st_)}});
    }
  }

  if (p->background) {
    // Refuse at once under `reject` when the line is busy; otherwise queue durably and return.
    if (!line_key.empty() && p->concurrency == Concurrency::reject) {
      bool busy;
      {
        std::lock_guard lk(im.mu);
        auto it = im.lines.find(line_key);
        busy = it != im.lines.end() && it->second.current;
      }
      if (busy) co_return fail_early(Impl::busy_status());
    }
    ResponseRow row;
    row.project_id = p->project_id;
    row.id = run->id();
    row.parent_id = p->previous_response_id;
    row.conversation_id = p->conversation_id;
    row.status = "queued";
    row.background = true;
    row.created_at = run->st_->created_at;
    row.body = run->snapshot();
    std::function<Status(store::Database&)> store_fn3 = [row](store::Database& db) {
      return repo::put_response(db, row, {}, {});
    };
    Status st = co_await write_async(im.store, std::move(store_fn3));
    if (!st.ok()) co_return fail_early(Status(Code::unavailable, "Could not store the response: " + st.message()));
    auto strand = net::make_strand(im.io);
    net::co_spawn(strand, im.background(run, turn, p->concurrency, line_key), net::detached);
    co_return run;
  }

  if (!line_key.empty()) {
    Status st = co_await im.acquire(line_key, p->concurrency, run);
    if (!st.ok()) co_return fail_early(st);
    turn->line_keys.insert(turn->line_keys.begin(), line_key);
  }
  if (Status st = co_await im.assemble(*turn); !st.ok()) co_return fail_early(st);
  if (p->stream && p->store) {
    // A stream shows its id at once; record it so a crash leaves a failed response, not nothing.
    ResponseRow row;
    row.project_id = p->project_id;
    row.id = run->id();
    row.parent_id = p->previous_response_id;
    row.conversation_id = p->conversation_id;
    row.status = "in_progress";
    row.created_at = run->st_->created_at;
    row.body = run->snapshot();
    std::function<Status(store::Database&)> store_fn4 = [row](store::Database& db) {
      return repo::put_response(db, row, {}, {});
    };
    Status st = co_await write_async(im.store, std::move(store_fn4));
    if (!st.ok()) co_return fail_early(Status(Code::unavailable, "Could not store the response: " + st.message()));
  }
  auto strand = net::make_strand(im.io);
  net::co_spawn(strand, im.execute(run, turn), net::detached);
  co_return run;
}

awaitable<Result<std::string>> Runtime::get_response(const std::string& project, const std::string& id) {
  auto& im = *impl_;
  {
    std::lock_guard lk(im.mu);
    auto it = im.live.find(key_of(project, id));
    if (it != im.live.end()) {
      if (!it->second->st_->store) co_return not_found_response(id);
      co_return it->second->snapshot();
    }
  }
  using R = Result<std::string>;
  std::function<R(store::Database&)> store_fn5 = [project, id](store::Database& db) -> R {
    auto row = repo::get_response(db, project, id);
    if (!row.ok()) return row.status();
    if (row->deleted) return not_found_response(id);
    auto out = repo::response_items(db, project, id, ItemKind::output);
    if (!out.ok()) return out.status();
    boost::system::error_code ec;
    auto v = json::parse(row->body, ec);
    if (ec || !v.is_object()) return Status(Code::internal, "stored response is corrupt");
    json::array output;
    for (const auto& it : *out) output.push_back(json::parse(it->wire));
    v.as_object()["output"] = std::move(output);
    return json::serialize(v);
  };
  co_return co_await read_async<R>(im.store, std::move(store_fn5));
}

awaitable<Result<std::shared_ptr<Run>>> Runtime::stream_source(const std::string& project,
                                                              const std::string& id) {
  auto& im = *impl_;
  {
    std::lock_guard lk(im.mu);
    auto not_streamed = [&] {
      return Status(Code::invalid_argument,
                    "Response '" + id + "' is still in progress and was not created with 'stream' or "
                    "'background'; its event stream is available once it has finished.",
                    "stream", "stream_not_available");
    };
    auto it = im.live.find(key_of(project, id));
    if (it != im.live.end()) {
      if (!it->second->st_->store) co_return not_found_response(id);
      if (!it->second->st_->record_events) co_return not_streamed();
      co_return it->second;
    }
    for (auto& r : im.recent) {
      if (r->id() == id && r->project_id() == project && r->st_->store && r->st_->record_events) co_return r;
    }
  }
  using R = Result<std::shared_ptr<Run>>;
  std::function<R(store::Database&)> store_fn6 = [project, id](store::Database& db) -> R {
    auto row = repo::get_response(db, project, id);
    if (!row.ok()) return row.status();
    if (row->deleted) return not_found_response(id);
    if (row->events.empty()) return std::shared_ptr<Run>();  // rebuilt below from the final object
    auto run = std::shared_ptr<Run>(new Run(id, project, true));
    boost::system::error_code ec;
    auto v = json::parse(row->events, ec);
    if (ec || !v.is_array()) return Status(Code::internal, "stored events are corrupt");
    for (const auto& e : v.as_array()) run->st_->events.push_back(json::serialize(e));
    run->st_->done = true;
    return run;
  };
  auto stored = co_await read_async<R>(im.store, std::move(store_fn6));
  if (!stored.ok() || *stored) co_return stored;
  // No event log was kept (a plain response, or a streamed one before a restart): rebuild the
  // stream from the finished response.
  auto body = co_await get_response(project, id);
  if (!body.ok()) co_return body.status();
  boost::system::error_code ec;
  auto v = json::parse(*body, ec);
  if (ec || !v.is_object()) co_return Status(Code::internal, "stored response is corrupt");
  auto status = v.as_object().at("status");
  if (status == "queued" || status == "in_progress")
    co_return Status(Code::invalid_argument, "Response '" + id + "' is still in progress and has no event stream.",
                     "stream", "stream_not_available");
  auto run = std::shared_ptr<Run>(new Run(id, project, false));
  run->st_->events = synthesize_events(v.as_object());
  run->st_->done = true;
  co_return run;
}

awaitable<Result<std::string>> Runtime::delete_response(const std::string& project, const std::string& id) {
  auto& im = *impl_;
  {
    std::lock_guard lk(im.mu);
    auto it = im.live.find(key_of(project, id));
    if (it != im.live.end() && it->second->st_->store) {
      co_return Status(Code::failed_precondition,
                       "Response '" + id + "' is still in progress; cancel it or wait for it to finish.",
                       "", "response_in_progress");
    }
  }
  using R = Result<std::string>;
  std::function<Status(store::Database&)> store_fn7 = [project, id](store::Database& db) -> Status {
    auto row = repo::get_response(db, project, id);
    if (!row.ok()) return row.status();
    if (row->deleted) return not_found_response(id);
    return Status();
  };
  auto exists = co_await read_async<Status>(im.store, std::move(store_fn7));
  if (!exists.ok()) co_return exists;
  std::function<Status(store::Database&)> store_fn8 = [project, id](store::Database& db) {
    return repo::delete_response(db, project, id);
  };
  Status st = co_await write_async(im.store, std::move(store_fn8));
  if (!st.ok()) co_return st;
  {
    std::lock_guard lk(im.mu);
    im.nodes.erase(key_of(project, id));
    std::erase_if(im.recent, [&](const std::shared_ptr<Run>& r) { return r->id() == id; });
  }
  co_return R(json::serialize(json::object{{"id", id}, {"object", "response"}, {"deleted", true}}));
}

awaitable<Result<std::string>> Runtime::cancel(const std::string& project, const std::string& id) {
  auto& im = *impl_;
  std::shared_ptr<Run> run;
  {
    std::lock_guard lk(im.mu);
    auto it = im.live.find(key_of(project, id));
    if (it != im.live.end()) run = it->second;
  }
  if (run) {
    if (!run->background())
      co_return Status(Code::invalid_argument, "Only background responses can be cancelled.", "",
                       "invalid_request");
    im.request_cancel(run, "client");
    co_await run->wait_done();
    co_return run->snapshot();
  }
  auto body = co_await get_response(project, id);
  if (!body.ok()) co_return body;
  boost::system::error_code ec;
  auto v = json::parse(*body, ec);
  if (!ec && v.is_object() && v.as_object().contains("background") &&
      v.as_object().at("background") != json::value(true))
    co_return Status(Code::invalid_argument, "Only background responses can be cancelled.", "",
                     "invalid_request");
  co_return body;
}

awaitable<Result<ItemPage>> Runtime::input_items(const std::string& project, const std::string& id, ListQuery q) {
  auto& im = *impl_;
  {
    std::lock_guard lk(im.mu);
    auto it = im.live.find(key_of(project, id));
    if (it != im.live.end() && !it->second->st_->store) co_return not_found_response(id);
  }
  std::function<Status(store::Database&)> store_fn9 = [project, id](store::Database& db) -> Status {
    auto row = repo::get_response(db, project, id);
    if (!row.ok()) return row.status();
    if (row->deleted || row->status == "queued" || row->status == "in_progress") {
      if (row->deleted) return not_found_response(id);
    }
    return Status();
  };
  auto deleted = co_await read_async<Status>(im.store, std::move(store_fn9));
  if (!deleted.ok()) co_return deleted;
  auto node = co_await im.load_node(project, id);
  if (!node.ok()) co_return node.status();
  std::vector<ItemPtr> all = (*node)->parent ? Impl::path_items((*node)->parent) : std::vector<ItemPtr>{};
  all.insert(all.end(), (*node)->inputs.begin(), (*node)->inputs.end());
  co_return paginate(std::move(all), q);
}

// ---- conversations ---------------------------------------------------------------------------

awaitable<Result<std::string>> Runtime::create_conversation(const std::string& project, std::string metadata,
                                                            std::vector<Item> items) {
  auto& im = *impl_;
  ConvRow row{project, new_id("conv"), im.clock.now_seconds(), std::move(metadata)};
  std::vector<ItemPtr> ptrs;
  for (auto& i : items) ptrs.push_back(std::make_shared<const Item>(std::move(i)));
  std::function<Status(store::Database&)> store_fn10 = [row, ptrs](store::Database& db) {
    if (Status s = repo::put_conversation(db, row); !s.ok()) return s;
    return repo::append_conv_items(db, row.project_id, row.id, 0, ptrs);
  };
  Status st = co_await write_async(im.store, std::move(store_fn10));
  if (!st.ok()) co_return st;
  auto c = std::make_shared<ConvState>();
  c->project = project;
  c->id = row.id;
  c->created_at = row.created_at;
  c->metadata = row.metadata;
  Impl::conv_insert_sorted(*c, 0, ptrs);
  c->next_seq = static_cast<int64_t>(ptrs.size());
  {
    std::lock_guard lk(im.mu);
    im.convs[key_of(project, row.id)] = c;
    im.trim_convs_locked();
  }
  co_return conversation_json(row.id, row.created_at, row.metadata);
}

awaitable<Result<std::string>> Runtime::get_conversation(const std::string& project, const std::string& id) {
  auto c = co_await impl_->load_conv(project, id);
  if (!c.ok()) co_return c.status();
  std::lock_guard lk((*c)->mu);
  co_return conversation_json(id, (*c)->created_at, (*c)->metadata);
}

awaitable<Result<std::string>> Runtime::update_conversation(const std::string& project, const std::string& id,
                                                            std::string metadata) {
  auto c = co_await impl_->load_conv(project, id);
  if (!c.ok()) co_return c.status();
  ConvRow row{project, id, (*c)->created_at, metadata};
  std::function<Status(store::Database&)> store_fn11 = [row](store::Database& db) {
    return repo::update_conversation(db, row);
  };
  Status st = co_await write_async(impl_->store, std::move(store_fn11));
  if (!st.ok()) co_return st;
  std::lock_guard lk((*c)->mu);
  (*c)->metadata = std::move(metadata);
  co_return conversation_json(id, (*c)->created_at, (*c)->metadata);
}

awaitable<Result<std::string>> Runtime::delete_conversation(const std::string& project, const std::string& id) {
  auto c = co_await impl_->load_conv(project, id);
  if (!c.ok()) co_return c.status();
  std::function<Status(store::Database&)> store_fn12 = [project, id](store::Database& db) {
    return repo::delete_conversation(db, project, id);
  };
  Status st = co_await write_async(impl_->store, std::move(store_fn12));
  if (!st.ok()) co_return st;
  {
    std::lock_guard lk((*c)->mu);
    (*c)->deleted = true;
  }
  {
    std::lock_guard lk(impl_->mu);
    impl_->convs.erase(key_of(project, id));
  }
  co_return json::serialize(json::object{{"id", id}, {"object", "conversation.deleted"}, {"deleted", true}});
}

awaitable<Result<std::vector<ItemPtr>>> Runtime::add_conversation_items(const std::string& project,
                                                                        const std::string& id,
                                                                        std::vector<Item> items) {
  auto c = co_await impl_->load_conv(project, id);
  if (!c.ok()) co_return c.status();
  std::vector<ItemPtr> ptrs;
  for (auto& i : items) ptrs.push_back(std::make_shared<const Item>(std::move(i)));
  int64_t first;
  {
    std::lock_guard lk((*c)->mu);
    first = (*c)->next_seq;
    (*c)->next_seq += static_cast<int64_t>(ptrs.size());
  }
  std::function<Status(store::Database&)> store_fn13 = [project, id, first, ptrs](store::Database& db) {
    return repo::append_conv_items(db, project, id, first, ptrs);
  };
  Status st = co_await write_async(impl_->store, std::move(store_fn13));
  if (!st.ok()) co_return st;
  std::lock_guard lk((*c)->mu);
  Impl::conv_insert_sorted(**c, first, ptrs);
  co_return ptrs;
}

awaitable<Result<ItemPage>> Runtime::list_conversation_items(const std::string& project, const std::string& id,
                                                             ListQuery q) {
  auto c = co_await impl_->load_conv(project, id);
  if (!c.ok()) co_return c.status();
  std::vector<ItemPtr> all;
  {
    std::lock_guard lk((*c)->mu);
    all.reserve((*c)->items.size());
    for (const auto& r : (*c)->items) all.push_back(r.item);
  }
  co_return paginate(std::move(all), q);
}

awaitable<Result<ItemPtr>> Runtime::get_conversation_item(const std::string& project, const std::string& conv,
                                                          const std::string& item) {
  auto c = co_await impl_->load_conv(project, conv);
  if (!c.ok()) co_return c.status();
  std::lock_guard lk((*c)->mu);
  for (const auto& r : (*c)->items)
    if (r.item->id == item) co_return r.item;
  co_return Status(Code::not_found, "Item with id '" + item + "' not found.");
}

awaitable<Result<std::string>> Runtime::delete_conversation_item(const std::string& project,
                                                                 const std::string& conv,
                                                                 const std::string& item) {
  auto c = co_await impl_->load_conv(project, conv);
  if (!c.ok()) co_return c.status();
  std::optional<int64_t> seq;
  {
    std::lock_guard lk((*c)->mu);
    for (const auto& r : (*c)->items)
      if (r.item->id == item) seq = r.seq;
  }
  if (!seq) co_return Status(Code::not_found, "Item with id '" + item + "' not found.");
  std::function<Status(store::Database&)> store_fn14 = [project, conv, s = *seq](store::Database& db) {
    return repo::delete_conv_item(db, project, conv, s);
  };
  Status st = co_await write_async(impl_->store, std::move(store_fn14));
  if (!st.ok()) co_return st;
  std::lock_guard lk((*c)->mu);
  std::erase_if((*c)->items, [&](const ConvItemRow& r) { return r.seq == *seq; });
  co_return conversation_json(conv, (*c)->created_at, (*c)->metadata);
}

awaitable<Result<int64_t>> Runtime::expire_now() {
  auto& im = *impl_;
  if (im.opts.retention_seconds <= 0) co_return int64_t{0};
  int64_t cutoff = im.clock.now_seconds() - im.opts.retention_seconds;
  auto counts = std::make_shared<std::pair<int64_t, int64_t>>(0, 0);
  std::function<Status(store::Database&)> store_fn15 = [cutoff, counts](store::Database& db) {
    if (Status s = repo::expire(db, cutoff, &counts->first, &counts->second); !s.ok()) return s;
    return db.exec("PRAGMA incremental_vacuum");
  };
  Status st = co_await write_async(im.store, std::move(store_fn15));
  if (!st.ok()) co_return st;
  {
    std::lock_guard lk(im.mu);
    std::erase_if(im.nodes, [&](const auto& kv) { return kv.second->created_at < cutoff; });
    std::erase_if(im.convs, [&](const auto& kv) { return kv.second->created_at < cutoff; });
    std::erase_if(im.node_order, [&](const std::string& k) { return !im.nodes.count(k); });
  }
  if (counts->first || counts->second)
    spdlog::info("retention: deleted {} responses and {} conversations", counts->first, counts->second);
  co_return counts->first + counts->second;
}

awaitable<void> Runtime::shutdown(std::chrono::milliseconds grace) {
  auto& im = *impl_;
  {
    std::lock_guard lk(im.mu);
    im.shutting_down = true;
  }
  auto ex = co_await net::this_coro::executor;
  net::steady_timer t(ex);
  auto until = std::chrono::steady_clock::now() + grace;
  for (;;) {
    std::vector<std::shared_ptr<Run>> runs;
    {
      std::lock_guard lk(im.mu);
      if (im.active == 0) co_return;
      if (std::chrono::steady_clock::now() >= until)
        for (auto& [k, r] : im.live) runs.push_back(r);
    }
    for (auto& r : runs) im.request_cancel(r, "shutdown");
    if (!runs.empty()) until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    t.expires_after(std::chrono::milliseconds(20));
    co_await t.async_wait(net::as_tuple(net::use_awaitable));
  }
}

RuntimeStats Runtime::stats() const {
  std::lock_guard lk(impl_->mu);
  return {impl_->active, impl_->nodes.size(), impl_->hits, impl_->misses};
}

}  // namespace cn::runtime
