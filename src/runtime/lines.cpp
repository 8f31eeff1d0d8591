// Concurrency lines: at most one turn at a time runs on a conversation or a chain tip; others
// are refused, queued in arrival order, or interrupt the holder, as the request's "concurrency"
// says.
#include "runtime/impl.hpp"

namespace cn::runtime {

Status Runtime::Impl::busy_status() {
  return Status(Code::aborted,
                "Another response is in progress on this conversation or response chain. Retry "
                "when it has finished, or send \"concurrency\": \"enqueue\" or \"interrupt\".",
                "", "conversation_busy");
}

// Takes the line `key` for `run`: at once when free; otherwise refuses (reject), waits in
// arrival order (enqueue), or cancels the holder and waits first in line (interrupt).
awaitable<Status> Runtime::Impl::acquire(const std::string& key, Concurrency mode, std::shared_ptr<Run> run) {
  Status st = co_await acquire_here(key, mode, run);
  if (!st.ok() || !opts.notifier) co_return st;
  // Many nodes: the line is also claimed in the shared store (line_claims.cpp).
  st = co_await claim_line(key, mode, run);
  if (!st.ok()) {
    release(key);
    co_return st;
  }
  std::lock_guard lk(mu);
  if (auto it = lines.find(key); it != lines.end()) it->second.claimed = true;
  co_return st;
}

awaitable<Status> Runtime::Impl::acquire_here(const std::string& key, Concurrency mode, std::shared_ptr<Run> run) {
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

void Runtime::Impl::release(const std::string& key) {
  std::shared_ptr<LineWaiter> next;
  {
    std::lock_guard lk(mu);
    auto it = lines.find(key);
    if (it == lines.end()) return;
    auto& line = it->second;
    if (line.claimed && line.current) release_claim(key, line.current->id());
    line.claimed = false;
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

void Runtime::Impl::request_cancel(const std::shared_ptr<Run>& run, const std::string& reason) {
  {
    std::lock_guard lk(run->mu_);
    if (run->st_->done) return;
    if (run->st_->cancel_reason.empty()) run->st_->cancel_reason = reason;
  }
  run->st_->cancel->cancel();
}

}  // namespace cn::runtime
