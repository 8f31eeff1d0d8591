// The stored form of a turn: its Response body and its items in one compact blob.
//
// A turn is one row (runtime/repo.cpp); its `data` column holds
//   [codec byte]['d': zstd frame primed with dictionary 1 | 'z': zstd frame | 'r': raw] of
//   [u32 body length][body][u32 item count]([u32 length][item wire JSON])*
// (lengths little-endian). One blob per turn keeps a turn's write to one B-tree leaf; zstd keeps
// the row small enough to stay inline in that leaf (no overflow page). Raw is written when
// compression does not pay (tiny rows).
//
// Threads: pure functions, safe anywhere. Compression contexts are per thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/status.hpp"
#include "domain/item.hpp"

namespace cn::runtime {

struct DecodedTurn {
  std::string body;
  std::vector<std::string> item_wires;  // inputs first, then outputs
};

std::string encode_turn(std::string_view body, const std::vector<ItemPtr>& inputs, const std::vector<ItemPtr>& outputs);
// Items as already-serialized wire JSON (migration and status rewrites).
std::string encode_turn(std::string_view body, const std::vector<std::string>& item_wires);
// Fails (internal) on a corrupt or truncated blob.
Result<DecodedTurn> decode_turn(std::string_view data, bool with_items = true);

}  // namespace cn::runtime
