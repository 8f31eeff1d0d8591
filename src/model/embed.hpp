// Embeddings: text to a unit-length vector for similarity search.
//
// Two providers: the built-in local embedder (feature hashing; needs no model file, works
// offline, deterministic; good at lexical overlap, weak at synonyms) and any OpenAI-compatible
// /embeddings endpoint. Safe to call concurrently from any executor.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.hpp"
#include "http/client.hpp"

namespace cn::model {

class Embedder {
 public:
  virtual ~Embedder() = default;
  // The L2-normalized embedding of `text`. Fails with unavailable when an upstream is down.
  virtual boost::asio::awaitable<Result<std::vector<float>>> embed(std::string text) = 0;
  virtual std::string name() const = 0;
};

// Feature hashing of words, word prefixes and word pairs into 256 dimensions.
inline constexpr size_t kLocalDims = 256;
std::vector<float> local_embed(std::string_view text);
// The lower-cased alphanumeric words of `text` (non-ASCII bytes count as letters).
std::vector<std::string> words(std::string_view text);

std::unique_ptr<Embedder> make_local_embedder();

// Waits `d` on the calling coroutine's executor (retry backoff of the upstream clients).
boost::asio::awaitable<void> sleep_for(std::chrono::milliseconds d);

struct EmbeddingsOptions {
  std::string base_url;  // e.g. http://127.0.0.1:11434/v1 (POST {base_url}/embeddings)
  std::string api_key;
  std::string model;     // e.g. text-embedding-3-small, nomic-embed-text
  std::chrono::milliseconds timeout{30'000};
  int max_attempts = 3;
};
std::unique_ptr<Embedder> make_openai_embedder(EmbeddingsOptions opts, std::shared_ptr<http::Client> client);

}  // namespace cn::model
