// Context assembly (see context.hpp): memory injection, window accounting, truncation.
#include "runtime/context.hpp"

#include <spdlog/spdlog.h>

#include "base/ids.hpp"
#include "wire/items.hpp"

namespace cn::runtime {

namespace {

// The delimited block of remembered records, as a system message.
ItemPtr memory_block(const std::vector<memory::Record>& found, std::vector<std::string>& used) {
  std::string block =
      "<long_term_memory>\nWhat you remember about this user from earlier conversations "
      "(may be outdated; the user's current words win):\n";
  for (const auto& r : found) {
    block += "- " + r.text + "\n";
    used.push_back(r.id);
  }
  block += "</long_term_memory>";
  Item m;
  m.id = new_id("msg");
  m.role = "system";
  m.content.push_back({"input_text", block});
  wire::finalize_wire(m);
  return std::make_shared<const Item>(std::move(m));
}

}  // namespace

boost::asio::awaitable<Result<Context>> assemble_context(ContextInput in, memory::Memory* memory) {
  Context out;
  std::vector<ItemPtr> ctx;
  ctx.reserve(in.history.size() + in.inputs.size() + 1);

  // Long-term memory relevant to this turn's input, as a delimited block before the history.
  if (memory && in.memory && !in.memory->user_id.empty()) {
    std::string query;
    for (const auto& i : in.inputs)
      if (i->type == ItemType::message) query += i->text() + "\n";
    std::vector<std::string> used;
    if (!query.empty()) {
      auto found = co_await memory->relevant(in.project_id, *in.memory, query);
      if (!found.ok()) {
        spdlog::warn("memory retrieval failed: {}", found.status().message());
      } else if (!found->empty()) {
        ctx.push_back(memory_block(*found, used));
      }
    }
    out.memories_used = std::move(used);
  }
  const auto& meter = in.meter;
  int64_t total = meter.instructions(in.instructions) + in.extra_tokens + tokens::Meter::kReplyPriming;
  for (const auto& i : ctx) total += meter.item(*i);  // the memory block, if any
  if (in.history_tokens && !meter.exact()) {
    total += *in.history_tokens;
  } else {
    for (const auto& i : in.history) total += meter.item(*i);
  }
  size_t history_start = ctx.size();
  ctx.insert(ctx.end(), std::make_move_iterator(in.history.begin()), std::make_move_iterator(in.history.end()));
  size_t history_end = ctx.size();
  // A compaction in the history replaces what came before it: the model sees its summary and
  // what followed (nothing stored is deleted; only the context starts later).
  for (size_t i = history_end; i > history_start; --i) {
    if (ctx[i - 1]->type != ItemType::compaction) continue;
    for (size_t k = history_start; k + 1 < i; ++k) total -= meter.item(*ctx[k]);
    ctx.erase(ctx.begin() + static_cast<long>(history_start), ctx.begin() + static_cast<long>(i - 1));
    history_end -= i - 1 - history_start;
    break;
  }
  ctx.insert(ctx.end(), in.inputs.begin(), in.inputs.end());
  for (const auto& i : in.inputs) total += meter.item(*i);

  int64_t window = in.context_window;
  int64_t budget = window - in.max_output_tokens.value_or(0);
  if (total > budget && !(in.count_only && !in.truncation_auto)) {
    if (!in.truncation_auto) {
      co_return Status(Code::invalid_argument,
                       "Your input exceeds the context window of this model (about " + std::to_string(total) +
                           " tokens of " + std::to_string(window) +
                           "). Shorten the input, or set \"truncation\": \"auto\".",
                       "input", "context_length_exceeded");
    }
    size_t drop = 0;
    while (drop < history_end && total > budget) total -= meter.item(*ctx[drop++]);
    // Never start mid-turn: skip to the next user message (or the new input).
    while (drop < history_end && !(ctx[drop]->type == ItemType::message && ctx[drop]->role == "user"))
      total -= meter.item(*ctx[drop++]);
    if (total > budget && !in.count_only)
      co_return Status(Code::invalid_argument, "This turn's input alone exceeds the context window of this model.",
                       "input", "context_length_exceeded");
    ctx.erase(ctx.begin(), ctx.begin() + static_cast<long>(drop));
  }
  out.items = std::move(ctx);
  out.tokens = total;
  co_return out;
}

}  // namespace cn::runtime
