// Context assembly: the one place that decides what the model sees in a turn.
//
// Input: the history the turn continues (the chain's path or the conversation's items), the
// turn's new items, instructions, the model's window, the truncation mode, and whose long-term
// memory may be placed into it. Output: the items in the order the model reads them, and the
// memory records used. Order: the memory block (a system message delimited by
// <long_term_memory>), then the history, then the new input; instructions travel beside the
// items (ModelRequest.instructions) and count against the window.
//
// Truncation ("auto") drops the oldest items first (the memory block counts as the oldest),
// never the new input, and never starts mid-turn (it skips to the next user message). Without it, a context that does
// not fit is a 400 (context_length_exceeded).
//
// Threads: a free coroutine; call it from any strand. It reads memory through Memory::relevant
// (store reader threads) and touches no runtime state.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <optional>
#include <string>
#include <vector>

#include "base/status.hpp"
#include "domain/item.hpp"
#include "memory/memory.hpp"
#include "tokens/counter.hpp"

namespace cn::runtime {

struct ContextInput {
  std::string project_id;
  std::optional<std::string> instructions;
  std::vector<ItemPtr> history;  // oldest first (moved into the context)
  // How tokens are counted (the turn's model's encoding, or the estimate).
  tokens::Meter meter;
  // The estimate of `history` when the caller knows it (a chain node's path total), used when
  // the meter estimates; otherwise it is summed here.
  std::optional<int64_t> history_tokens;
  // Tokens the request adds beside its items (tool definitions).
  int64_t extra_tokens = 0;
  // Counting only (input_tokens): a context over the window is still counted, not refused.
  bool count_only = false;
  std::vector<ItemPtr> inputs;   // this turn's new items
  int64_t context_window = 0;    // tokens
  std::optional<int64_t> max_output_tokens;
  bool truncation_auto = false;
  // Whose long-term memory is placed into the context; unset = none.
  std::optional<memory::Namespace> memory;
};

struct Context {
  std::vector<ItemPtr> items;
  // The records placed into the context; unset when memory was not consulted.
  std::optional<std::vector<std::string>> memories_used;
  int64_t tokens = 0;  // `items`, instructions and extra_tokens, in the meter's tokens
};

// `memory` may be null (no long-term memory on this server). A failed memory lookup is logged
// and the turn goes on without it.
boost::asio::awaitable<Result<Context>> assemble_context(ContextInput in, memory::Memory* memory);

}  // namespace cn::runtime
