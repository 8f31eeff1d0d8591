// Runtime: the entry of a turn. create() checks the references, takes the line, resolves the
// server-side tools, assembles the context and spawns the run on its own strand (run_loop.cpp).
// See impl.hpp for where each later step of a turn lives.
#include "runtime/impl.hpp"
#include "store/notifier.hpp"

#include <future>

#include "base/ids.hpp"
#include "runtime/context.hpp"

namespace cn::runtime {

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

Runtime::Impl::Impl(net::io_context& i, store::Executor& s, model::Registry& m, RuntimeOptions o, memory::Memory* mem,
                    Clock& c)
    : io(i), store(s), models(m), opts(std::move(o)), clock(c), memory(mem), tool_sources(opts.tool_sources) {}

Runtime::Runtime(net::io_context& io, store::Executor& store, model::Registry& models, RuntimeOptions opts,
                 memory::Memory* memory, Clock& clock)
    : impl_(std::make_unique<Impl>(io, store, models, std::move(opts), memory, clock)) {
  impl_->self = this;
  if (impl_->opts.notifier) impl_->listen(*impl_->opts.notifier);
}

Runtime::~Runtime() {
  // The events of runs evicted from memory may still be on their way to the store, and their
  // completions use this runtime's state: a write queued behind them is a barrier.
  std::promise<void> drained;
  impl_->store.submit([](store::Database&) { return Status(); }, [&drained](Status) { drained.set_value(); });
  drained.get_future().wait();
}

std::vector<store::Migration> Runtime::migrations() {
  auto all = repo::migrations();
  for (auto& m : journal::migrations()) all.push_back(std::move(m));
  for (auto& m : Impl::steer_migrations()) all.push_back(std::move(m));
  for (auto& m : Impl::feed_migrations()) all.push_back(std::move(m));
  for (auto& m : Impl::claim_migrations()) all.push_back(std::move(m));
  std::stable_sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.version < b.version; });
  return all;
}

Status Runtime::Impl::resolve_tools(Turn& t) { return resolve_tools(*t.params, t.params->server_tools, t.params->memory_agent, t.tools); }

Status Runtime::Impl::resolve_tools(const CreateParams& p, const std::vector<json::object>& entries, const std::string& agent,
                                    tools::ToolSet& out) {
  for (const auto& entry : entries) {
    std::string type;
    if (auto* tv = entry.if_contains("type"); tv && tv->is_string()) type = std::string(tv->as_string());
    tools::ToolSource* source = nullptr;
    for (const auto& s : tool_sources) {
      if (s->provides(type)) {
        source = s.get();
        break;
      }
    }
    if (!source)
      return invalid_param("tools", "Tools of type '" + type + "' are not available on this server.", "unsupported_parameter");
    tools::ToolRequest req{type, entry, p.scope.project, p.memory_user, agent, p.memory_on, p.conversation_id.value_or("")};
    if (Status s = source->add_tools(req, out); !s.ok()) return s;
  }
  return {};
}

awaitable<Status> Runtime::Impl::assemble(Turn& t) {
  const auto& p = *t.params;
  ContextInput in;
  in.project_id = p.scope.project;
  in.instructions = p.instructions;
  in.inputs = t.inputs;
  in.context_window = models.context_window(p.model);
  in.max_output_tokens = p.max_output_tokens;
  in.truncation_auto = p.truncation_auto;
  in.count_only = t.count_only;
  t.tools_json = t.tools.empty() ? p.tools_json : t.tools.with_definitions(p.tools_json);
  if (opts.token_counter) {
    in.meter = opts.token_counter->meter(p.model);
    in.extra_tokens = in.meter.tools(t.tools_json);
  }
  if (p.memory_on && p.memory_settings.inject && !p.memory_user.empty())
    in.memory = memory::Namespace{p.memory_user, p.memory_agent, p.conversation_id.value_or("")};
  if (p.previous_response_id) {
    auto n = co_await load_node(p.scope, *p.previous_response_id);
    if (!n.ok()) {
      if (n.status().code() == Code::not_found)
        co_return Status(Code::invalid_argument, "Previous response with id '" + *p.previous_response_id + "' not found.",
                         "previous_response_id", "previous_response_not_found");
      co_return n.status();
    }
    t.parent = *n;
    in.history = path_items(t.parent);
    in.history_tokens = t.parent->path_tokens;
  } else if (p.conversation_id) {
    auto c = co_await load_conv(p.scope, *p.conversation_id);
    if (!c.ok()) {
      Status st = c.status();
      if (st.code() == Code::not_found) co_return Status(Code::not_found, st.message(), "conversation", "conversation_not_found");
      co_return st;
    }
    t.conv = *c;
    std::lock_guard lk(t.conv->mu);
    if (t.conv->deleted)
      co_return Status(Code::not_found, "Conversation with id '" + *p.conversation_id + "' not found.", "conversation");
    in.history.reserve(t.conv->items.size());
    for (const auto& ci : t.conv->items) in.history.push_back(ci.item);
  }
  if (Status st = match_approvals(t, in.history); !st.ok()) co_return st;
  auto ctx = co_await assemble_context(std::move(in), memory);
  if (!ctx.ok()) co_return ctx.status();
  t.context = std::move(ctx->items);
  t.memories_used = std::move(ctx->memories_used);
  t.context_tokens = ctx->tokens;
  co_return Status();
}

void Runtime::Impl::init_state(Run::State& st, const CreateParams& p, int64_t created_at) {
  st.model = p.model;
  st.instructions = p.instructions;
  st.echo = p.echo;
  st.previous_response_id = p.previous_response_id;
  st.conversation_id = p.conversation_id;
  st.store = p.store;
  st.created_at = created_at;
  st.steerable = p.store && p.generate && p.agent_depth == 0;
}

Status Runtime::Impl::match_approvals(Turn& t, const std::vector<ItemPtr>& history) {
  t.approvals.clear();
  for (size_t i = 0; i < t.inputs.size(); ++i) {
    const auto& in = t.inputs[i];
    if (in->type != ItemType::mcp_approval_response) continue;
    std::string param = "input[" + std::to_string(i) + "].approval_request_id";
    ItemPtr request;
    for (const auto& h : history) {
      if (h->type == ItemType::mcp_approval_request && h->id == in->approval_request_id) request = h;
      if (h->type == ItemType::mcp_call && h->approval_request_id == in->approval_request_id)
        return invalid_param(param, "The approval request '" + in->approval_request_id + "' was already answered.");
    }
    for (const auto& a : t.approvals)
      if (a.response->approval_request_id == in->approval_request_id)
        return invalid_param(param, "The approval request '" + in->approval_request_id + "' is answered twice.");
    if (!request)
      return invalid_param(param, "No approval request with id '" + in->approval_request_id +
                                      "' in this response chain or conversation.");
    bool served = false;
    for (const auto& c : t.tools.connectors()) served = served || c->label() == request->server_label;
    if (!served)
      return invalid_param(param, "The approval request '" + in->approval_request_id + "' is for the MCP server '" +
                                      request->server_label + "', which is not among this request's tools.");
    t.approvals.push_back({request, in});
  }
  return {};
}

void Runtime::Impl::release_turn(Turn& t) {
  for (auto it = t.line_keys.rbegin(); it != t.line_keys.rend(); ++it) release(*it);
  t.line_keys.clear();
}

void Runtime::Impl::end_active(const std::shared_ptr<Run>& run) {
  std::lock_guard lk(mu);
  live.erase(key_of(run->project_id(), run->id()));
  keep_recent_locked(run);
  --active;
}

awaitable<Result<std::shared_ptr<Run>>> Runtime::create(CreateParams params) {
  auto& im = *impl_;
  auto p = std::make_shared<CreateParams>(std::move(params));
  // Admission first, before anything is read or called: an overloaded server or a full store
  // refuses at once. A child run rides on its caller's admission.
  std::shared_ptr<void> ticket;
  if (im.opts.admission && !p->parent_budget) {
    size_t bytes = 0;
    for (const auto& it : p->input) bytes += it.approx_bytes();
    auto admitted = im.opts.admission->admit(bytes, p->store);
    if (!admitted.ok()) co_return admitted.status();
    ticket = std::move(*admitted);
  }
  // Existence checks come first so that a bad reference is a 4xx, not a wait. A turn that
  // continues an end user's response or conversation acts for that user.
  std::string line_key, owner = p->scope.owner();
  if (p->previous_response_id) {
    std::shared_ptr<Run> live_parent;
    {
      std::lock_guard lk(im.mu);
      live_parent = im.live_run_locked(p->scope, *p->previous_response_id);
    }
    if (live_parent) {
      if (!p->scope.user) owner = live_parent->owner();
    } else {
      auto n = co_await im.load_node(p->scope, *p->previous_response_id);
      if (!n.ok()) {
        if (n.status().code() == Code::not_found)
          co_return Status(Code::invalid_argument,
                           "Previous response with id '" + *p->previous_response_id + "' not found.",
                           "previous_response_id", "previous_response_not_found");
        co_return n.status();
      }
      if (!p->scope.user) owner = (*n)->owner;
    }
    line_key = "resp:" + key_of(p->scope.project, *p->previous_response_id);
  } else if (p->conversation_id) {
    auto c = co_await im.load_conv(p->scope, *p->conversation_id);
    if (!c.ok()) {
      if (c.status().code() == Code::not_found)
        co_return Status(Code::not_found, c.status().message(), "conversation", "conversation_not_found");
      co_return c.status();
    }
    if (!p->scope.user) owner = (*c)->owner;
    line_key = "conv:" + key_of(p->scope.project, *p->conversation_id);
  }
  if (!owner.empty()) {
    p->scope.user = owner;
    if (p->memory_user.empty()) p->memory_user = owner;
  }

  if (Status st = co_await im.resolve_references(p->scope, p->input, "input"); !st.ok()) co_return st;
  // Steering input that waited for this continuation goes first, in the order it was accepted
  // (returned to the queue if this turn does not start).
  Impl::SteerClaim claim(im, p->scope.project, p->previous_response_id.value_or(""));
  if (!claim.steers.empty()) {
    std::vector<Item> input;
    for (const auto& s : claim.steers)
      for (const auto& it : s.items) input.push_back(*it);
    for (auto& it : p->input) input.push_back(std::move(it));
    p->input = std::move(input);
  }
  auto run = std::shared_ptr<Run>(new Run(new_id("resp"), p->scope.project, p->background, owner));
  Impl::own_items(p->input, run->id(), Impl::kFirstInputIndex);
  {
    auto& st = *run->st_;
    Impl::init_state(st, *p, im.clock.now_seconds());
    st.status = p->background ? "queued" : "in_progress";
    st.record_events = p->stream || p->background;
  }
  im.install_ship(run);
  auto turn = std::make_shared<Turn>();
  turn->params = p;
  turn->ticket = std::move(ticket);
  for (auto& it : p->input) turn->inputs.push_back(std::make_shared<const Item>(std::move(it)));
  p->input.clear();
  if (Status st = im.resolve_tools(*turn); !st.ok()) co_return st;

  {
    std::lock_guard lk(im.mu);
    if (im.shutting_down)
      co_return Status(Code::unavailable, "The server is shutting down.").with_retry_after(1);
    if (im.active >= im.opts.max_active_runs)
      co_return Status(Code::resource_exhausted, "Too many responses are in progress; retry shortly.",
                       "", "rate_limit_exceeded")
          .with_retry_after(1);
    ++im.active;
    im.live[key_of(p->scope.project, run->id())] = run;
    // The run's own tip: children of a running response wait for (or are refused by) it.
    im.lines["resp:" + key_of(p->scope.project, run->id())].current = run;
  }
  turn->line_keys.push_back("resp:" + key_of(p->scope.project, run->id()));

  auto fail_early = [&](Status st) -> Status {
    im.release_turn(*turn);
    {
      std::lock_guard lk(im.mu);
      im.live.erase(key_of(p->scope.project, run->id()));
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

  // A stored turn that runs server-side tools is journaled: a crash resumes it (background.cpp).
  std::string journal_json;
  if (p->store && !turn->tools.empty()) {
    journal_json = encode_params(*p, turn->inputs);
    turn->journaled = true;
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
    row.project_id = p->scope.project;
    row.user_id = owner;
    row.id = run->id();
    row.parent_id = p->previous_response_id;
    row.conversation_id = p->conversation_id;
    row.status = "queued";
    row.background = true;
    row.created_at = run->st_->created_at;
    row.body = run->snapshot();
    std::function<Status(store::Database&)> store_fn3 = [row, journal_json](store::Database& db) {
      if (Status s = repo::put_response(db, row, {}, {}); !s.ok()) return s;
      return journal_json.empty() ? Status() : journal::put_params(db, row.project_id, row.id, journal_json);
    };
    Status st = co_await write_async(im.store, std::move(store_fn3));
    if (!st.ok()) co_return fail_early(Status(Code::unavailable, "Could not store the response: " + st.message()));
    co_await claim.commit(run->id());
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
  if ((p->stream || turn->journaled) && p->store) {
    // A stream shows its id at once; record it so a crash leaves a failed response, not nothing.
    // A journaled turn is recorded with its parameters, so that a crash resumes it.
    ResponseRow row;
    row.project_id = p->scope.project;
    row.user_id = owner;
    row.id = run->id();
    row.parent_id = p->previous_response_id;
    row.conversation_id = p->conversation_id;
    row.status = "in_progress";
    row.created_at = run->st_->created_at;
    row.body = run->snapshot();
    std::function<Status(store::Database&)> store_fn4 = [row, journal_json](store::Database& db) {
      if (Status s = repo::put_response(db, row, {}, {}); !s.ok()) return s;
      return journal_json.empty() ? Status() : journal::put_params(db, row.project_id, row.id, journal_json);
    };
    Status st = co_await write_async(im.store, std::move(store_fn4));
    if (!st.ok()) co_return fail_early(Status(Code::unavailable, "Could not store the response: " + st.message()));
  }
  co_await claim.commit(run->id());
  auto strand = net::make_strand(im.io);
  net::co_spawn(strand, im.execute(run, turn), net::detached);
  co_return run;
}

awaitable<Result<std::shared_ptr<Turn>>> Runtime::Impl::assemble_only(CreateParams params) {
  auto turn = std::make_shared<Turn>();
  turn->params = std::make_shared<CreateParams>(std::move(params));
  turn->count_only = true;
  auto& p = *turn->params;
  // A continued object of an end user is read as that user's (their memory, their history).
  if (p.previous_response_id) {
    auto n = co_await load_node(p.scope, *p.previous_response_id);
    if (n.ok() && !p.scope.user && !(*n)->owner.empty()) p.scope.user = (*n)->owner;
  } else if (p.conversation_id) {
    auto c = co_await load_conv(p.scope, *p.conversation_id);
    if (c.ok() && !p.scope.user && !(*c)->owner.empty()) p.scope.user = (*c)->owner;
  }
  if (p.scope.user && p.memory_user.empty()) p.memory_user = *p.scope.user;
  if (Status st = co_await resolve_references(p.scope, p.input, "input"); !st.ok()) co_return st;
  for (auto& it : p.input) turn->inputs.push_back(std::make_shared<const Item>(std::move(it)));
  p.input.clear();
  if (Status st = resolve_tools(*turn); !st.ok()) co_return st;
  if (Status st = co_await assemble(*turn); !st.ok()) co_return st;
  co_return turn;
}

awaitable<Result<InputTokens>> Runtime::count_input(CreateParams params) {
  auto& im = *impl_;
  std::string model = params.model;
  auto turn = co_await im.assemble_only(std::move(params));
  if (!turn.ok()) co_return turn.status();
  InputTokens out;
  out.tokens = (*turn)->context_tokens;
  out.method = im.opts.token_counter ? im.opts.token_counter->meter(model).method() : "estimate";
  co_return out;
}

}  // namespace cn::runtime
