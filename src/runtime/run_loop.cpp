// The run loop: lists the turn's tool servers, runs the calls a client approved, then calls the
// model, executes the server-side tools it calls (through the Tool interface, tool_calls.cpp)
// and calls it again with their results, until it answers, calls a client tool, asks for an
// approval, fails, or is cancelled; then decides the outcome and hands it to finish(). A
// completed handoff (agent_handoff) makes the run go on as the agent handed to (team.hpp).
#include "runtime/impl.hpp"

#include "base/log.hpp"
#include "runtime/output_sink.hpp"
#include "runtime/run_trace.hpp"
#include "wire/items.hpp"

namespace cn::runtime {

namespace {

constexpr int kMaxSteps = 8;  // model calls per turn

// The outcome of a run from its model result and why (if at all) it was cancelled.
RunOutcome decide(const Result<model::ModelResult>& res, const std::string& cancel_reason) {
  RunOutcome o;
  if (!cancel_reason.empty()) {
    if (cancel_reason == "deadline") {
      o.status = "failed";
      o.error = {"server_error", "The response did not finish within the run deadline."};
      o.failure = Status(Code::deadline_exceeded, o.error->second);
    } else if (cancel_reason == "shutdown") {
      o.status = "failed";
      o.error = {"server_error", "The server shut down while this response was in progress; it was interrupted."};
      o.failure = Status(Code::unavailable, o.error->second);
    } else {
      o.status = "cancelled";
    }
  } else if (!res.ok()) {
    o.status = "failed";
    const Status& st = res.status();
    o.error = {st.code() == Code::invalid_argument ? "invalid_prompt" : "server_error", st.message()};
    o.failure = st;
  } else if (res->finish_reason == "length" || res->finish_reason == "content_filter") {
    o.status = "incomplete";
    o.incomplete = res->finish_reason == "length" ? "max_output_tokens" : "content_filter";
  }
  return o;
}

// The version of the agent the turn runs as, from the response's `agent` record (0: none).
int64_t agent_version(const CreateParams& p) {
  auto* a = p.echo.if_contains("agent");
  auto* v = a && a->is_object() ? a->as_object().if_contains("version") : nullptr;
  return v && v->is_int64() ? v->as_int64() : 0;
}

}  // namespace

// Tool servers are listed once per conversation or chain: a listing in the history is reused.
awaitable<void> Runtime::Impl::list_servers(Turn& t, OutputSink& sink, const std::vector<ItemPtr>& context,
                                            tools::CallContext ctx, std::chrono::steady_clock::time_point run_deadline) {
  for (const auto& c : t.tools.connectors()) {
    ctx.deadline = std::min(run_deadline, std::chrono::steady_clock::now() + opts.tool_timeout);
    const Item* cached = nullptr;
    for (const auto& it : context)
      if (it->type == ItemType::mcp_list_tools && it->server_label == c->label() && it->error.empty()) cached = it.get();
    Result<std::string> listed = Status(Code::internal, "not listed");
    if (cached) {
      std::string tools_json = cached->output;
      listed = co_await c->list(ctx, &tools_json, t.tools);
      if (listed.ok()) continue;
    }
    int idx = sink.begin_listing(c->label());
    listed = co_await c->list(ctx, nullptr, t.tools);
    std::string error = listed.ok() ? std::string() : listed.status().message();
    std::string tools_json = listed.ok() ? *listed : std::string("[]");
    sink.complete_listing(idx, std::move(tools_json), std::move(error));
  }
}

awaitable<void> Runtime::Impl::execute(std::shared_ptr<Run> run, std::shared_ptr<Turn> t) {
  auto& p = *t->params;
  const auto started = std::chrono::steady_clock::now();
  RunTrace trace(opts.tracer, p, run->id());
  {
    std::lock_guard lk(run->mu_);
    bool was_queued = run->st_->status == "queued";
    run->st_->status = "in_progress";
    run->st_->memories_used = t->memories_used;
    if (was_queued) run->publish("response.in_progress", {{"response", response_object(run->id(), *run->st_)}});
  }
  run->wake_all();

  // The run's budget (its agent's limits, within its parent's when it is a child run) and its
  // deadline: the run is cancelled when that passes, or when its parent is cancelled.
  std::weak_ptr<Run> weak = run;
  auto run_ex = co_await net::this_coro::executor;
  auto time_limit = p.max_run_time ? std::min(*p.max_run_time, opts.run_deadline) : opts.run_deadline;
  auto budget = std::make_shared<Budget>(p.max_total_tokens, std::chrono::steady_clock::now() + time_limit, p.parent_budget);
  auto run_deadline = budget->deadline();
  auto deadline = std::make_shared<net::steady_timer>(run_ex, run_deadline);
  deadline->async_wait([this, weak](boost::system::error_code ec) {
    if (ec) return;
    if (auto r = weak.lock()) request_cancel(r, "deadline");
  });
  uint64_t parent_hook = 0;
  if (p.parent_cancel)
    parent_hook = p.parent_cancel->add_hook([this, weak] {
      if (auto r = weak.lock()) request_cancel(r, "parent");
    });
  bool out_of_tokens = false;
  bool steered = false;  // steering input arrived: the run ends at its next safe boundary

  model::ModelRequest mr;
  mr.model = p.model;
  mr.instructions = p.instructions;
  mr.context = std::move(t->context);
  mr.tool_choice_json = p.tool_choice_json;
  mr.parallel_tool_calls = p.parallel_tool_calls;
  mr.max_output_tokens = p.max_output_tokens;
  mr.temperature = p.temperature;
  mr.top_p = p.top_p;
  mr.text_format_json = p.text_format_json;
  mr.user = p.user;
  mr.logprobs = p.logprobs || p.top_logprobs > 0;
  mr.top_logprobs = p.top_logprobs;
  int64_t input_estimate = t->context_tokens;

  OutputSink sink(*run, t->tools.empty() ? nullptr : &t->tools);
  Result<model::ModelResult> res = Status(Code::internal, "no provider");
  Usage total_usage;
  bool usage_reported = true;
  auto prov = models.route(p.model);
  if (!p.generate) {
    // A prepared turn: its input is stored as a response with no output; nothing is called.
    res = model::ModelResult{"stop", {}, true};
  } else if (!prov.ok()) {
    res = prov.status();
  } else {
    // Provider callbacks run on this coroutine; flush wake-ups as they come.
    FlushingSink fs(sink);
    tools::CallContext call_ctx{p.scope.project, run->id(), p.conversation_id.value_or(""), p.memory_user,
                                p.memory_agent, agent_version(p), p.credential_id, p.claims_json, run->st_->cancel, {},
                                p.agent_depth, trace.current(), budget, p.on_usage};
    // What this turn adds to the model's context as it goes: the output items from `from` on.
    auto extend_context = [&](size_t from) {
      std::lock_guard lk(run->mu_);
      for (size_t i = from; i < run->st_->output.size(); ++i) {
        const auto& o = run->st_->output[i];
        if (o.open || o.type == ItemType::reasoning || o.type == ItemType::function_call) continue;
        auto item = std::make_shared<const Item>(to_item(o));
        if (!item->chat.empty()) mr.context.push_back(std::move(item));
      }
    };
    // A turn that asked for compaction and is over its threshold sends a summary of what it
    // continues instead of all of it.
    // (Without a threshold, at four fifths of the model's window.)
    int64_t threshold = p.compact_threshold ? (*p.compact_threshold ? *p.compact_threshold : models.context_window(p.model) * 4 / 5) : 0;
    if (threshold > 0 && input_estimate > threshold) co_await compact_context(*run, *t, sink, mr, total_usage);
    co_await list_servers(*t, sink, mr.context, call_ctx, run_deadline);
    // Listing a server adds its tools: the definitions assembled before are complete only without.
    mr.tools_json = t->tools.connectors().empty() ? std::move(t->tools_json)
                                                  : t->tools.with_definitions(p.tools_json);
    // Calls a client approved (or declined) in this turn's input run before the model is called.
    {
      std::vector<int> approved;
      for (const auto& a : t->approvals) {
        std::string declined;
        if (!a.response->approve)
          declined = "The user declined this call" + (a.response->reason.empty() ? std::string(".") : ": " + a.response->reason);
        int idx = sink.approved_call(*a.request, a.response->approval_request_id, declined);
        if (declined.empty()) approved.push_back(idx);
      }
      co_await run_server_calls(run, t, sink, call_ctx, approved, run_deadline);
      extend_context(0);
    }
    // Server-side tools run here and the model is called again with their results; client
    // tools and approval requests end the run so the client can answer them.
    for (int step = 0; step < kMaxSteps; ++step) {
      size_t first_new;
      {
        std::lock_guard lk(run->mu_);
        first_new = run->st_->output.size();
      }
      if (step > 0 && steer_requested(*run)) {
        // A safe boundary: this step's tool results are stored with the run, and the successor
        // sees them with the steering input.
        steered = true;
        break;
      }
      if (budget->exhausted()) {
        // No tokens left for this run or its team: end here, with what the steps so far made.
        out_of_tokens = true;
        if (step == 0) res = model::ModelResult{"stop", {}, true};
        break;
      }
      auto provider = *prov;
      auto asked = std::chrono::steady_clock::now();
      trace.model_started(mr.model, provider->name());
      fs.new_call();
      res = co_await provider->generate(mr, fs, run->st_->cancel);
      if (opts.observer) opts.observer->model_call(std::chrono::steady_clock::now() - asked, res.ok());
      if (auto first = fs.first_event(); opts.admission && first)
        opts.admission->model_latency(provider->name(), std::chrono::duration_cast<std::chrono::microseconds>(*first - asked));
      if (!res.ok()) {
        trace.model_ended(res.status(), "", {});
        break;
      }
      trace.model_ended(Status(), res->finish_reason, res->usage);
      budget->spend(res->usage.total());
      total_usage.input_tokens += res->usage.input_tokens;
      total_usage.output_tokens += res->usage.output_tokens;
      total_usage.cached_tokens += res->usage.cached_tokens;
      total_usage.reasoning_tokens += res->usage.reasoning_tokens;
      usage_reported = usage_reported && res->usage_reported;
      auto pending = sink.pending_server_calls();
      if (pending.empty() || sink.has_client_calls() || step + 1 == kMaxSteps) break;
      sink.next_step();
      co_await run_server_calls(run, t, sink, call_ctx, std::move(pending), run_deadline);
      // A handoff: the run goes on as the agent handed to, with its model, instructions and tools.
      if (std::string to = sink.handoff_since(first_new); !to.empty() && opts.team) {
        auto prof = opts.team->profile(p.scope.project, to);
        auto next = prof.ok() ? models.route(prof->model) : Result<model::Provider*>(prof.status());
        tools::ToolSet tools;
        Status st = next.ok() ? resolve_tools(p, prof->server_tools, prof->agent, tools) : next.status();
        if (!st.ok()) {
          LogTrace lt(trace.trace_id());
          spdlog::warn("response {}: the handoff to agent '{}' failed: {}", run->id(), to, st.message());
        } else {
          t->tools = std::move(tools);  // the sink holds &t->tools: replaced in place
          call_ctx.agent_id = prof->agent;
          call_ctx.agent_version = prof->version;
          trace.handoff(prof->agent, prof->version);
          call_ctx.trace = trace.current();
          prov = std::move(next);
          co_await list_servers(*t, sink, mr.context, call_ctx, run_deadline);
          mr.model = prof->model;
          mr.instructions = prof->instructions;
          mr.tools_json = t->tools.empty() ? prof->tools_json : t->tools.with_definitions(prof->tools_json);
          if (prof->max_output_tokens) mr.max_output_tokens = prof->max_output_tokens;
          if (prof->temperature) mr.temperature = prof->temperature;
        }
      }
      // The next call sees this step's output: text, and each server-side call with its result.
      extend_context(first_new);
    }
    if (res.ok()) {
      res->usage = total_usage;
      res->usage_reported = usage_reported;
    }
  }
  deadline->cancel();
  if (p.parent_cancel) p.parent_cancel->remove_hook(parent_hook);

  std::string cancel_reason;
  {
    std::lock_guard lk(run->mu_);
    cancel_reason = run->st_->cancel_reason;
  }
  RunOutcome outcome = decide(res, cancel_reason);
  if (out_of_tokens && outcome.status == "completed") {
    outcome.status = "incomplete";
    outcome.incomplete = "max_total_tokens";
  }
  if (steered && outcome.status == "completed") {
    outcome.status = "incomplete";
    outcome.incomplete = "steered";
  }
  auto steering = close_steering(*run, outcome, sink.required_input());
  sink.finish(outcome.status == "completed" ? "completed" : "incomplete");
  if (res.ok()) {
    outcome.usage = res->usage;
    if (!res->usage_reported && outcome.usage.input_tokens == 0) outcome.usage.input_tokens = input_estimate;
  }
  std::string status = outcome.status;
  std::string error = outcome.error ? outcome.error->second : std::string();
  Usage usage = outcome.usage;
  co_await finish(run, t, std::move(outcome));
  co_await settle_steering(run, t, std::move(steering));
  auto took = std::chrono::steady_clock::now() - started;
  if (opts.observer) opts.observer->run_finished(status, took, usage, p.memory_agent);
  trace.end(status, error, usage);
  LogTrace lt(trace.trace_id());
  spdlog::info("response {} {} in {:.1f} ms{}{}", run->id(), status, std::chrono::duration<double, std::milli>(took).count(),
                p.memory_agent.empty() ? "" : " as agent ", p.memory_agent);
}

}  // namespace cn::runtime
