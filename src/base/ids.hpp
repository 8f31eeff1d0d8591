// Identifiers: random, URL-safe, prefixed the way OpenAI prefixes them ("resp_", "msg_", ...).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace cn {

// Returns prefix + "_" + 32 base62 characters: 8 encode the creation time in milliseconds (so
// ids of one kind sort by time), 24 come from a CSPRNG (~143 bits). Thread-safe.
std::string new_id(std::string_view prefix);
// The smallest id `prefix` could have been given at `ms` (milliseconds since the epoch): every id
// made earlier sorts before it.
std::string id_lower_bound(std::string_view prefix, int64_t ms);

// The id of the `index`-th item a response (or other object) made: prefix + "_" + the 32
// characters of `owner` after its prefix, then `index` in base62. Such an id says where its item
// is stored (owner_of), so a reference to it (item_reference) is resolved with one keyed read.
std::string owned_id(std::string_view prefix, std::string_view owner, size_t index);
// The owner an owned_id was made from, given the owner's prefix ("resp"); "" when `id` is not one.
std::string owner_of(std::string_view id, std::string_view owner_prefix);

// True when `id` is non-empty, at most `max_len` characters, and only [A-Za-z0-9_-] (ids,
// labels, container and directory names).
bool valid_id_syntax(std::string_view id, size_t max_len = 128);

// Lower-case hex SHA-256 of `data`. Used for API-key hashes.
std::string sha256_hex(std::string_view data);

// `n` random bytes from the OS CSPRNG, as base62 text of `n` characters.
std::string random_token(size_t n);

// Constant-time comparison of two equal-length strings.
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace cn
