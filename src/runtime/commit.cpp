// The end of a turn: its final state built on a copy, its rows written in the writer's next group
// commit (response, items, conversation links, memory job: one transaction), and only then
// published — terminal event, snapshot, released lines — so nobody sees an outcome a crash
// could lose.
#include "runtime/impl.hpp"

#include "base/log.hpp"
#include "wire/items.hpp"

namespace cn::runtime {

namespace {

// The store write of a finished turn. Built outside the coroutine on purpose: GCC 12
// miscompiles init-captures of coroutine locals.
std::function<Status(store::Database&)> commit_fn(ResponseRow row, std::vector<ItemPtr> inputs,
                                                         std::vector<ItemPtr> outputs, ConvPtr conv,
                                                         int64_t first_seq,
                                                         std::vector<ItemPtr> conv_items,
                                                         memory::Memory* mem,
                                                         std::optional<memory::TurnForExtraction> learn,
                                                         bool journaled) {
  return [row = std::move(row), inputs = std::move(inputs), outputs = std::move(outputs),
          conv = std::move(conv), first_seq, conv_items = std::move(conv_items), mem,
          learn = std::move(learn), journaled](store::Database& db) {
    if (Status s = repo::put_response(db, row, inputs, outputs); !s.ok()) return s;
    // The run's journal ends with it (same transaction: never an outcome with a live journal).
    if (journaled)
      if (Status s = journal::forget(db, row.project_id, row.id); !s.ok()) return s;
    if (conv) {
      // A conversation deleted while the turn ran keeps nothing; the response is still stored.
      Scope scope{row.project_id, row.user_id.empty() ? std::nullopt : std::optional<std::string>(row.user_id), true};
      Status s = repo::append_conv_items(db, scope, conv->id, first_seq, conv_items);
      if (!s.ok() && s.code() != Code::not_found) return s;
    }
    // Extraction is enqueued in the turn's own transaction: a turn is never stored without
    // its memory job, nor a job without its turn.
    if (mem && learn) return mem->enqueue_extraction(db, *learn);
    return Status();
  };
}

}  // namespace

awaitable<void> Runtime::Impl::finish(std::shared_ptr<Run> run, std::shared_ptr<Turn> t, RunOutcome outcome) {
  auto& p = *t->params;
  // The final state is built on a copy: followers and readers keep seeing the run in progress
  // until its outcome is committed; only then is it published (and so acknowledged).
  std::vector<ItemPtr> outputs;
  Run::State fin;
  {
    std::lock_guard lk(run->mu_);
    fin = *run->st_;
  }
  const std::string& status = outcome.status;
  fin.status = status;
  fin.error = outcome.error;
  fin.incomplete_reason = outcome.incomplete;
  fin.usage = outcome.usage;
  fin.completed_at = status == "completed" ? std::optional<int64_t>(clock.now_seconds()) : std::nullopt;
  fin.failure = outcome.failure;
  for (const auto& o : fin.output) {
    // A server-side call that never ran (the run ended first) is not part of the history.
    if (o.open && is_server_call(o.type)) continue;
    outputs.push_back(std::make_shared<const Item>(to_item(o)));
  }
  std::string terminal = terminal_event(run->id(), fin);
  // The turn's accounting record, written with the turn (or alone, for store: false).
  std::function<Status(store::Database&)> account;
  if (!opts.ledgers.empty()) {
    TurnRecord rec{p.scope.project, run->id(), run->owner(), p.memory_agent, p.model, status, fin.usage.value_or(Usage{}),
                   clock.now_seconds()};
    account = [ledgers = opts.ledgers, rec](store::Database& db) {
      for (const auto& l : ledgers)
        if (Status st = l->record(db, rec); !st.ok()) return st;
      return Status();
    };
  }

  Status stored;
  if (p.store) {
    ResponseRow row;
    row.project_id = p.scope.project;
    row.user_id = run->owner();
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
      row.events = events_array(fin.events, terminal);
    }
    std::optional<memory::TurnForExtraction> learn;
    if (memory && p.memory_on && p.memory_settings.learn && !p.memory_user.empty() && status == "completed") {
      memory::TurnForExtraction te;
      te.project_id = p.scope.project;
      te.response_id = run->id();
      te.conversation_id = p.conversation_id.value_or("");
      te.model = p.model;
      te.strategies = p.memory_settings.strategies;
      te.ns = memory::Namespace{p.memory_user, p.memory_agent, te.conversation_id};
      te.items = t->inputs;
      te.items.insert(te.items.end(), outputs.begin(), outputs.end());
      learn = std::move(te);
    }
    bool learning = learn.has_value();
    auto commit = commit_fn(std::move(row), t->inputs, outputs, append ? conv : nullptr,
                            first_seq, conv_items, memory, std::move(learn), t->journaled);
    if (account)
      commit = [commit = std::move(commit), account](store::Database& db) {
        Status st = commit(db);
        return st.ok() ? account(db) : st;
      };
    auto began = std::chrono::steady_clock::now();
    stored = co_await write_async(store, std::move(commit));
    if (opts.observer) opts.observer->commit(std::chrono::steady_clock::now() - began, stored.ok());
    if (!stored.ok()) {
      // A full store is logged once, when it fills (store::Executor), not once per turn it refuses.
      if (store::is_storage_full(stored))
        spdlog::debug("storing response {} failed: {}", run->id(), stored.message());
      else
        spdlog::error("storing response {} failed: {}", run->id(), stored.message());
    } else {
      if (learning) memory->notify();
      auto node = std::make_shared<ChainNode>();
      node->id = run->id();
      node->owner = run->owner();
      node->parent = t->parent;
      node->inputs = t->inputs;
      node->outputs = outputs;
      node->created_at = fin.created_at;
      count_tokens(*node);
      meter_node(*node);
      cache_node(p.scope.project, node);
      if (append) {
        std::lock_guard lk(conv->mu);
        conv_insert_sorted(*conv, first_seq, conv_items);
      }
    }
  }
  if (!p.store && account) {
    // Nothing else is stored, but the turn still counts.
    Status counted = co_await write_async(store, std::move(account));
    if (!counted.ok()) spdlog::warn("recording the usage of response {} failed: {}", run->id(), counted.message());
  }
  // Charged before anyone learns that the turn ended (its terminal event, its waiters): a client's
  // next request, sent after this answer, sees these tokens counted.
  if (p.on_usage && fin.usage) p.on_usage(*fin.usage);
  co_await release_claims_now(*t);  // many nodes: the next turn may reach another node at once
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
      // A full store is said as such (503 storage_full, Retry-After), not as a model failure.
      st.failure = store::is_storage_full(stored)
                       ? stored
                       : Status(Code::unavailable, "The response could not be stored: " + stored.message());
      st.usage = fin.usage;
      run->publish("response.failed", {{"response", response_object(run->id(), st)}});
    }
    st.done = true;
  }
  release_turn(*t);
  end_active(run);
  if (t->conv) {
    // The conversation is idle now (unless another turn waits on it): past its budget, the
    // cache may drop it, and the next turn reads it back.
    std::lock_guard lk(mu);
    touch_locked(*t->conv);
    t->conv.reset();
    trim_convs_locked();
  }
  run->wake_all();
}

std::string Runtime::Impl::terminal_event(const std::string& id, const Run::State& st) {
  const char* type = st.status == "completed" ? "response.completed"
                     : st.status == "failed"  ? "response.failed"
                                              : "response.incomplete";
  json::object ev;
  ev["type"] = type;
  ev["sequence_number"] = static_cast<int64_t>(st.events.size());
  ev["response"] = response_object(id, st);
  return json::serialize(ev);
}

}  // namespace cn::runtime
