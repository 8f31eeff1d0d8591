// A run's budget: the tokens and the time one turn may use, shared with every child run it starts
// (agents called as tools). A child run's budget is nested in its parent's: what the child
// spends counts against both, it is exhausted when either is, and its deadline is the earlier of
// the two. So a team of agents started by one client turn stays within that turn's limits, however
// deep the agent-as-tool calls go.
//
// Thread-safety: every member may be called from any thread (a parent and its children run on
// different strands). Shared by shared_ptr between the runs; immutable but for what was spent.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>

namespace cn {

class Budget {
 public:
  using time_point = std::chrono::steady_clock::time_point;

  // `max_tokens` unset: no token limit of its own. `deadline`: the latest this run may end;
  // a parent's earlier deadline wins.
  Budget(std::optional<int64_t> max_tokens, time_point deadline, std::shared_ptr<Budget> parent = nullptr)
      : max_tokens_(max_tokens), deadline_(parent ? std::min(deadline, parent->deadline()) : deadline),
        parent_(std::move(parent)) {}

  // Records tokens a model call used, here and in every enclosing budget.
  void spend(int64_t tokens) {
    for (Budget* b = this; b; b = b->parent_.get()) b->spent_.fetch_add(tokens, std::memory_order_relaxed);
  }
  // Whether this budget or an enclosing one has no tokens left.
  bool exhausted() const {
    for (const Budget* b = this; b; b = b->parent_.get())
      if (b->max_tokens_ && b->spent_.load(std::memory_order_relaxed) >= *b->max_tokens_) return true;
    return false;
  }
  int64_t spent() const { return spent_.load(std::memory_order_relaxed); }
  std::optional<int64_t> max_tokens() const { return max_tokens_; }
  time_point deadline() const { return deadline_; }

 private:
  const std::optional<int64_t> max_tokens_;
  const time_point deadline_;
  const std::shared_ptr<Budget> parent_;
  std::atomic<int64_t> spent_{0};
};

}  // namespace cn
