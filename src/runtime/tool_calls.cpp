// Running one step's server-side calls: concurrently, each within its deadline, each decided by
// the authorizer (policies) first, and each recorded in the run journal before it starts and
// when it ends, so that a resumed run replays finished calls instead of repeating them.
#include "runtime/impl.hpp"

#include "base/log.hpp"
#include "runtime/journal.hpp"
#include "runtime/output_sink.hpp"
#include "runtime/run_trace.hpp"

namespace cn::runtime {

namespace {

// A call in flight: where its answer lands, and the timer the caller waits on.
struct PendingCall {
  explicit PendingCall(const net::any_io_executor& ex) : timer(ex) {}
  std::optional<tools::Outcome> out;
  net::steady_timer timer;
};

// Runs the tool and wakes the waiter; keeps the tool, its context and its arguments alive until
// the tool returns, even after the waiter gave up.
awaitable<void> run_call(std::shared_ptr<tools::Tool> tool, std::shared_ptr<const tools::CallContext> ctx,
                         std::string args, std::shared_ptr<PendingCall> call) {
  auto out = co_await tool->execute(*ctx, std::move(args));
  call->out = std::move(out);
  call->timer.cancel();
}

// Runs one call, waiting no longer than its deadline; a late or failed call is an error the
// model sees, never a failed run.
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

// Waits for a step's calls: the last one to finish cancels the timer.
struct Join {
  explicit Join(const net::any_io_executor& ex) : timer(ex, std::chrono::steady_clock::time_point::max()) {}
  size_t left = 0;
  net::steady_timer timer;
};

}  // namespace

awaitable<void> Runtime::Impl::journal_call(std::string project, std::string response, JournaledCall c) {
  std::function<Status(store::Database&)> fn = [project, response, c](store::Database& db) {
    return c.finished ? journal::call_finished(db, project, response, c) : journal::call_started(db, project, response, c);
  };
  Status st = co_await write_async(store, std::move(fn));
  if (!st.ok()) spdlog::warn("journaling tool call {} of {} failed: {}", c.seq, response, st.message());
}

awaitable<tools::Outcome> Runtime::Impl::one_call(std::shared_ptr<Turn> t, tools::CallContext ctx, int64_t seq,
                                                  std::string name, std::string args) {
  auto& p = *t->params;
  std::shared_ptr<tools::Tool> tool = t->tools.find(name);
  JournaledCall rec;
  rec.seq = seq;
  rec.name = name;
  rec.arguments = args;
  // A run resumed after a crash: a call that finished is not repeated, one that was in flight
  // is repeated only when its tool is idempotent.
  if (static_cast<size_t>(seq) < t->replay.size()) {
    const auto& old = t->replay[static_cast<size_t>(seq)];
    if (old.name == name && old.arguments == args) {
      if (old.finished) co_return tools::Outcome{old.output, old.error};
      if (!tool || !tool->idempotent()) {
        auto out = tools::error_outcome("This call was in progress when the server stopped. It was not repeated because '" +
                                        name + "' is not idempotent; whether it took effect is unknown.");
        rec.output = out.output;
        rec.error = true;
        rec.finished = true;
        if (p.store) co_await journal_call(p.scope.project, ctx.response_id, rec);
        co_return out;
      }
    }
  }
  if (!tool) co_return tools::error_outcome("unknown tool " + name);
  if (p.max_tool_calls && t->calls_made >= *p.max_tool_calls)
    co_return tools::error_outcome("This response reached its max_tool_calls (" + std::to_string(*p.max_tool_calls) +
                                   "); the call was not run.");
  if (opts.authorizer) {
    Status allowed = opts.authorizer->authorize(ctx, *tool, args);
    if (!allowed.ok()) co_return tools::error_outcome(allowed.message());
  }
  ++t->calls_made;
  // An idempotent call may simply run again after a crash: it needs no record before it starts.
  std::string project = p.scope.project, response = ctx.response_id;
  if (!tool->idempotent() && p.store) co_await journal_call(project, response, rec);
  auto began = std::chrono::steady_clock::now();
  ToolSpan span(opts.tracer, ctx.trace, name, item_type_name(tool->item_type()));
  ctx.trace = span.context();
  auto out = co_await call_tool(tool, std::move(ctx), std::move(args));
  if (opts.observer) opts.observer->tool_call(item_type_name(tool->item_type()), !out.error, std::chrono::steady_clock::now() - began);
  span.end(out.error, out.output);
  rec.output = out.output;
  rec.error = out.error;
  rec.finished = true;
  if (p.store) co_await journal_call(project, response, rec);
  co_return out;
}

awaitable<void> Runtime::Impl::run_server_calls(std::shared_ptr<Run> run, std::shared_ptr<Turn> t, OutputSink& sink,
                                                tools::CallContext ctx, std::vector<int> idxs,
                                                std::chrono::steady_clock::time_point run_deadline) {
  if (idxs.empty()) co_return;
  auto ex = co_await net::this_coro::executor;
  auto join = std::make_shared<Join>(ex);
  join->left = idxs.size();
  for (int idx : idxs) {
    OutItem call;
    {
      std::lock_guard lk(run->mu_);
      call = run->st_->output[static_cast<size_t>(idx)];
    }
    int64_t seq = t->next_call_seq++;
    sink.start_server_call(idx);
    tools::CallContext c = ctx;
    c.deadline = std::min(run_deadline, std::chrono::steady_clock::now() + opts.tool_timeout);
    auto work = [this, t, c, seq, call, idx, &sink, join]() -> awaitable<void> {
      auto out = co_await one_call(t, c, seq, call.name, call.text);
      sink.complete_server_call(idx, std::move(out.output), out.error);
      if (--join->left == 0) join->timer.cancel();
    };
    net::co_spawn(ex, std::move(work), net::detached);
  }
  if (join->left > 0) co_await join->timer.async_wait(net::as_tuple(net::use_awaitable));
}

}  // namespace cn::runtime
