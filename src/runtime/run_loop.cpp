// The run loop: calls the model, executes the server-side tools it calls (through the Tool
// interface) and calls it again with their results, until it answers, calls a client tool,
// fails, or is cancelled; then decides the outcome and hands it to finish() (commit.cpp).
#include "runtime/impl.hpp"

#include "runtime/output_sink.hpp"
#include "wire/items.hpp"

namespace cn::runtime {

namespace {

constexpr int kMaxSteps = 8;  // model calls per turn

// The item a completed server-side call adds to the next step's context.
ItemPtr server_call_item(const OutItem& o) {
  return std::make_shared<const Item>(wire::make_memory_call(o.id, o.call_id, o.name, o.text, o.output));
}

// A call in flight: where its answer lands, and the timer the loop waits on.
struct PendingCall {
  explicit PendingCall(const net::any_io_executor& ex) : timer(ex) {}
  std::optional<tools::Outcome> out;
  net::steady_timer timer;
};

// Runs the tool and wakes the loop; keeps the tool, its context and its arguments alive until
// the tool returns, even after the loop stopped waiting.
awaitable<void> run_call(std::shared_ptr<tools::Tool> tool, std::shared_ptr<const tools::CallContext> ctx,
                         std::string args, std::shared_ptr<PendingCall> call) {
  auto out = co_await tool->execute(*ctx, std::move(args));
  call->out = std::move(out);
  call->timer.cancel();
}

// Runs one server-side call, waiting no longer than its deadline; a late or failed call is an
// error the model sees, never a failed run. Runs on the run's strand, as does the call.
awaitable<tools::Outcome> call_tool(std::shared_ptr<tools::Tool> tool, tools::CallContext ctx, std::string args) {
  auto ex = co_await net::this_coro::executor;
  auto call = std::make_shared<PendingCall>(ex);
  call->timer.expires_at(ctx.deadline);
  auto shared_ctx = std::make_shared<const tools::CallContext>(std::move(ctx));
  auto work = run_call(tool, shared_ctx, std::move(args), call);
  net::co_spawn(ex, std::move(work), net::detached);
  if (!call->out) co_await call->timer.async_wait(net::as_tuple(net::use_awaitable));
  if (!call->out) co_return tools::error_outcome("the tool '" + tool->name() + "' did not answer within its deadline");
  co_return std::move(*call->out);
}

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

}  // namespace

awaitable<void> Runtime::Impl::execute(std::shared_ptr<Run> run, std::shared_ptr<Turn> t) {
  auto& p = *t->params;
  {
    std::lock_guard lk(run->mu_);
    bool was_queued = run->st_->status == "queued";
    run->st_->status = "in_progress";
    run->st_->memories_used = t->memories_used;
    if (was_queued) run->publish("response.in_progress", {{"response", response_object(run->id(), *run->st_)}});
  }
  run->wake_all();

  // Deadline: cancel the run when it passes.
  std::weak_ptr<Run> weak = run;
  auto run_ex = co_await net::this_coro::executor;
  auto deadline = std::make_shared<net::steady_timer>(run_ex, opts.run_deadline);
  auto run_deadline = std::chrono::steady_clock::now() + opts.run_deadline;
  deadline->async_wait([this, weak](boost::system::error_code ec) {
    if (ec) return;
    if (auto r = weak.lock()) request_cancel(r, "deadline");
  });

  model::ModelRequest mr;
  mr.model = p.model;
  mr.instructions = p.instructions;
  mr.context = std::move(t->context);
  mr.tools_json = t->tools.empty() ? p.tools_json : t->tools.with_definitions(p.tools_json);
  mr.tool_choice_json = p.tool_choice_json;
  mr.parallel_tool_calls = p.parallel_tool_calls;
  mr.max_output_tokens = p.max_output_tokens;
  mr.temperature = p.temperature;
  mr.top_p = p.top_p;
  mr.text_format_json = p.text_format_json;
  mr.user = p.user;
  int64_t input_estimate = t->context_tokens;

  OutputSink sink(*run, t->tools.empty() ? nullptr : &t->tools);
  Result<model::ModelResult> res = Status(Code::internal, "no provider");
  Usage total_usage;
  bool usage_reported = true;
  auto prov = models.route(p.model);
  if (!prov.ok()) {
    res = prov.status();
  } else {
    // Provider callbacks run on this coroutine; flush wake-ups as they come.
    FlushingSink fs(sink);
    tools::CallContext call_ctx{p.scope.project, run->id(), p.conversation_id.value_or(""), p.memory_user,
                                p.memory_agent, run->st_->cancel, {}};
    // Server-side tools run here and the model is called again with their results; client
    // tools end the run so the client can answer them.
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
      auto pending = sink.pending_server_calls();
      if (pending.empty() || sink.has_client_calls() || step + 1 == kMaxSteps) break;
      sink.next_step();
      for (int idx : pending) {
        OutItem call;
        {
          std::lock_guard lk(run->mu_);
          call = run->st_->output[static_cast<size_t>(idx)];
        }
        std::shared_ptr<tools::Tool> tool = t->tools.find(call.name);
        call_ctx.deadline = std::min(run_deadline, std::chrono::steady_clock::now() + opts.tool_timeout);
        // Awaited in a statement of its own (GCC 12 mishandles co_await inside a conditional).
        tools::Outcome out;
        if (tool) out = co_await call_tool(tool, call_ctx, call.text);
        else out = tools::error_outcome("unknown tool " + call.name);
        sink.complete_server_call(idx, std::move(out.output));
      }
      // The next call sees this step's output: text, and each server-side call with its result.
      std::lock_guard lk(run->mu_);
      for (size_t i = first_new; i < run->st_->output.size(); ++i) {
        const auto& o = run->st_->output[i];
        if (o.type == ItemType::message)
          mr.context.push_back(std::make_shared<const Item>(wire::make_output_message(o.id, o.text, "completed")));
        else if (o.type != ItemType::function_call && o.type != ItemType::reasoning && !o.open)
          mr.context.push_back(server_call_item(o));
      }
    }
    if (res.ok()) {
      res->usage = total_usage;
      res->usage_reported = usage_reported;
    }
  }
  deadline->cancel();

  std::string cancel_reason;
  {
    std::lock_guard lk(run->mu_);
    cancel_reason = run->st_->cancel_reason;
  }
  RunOutcome outcome = decide(res, cancel_reason);
  sink.finish(outcome.status == "completed" ? "completed" : "incomplete");
  if (res.ok()) {
    outcome.usage = res->usage;
    if (!res->usage_reported && outcome.usage.input_tokens == 0) outcome.usage.input_tokens = input_estimate;
  }
  co_await finish(run, t, std::move(outcome));
}

}  // namespace cn::runtime
