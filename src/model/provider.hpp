// The model-provider contract: turn a context of items into streamed output.
//
// A provider reports output through a ModelSink as it arrives, in order, and returns how the
// generation ended. Providers are safe to call concurrently from any executor; the sink is
// called on the caller's executor only.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <map>
#include <mutex>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.hpp"
#include "domain/item.hpp"
#include "http/client.hpp"
#include "model/embed.hpp"

namespace cn::model {

struct ModelRequest {
  std::string model;
  std::optional<std::string> instructions;
  std::vector<ItemPtr> context;      // oldest first, this turn's input last
  std::string tools_json;            // Responses-shape tools array, "" when none
  std::string tool_choice_json;      // Responses-shape tool_choice, "" when default
  std::optional<bool> parallel_tool_calls;
  std::optional<int64_t> max_output_tokens;
  std::optional<double> temperature, top_p;
  std::string text_format_json;      // Responses text.format object, "" when plain text
  std::string user;                  // safety_identifier / user, passed through
  // Log probabilities of the output tokens (include: message.output_text.logprobs), with this
  // many alternatives each (top_logprobs); the sink is told them through text_logprobs.
  bool logprobs = false;
  int top_logprobs = 0;
};

class ModelSink {
 public:
  virtual ~ModelSink() = default;
  virtual void reasoning_delta(std::string_view text) = 0;
  virtual void text_delta(std::string_view text) = 0;
  // The log probabilities of the text delta that follows, as a JSON array of {token, logprob,
  // bytes, top_logprobs} entries (OpenAI's shape). Providers that have none never call it.
  virtual void text_logprobs(std::string_view entries_json) {}
  // A new tool call; `index` counts calls of this generation from 0.
  virtual void tool_call_begin(int index, std::string call_id, std::string name) = 0;
  virtual void tool_call_delta(int index, std::string_view arguments) = 0;
  // True once anything has been emitted (providers do not retry after that).
  virtual bool started() const = 0;
};

struct ModelResult {
  std::string finish_reason;  // "stop", "length", "tool_calls", "content_filter"
  Usage usage;
  bool usage_reported = false;
};

// A sink that keeps what a generation said (its text and its tool calls), for calls whose output
// is not streamed anywhere (summaries, the chat pass-through's built-in model).
class CollectingSink final : public ModelSink {
 public:
  struct Call {
    std::string id, name, arguments;
  };
  void reasoning_delta(std::string_view) override {}
  void text_delta(std::string_view t) override {
    text += t;
    started_ = true;
  }
  void tool_call_begin(int, std::string call_id, std::string name) override {
    calls.push_back({std::move(call_id), std::move(name), {}});
    started_ = true;
  }
  void tool_call_delta(int index, std::string_view args) override {
    if (index >= 0 && static_cast<size_t>(index) < calls.size()) calls[static_cast<size_t>(index)].arguments += args;
  }
  bool started() const override { return started_; }
  std::string text;
  std::vector<Call> calls;

 private:
  bool started_ = false;
};

class Provider {
 public:
  virtual ~Provider() = default;
  // Generates. Fails with unavailable (upstream down or 5xx after retries), deadline_exceeded,
  // cancelled (when `cancel` fired), invalid_argument (upstream said 4xx: bad request).
  virtual boost::asio::awaitable<Result<ModelResult>> generate(
      const ModelRequest& req, ModelSink& sink, std::shared_ptr<http::CancelToken> cancel) = 0;
  virtual std::string name() const = 0;
};

// Routes a request's `model` to a provider: built-in names go to the local model, anything else
// to the upstream; without an upstream, every name goes to the local model. Configure before
// use, then read-only.
class Registry {
 public:
  void set_local(std::unique_ptr<Provider> p) { local_ = std::move(p); }
  void set_upstream(std::unique_ptr<Provider> p) { upstream_ = std::move(p); }
  // Context window per model (tokens); `default_window` when unset.
  void set_context_window(std::string model, int64_t tokens) { windows_[std::move(model)] = tokens; }
  void set_default_window(int64_t tokens) { default_window_ = tokens; }

  // The provider for `model`, or not_found naming the model when none serves it.
  Result<Provider*> route(std::string_view model) const;
  int64_t context_window(std::string_view model) const;
  bool has_upstream() const { return upstream_ != nullptr; }
  // The embeddings provider; the built-in local embedder unless one was set.
  void set_embedder(std::unique_ptr<Embedder> e) { embedder_ = std::move(e); }
  Embedder& embedder() const { return *embedder_; }
  static bool is_local_name(std::string_view model);

 private:
  std::unique_ptr<Provider> local_, upstream_;
  std::unique_ptr<Embedder> embedder_ = make_local_embedder();
  std::map<std::string, int64_t, std::less<>> windows_;
  int64_t default_window_ = 128'000;
};

// The built-in local model (see local.cpp): not an LLM; deterministic replies for offline
// demos and tests.
std::unique_ptr<Provider> make_local_provider();

struct OpenAIOptions {
  std::string base_url;  // e.g. http://127.0.0.1:11434/v1
  std::string api_key;   // may be empty
  int max_attempts = 3;
  std::chrono::milliseconds call_timeout{300'000};
  std::chrono::milliseconds initial_backoff{200};
};
// Calls an OpenAI-compatible /chat/completions endpoint, streaming.
std::unique_ptr<Provider> make_openai_provider(OpenAIOptions opts, std::shared_ptr<http::Client> client);

}  // namespace cn::model
