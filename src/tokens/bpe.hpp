// A byte-pair-encoding tokenizer over OpenAI's tiktoken rank tables (o200k_base, cl100k_base, ...).
//
// An Encoding is loaded from a tiktoken encoder file: JSON with `pat_str` (the pre-tokenizer's
// regular expression), `special_tokens`, and `bpe_ranks` — lines of "<key> <first rank>
// <base64 token> <base64 token> ...", the tokens of a line having consecutive ranks. The npm
// package `tiktoken` ships these files (encoders/*.json); scripts/setup.sh installs it.
//
// Encoding follows tiktoken's ordinary encoding: the text is split by the pattern (PCRE2, UTF-8
// with Unicode properties, JIT-compiled), a piece that is itself a token is one token, and any
// other piece is merged from its bytes, lowest-ranked adjacent pair first (a scan for short
// pieces; a heap for long ones, so that one long word costs O(n log n), not O(n^2)). Special tokens in the
// text are encoded as ordinary text. Text that is not valid UTF-8 is encoded from its bytes
// without the pattern's split (the counts then stay close, not exact).
//
// Threads: an Encoding is immutable after load; encode/count may be called from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.hpp"

namespace cn::tokens {

class Encoding {
 public:
  ~Encoding();
  Encoding(const Encoding&) = delete;
  Encoding& operator=(const Encoding&) = delete;

  // Loads `path` (a tiktoken encoder file). `name` is the encoding's name ("o200k_base").
  static Result<std::shared_ptr<const Encoding>> load(const std::string& path, std::string name);

  const std::string& name() const { return name_; }
  std::vector<uint32_t> encode(std::string_view text) const;
  size_t count(std::string_view text) const;
  // The bytes of `tokens` (unknown ranks are skipped). For tests and tools.
  std::string decode(const std::vector<uint32_t>& tokens) const;
  size_t vocabulary() const { return count_; }

 private:
  Encoding() = default;
  // Calls `emit(rank)` for each token of one piece of the split.
  template <class Emit>
  void encode_piece(std::string_view piece, Emit&& emit) const;
  template <class Emit>
  void encode_text(std::string_view text, Emit&& emit) const;
  template <class Emit>
  void merge_long(std::string_view piece, Emit&& emit) const;

  // The rank of `bytes`, or kNoRank.
  uint32_t rank(std::string_view bytes) const;
  std::string_view token(uint32_t rank) const {
    return std::string_view(bytes_).substr(offset_[rank], offset_[rank + 1] - offset_[rank]);
  }

  // The table, compact (a few MB for o200k_base, not the tens a map of strings takes): every
  // token's bytes in one buffer, in rank order (`offset_[r]` to `offset_[r + 1]`; a rank the
  // file skips is empty), and an open-addressing hash of ranks (rank + 1; 0 = empty slot).
  std::string name_;
  std::string bytes_;
  std::vector<uint32_t> offset_;
  std::vector<uint32_t> slots_;
  size_t count_ = 0;
  void* code_ = nullptr;  // pcre2_code_8
};

}  // namespace cn::tokens
