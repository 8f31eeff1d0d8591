// Counting a turn's context in its model's tokens: the one counter that `input_tokens`,
// truncation and the compaction threshold all use.
//
// A model's encoding comes from the model name: OpenAI's models use o200k_base (gpt-4o, gpt-4.1,
// gpt-4.5, gpt-5, o1, o3, o4, chatgpt-4o, gpt-oss ...) or cl100k_base (gpt-4, gpt-3.5, the
// embedding models); `models.encodings` in the configuration names one for any other model. With
// the encoding's rank file present (tiktoken's encoders/<name>.json in `dir`), text is counted
// exactly; otherwise, and for models with no encoding, it is estimated (about four bytes a
// token, plus 4 an item: Item::token_estimate). `method()` says which ("o200k_base", "cl100k_base" or "estimate").
//
// The framing follows OpenAI's chat format: each message costs its text plus 3 tokens (and its
// role), each function call its name and arguments plus 3, each output its text plus 3, the
// instructions are a system message, and a reply is primed with 3 more tokens; tool definitions
// count as their JSON text; an image counts 85 tokens (a low-detail image), since its size is
// not known here. So a count is exact for the text and the framing OpenAI documents, and close
// for the rest.
//
// Threads: safe from any thread. Encodings load on first use, once; a count of an item is
// cached on the item (per encoding), so a long history is counted once.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "domain/item.hpp"
#include "tokens/bpe.hpp"

namespace cn::tokens {

// How one model's tokens are counted: with an encoding, or estimated (encoding null).
class Meter {
 public:
  Meter() = default;
  Meter(const Encoding* e, int slot, const class Counter* owner) : enc_(e), slot_(slot), owner_(owner) {}
  // "o200k_base", "cl100k_base", or "estimate".
  std::string method() const { return enc_ ? enc_->name() : "estimate"; }
  bool exact() const { return enc_ != nullptr; }
  int64_t text(std::string_view s) const;
  // One item as the model sees it (framing included); cached on the item.
  int64_t item(const Item& it) const;
  // The instructions (a system message), with framing; 0 when unset.
  int64_t instructions(const std::optional<std::string>& s) const;
  // Tool definitions (their JSON text), 0 when "". A request's tools are usually the same from
  // turn to turn: their counts are remembered (by the text's hash and length).
  int64_t tools(std::string_view tools_json) const;
  // The tokens that prime a reply.
  static constexpr int64_t kReplyPriming = 3;

 private:
  const Encoding* enc_ = nullptr;
  int slot_ = 0;
  const class Counter* owner_ = nullptr;
};

class Counter {
 public:
  // `dir`: where tiktoken's encoder files are ("" = estimates only). `overrides`: model name
  // (or prefix ending in '*') to encoding name.
  explicit Counter(std::string dir, std::map<std::string, std::string> overrides = {});
  // The meter for `model`.
  Meter meter(std::string_view model) const;
  // The encoding named `name`, loaded on first use (null when its file is missing or bad).
  const Encoding* encoding(const std::string& name) const;
  // The encoding name a model uses ("" = none known).
  std::string encoding_name(std::string_view model) const;
  const std::string& dir() const { return dir_; }

 private:
  friend class Meter;
  // Remembered counts of tool definitions, keyed by (encoding slot, text hash, length).
  std::optional<int64_t> remembered(uint64_t key) const;
  void remember(uint64_t key, int64_t tokens) const;
  mutable std::mutex tools_mu_;
  mutable std::unordered_map<uint64_t, int64_t> tools_counted_;
  std::string dir_;
  std::map<std::string, std::string> overrides_;
  mutable std::mutex mu_;
  mutable std::map<std::string, std::shared_ptr<const Encoding>> loaded_;  // null: tried, failed
};

}  // namespace cn::tokens
