// Provider for OpenAI-compatible /chat/completions upstreams (OpenAI, vLLM, llama.cpp, Ollama,
// gateways). Maps items to chat messages (spec §9.4), streams, and maps chunks back.
#include <boost/asio.hpp>
#include <boost/json.hpp>

#include <map>
#include <unordered_map>
#include <vector>

#include "base/ids.hpp"
#include "base/log.hpp"
#include "http/sse.hpp"
#include "model/provider.hpp"
#include "wire/json.hpp"

namespace cn::model {

namespace {

namespace json = boost::json;
namespace net = boost::asio;

// Appends the chat messages of the context to `out` as a JSON array. Items carry their chat
// form precomputed (wire::finalize_wire), so a long history costs a concatenation. Consecutive
// function calls share one assistant message with a tool_calls list, and each call's output is
// placed right after that message, wherever it came in the items (a client that re-sends its
// last message beside a tool's output would otherwise put a user message between a call and its
// answer, which chat endpoints refuse); an output whose call is not in the context stays where
// it is.
void append_messages(const ModelRequest& req, std::string& out) {
  size_t bytes = 64;
  for (const auto& ip : req.context) bytes += ip->chat.size() + 48;
  out.reserve(out.size() + bytes);
  out += '[';
  bool first = true;
  auto sep = [&] {
    if (!first) out += ',';
    first = false;
  };
  if (req.instructions) {
    sep();
    out += json::serialize(json::object{{"role", "system"}, {"content", *req.instructions}});
  }
  const auto& ctx = req.context;
  // Outputs by the call they answer, and which were already placed after their call.
  std::unordered_map<std::string_view, std::vector<size_t>> outputs;
  for (size_t i = 0; i < ctx.size(); ++i)
    if (ctx[i]->type == ItemType::function_call_output) outputs[ctx[i]->call_id].push_back(i);
  std::vector<bool> placed(ctx.size(), false);
  size_t group_start = 0;  // the first call of the open tool_calls message
  bool in_calls = false;
  auto close_calls = [&](size_t end) {
    out += "]}";
    in_calls = false;
    for (size_t c = group_start; c < end; ++c) {
      if (ctx[c]->type != ItemType::function_call) continue;
      auto found = outputs.find(ctx[c]->call_id);
      if (found == outputs.end()) continue;
      for (size_t o : found->second) {
        if (placed[o] || o < c) continue;
        placed[o] = true;
        sep();
        out += ctx[o]->chat;
      }
    }
  };
  for (size_t i = 0; i < ctx.size(); ++i) {
    const Item& it = *ctx[i];
    if (it.type == ItemType::function_call) {
      if (!in_calls) {
        sep();
        out += R"({"role":"assistant","content":null,"tool_calls":[)";
        in_calls = true;
        group_start = i;
      } else {
        out += ',';
      }
      out += it.chat;
      continue;
    }
    if (in_calls) close_calls(i);
    if (placed[i] || it.chat.empty()) continue;  // reasoning is not sent upstream
    sep();
    out += it.chat;
  }
  if (in_calls) close_calls(ctx.size());
  out += ']';
}

json::object build_body(const ModelRequest& req) {
  json::object body;
  body["model"] = req.model;
  body["stream"] = true;
  body["stream_options"] = json::object{{"include_usage", true}};
  if (!req.tools_json.empty()) {
    json::array tools;
    json::value parsed = json::parse(req.tools_json);
    for (const auto& t : parsed.as_array()) {
      const auto& to = t.as_object();
      json::object fn;
      fn["name"] = to.at("name");
      if (auto* d = to.if_contains("description"); d && !d->is_null()) fn["description"] = *d;
      if (auto* p = to.if_contains("parameters"); p && !p->is_null()) fn["parameters"] = *p;
      if (auto* s = to.if_contains("strict"); s && s->is_bool()) fn["strict"] = *s;
      tools.push_back(json::object{{"type", "function"}, {"function", std::move(fn)}});
    }
    if (!tools.empty()) body["tools"] = std::move(tools);
  }
  if (!req.tool_choice_json.empty()) {
    auto tc = json::parse(req.tool_choice_json);
    if (tc.is_string()) {
      body["tool_choice"] = tc;
    } else if (tc.is_object()) {
      const auto& o = tc.as_object();
      if (o.contains("name")) {
        body["tool_choice"] = json::object{{"type", "function"}, {"function", json::object{{"name", o.at("name")}}}};
      } else if (auto* m = o.if_contains("mode")) {
        body["tool_choice"] = *m;  // allowed_tools: the mode is the closest chat equivalent
      }
    }
  }
  if (req.parallel_tool_calls && body.contains("tools")) body["parallel_tool_calls"] = *req.parallel_tool_calls;
  if (req.max_output_tokens) body["max_tokens"] = *req.max_output_tokens;
  if (req.temperature) body["temperature"] = *req.temperature;
  if (req.top_p) body["top_p"] = *req.top_p;
  if (!req.user.empty()) body["user"] = req.user;
  if (req.logprobs) {
    body["logprobs"] = true;
    if (req.top_logprobs > 0) body["top_logprobs"] = req.top_logprobs;
  }
  if (!req.text_format_json.empty()) {
    auto f = json::parse(req.text_format_json).as_object();
    auto type = f.at("type").as_string();
    if (type == "json_object") {
      body["response_format"] = json::object{{"type", "json_object"}};
    } else if (type == "json_schema") {
      json::object js{{"name", f.at("name")}, {"schema", f.at("schema")}};
      if (auto* s = f.if_contains("strict")) js["strict"] = *s;
      if (auto* d = f.if_contains("description")) js["description"] = *d;
      body["response_format"] = json::object{{"type", "json_schema"}, {"json_schema", std::move(js)}};
    }
  }
  return body;
}

int64_t get_int(const json::object& o, std::string_view k) {
  auto* v = o.if_contains(k);
  if (!v) return 0;
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64()) return static_cast<int64_t>(v->as_uint64());
  return 0;
}

// Parses chat.completion.chunk frames into sink calls. Tolerates Ollama's reused indices,
// missing finish_reason, usage on any chunk, and mid-stream error frames.
class ChunkHandler {
 public:
  ChunkHandler(ModelSink& sink, ModelResult& res) : sink_(sink), res_(res) {}

  void data(std::string_view d) {
    if (failed_ || done_) return;
    if (d == "[DONE]") {
      done_ = true;
      return;
    }
    boost::system::error_code ec;
    auto v = json::parse(d, ec);
    if (ec || !v.is_object()) {
      fail("upstream sent a malformed stream chunk");
      return;
    }
    const auto& o = v.as_object();
    if (auto* e = o.if_contains("error")) {
      std::string msg = "upstream error";
      if (e->is_object())
        if (auto m = wire::string_field(e->as_object(), "message")) msg = "upstream error: " + *m;
      fail(msg);
      return;
    }
    if (auto* u = o.if_contains("usage"); u && u->is_object()) {
      const auto& uo = u->as_object();
      res_.usage.input_tokens = get_int(uo, "prompt_tokens");
      res_.usage.output_tokens = get_int(uo, "completion_tokens");
      if (auto* pd = uo.if_contains("prompt_tokens_details"); pd && pd->is_object())
        res_.usage.cached_tokens = get_int(pd->as_object(), "cached_tokens");
      if (auto* cd = uo.if_contains("completion_tokens_details"); cd && cd->is_object())
        res_.usage.reasoning_tokens = get_int(cd->as_object(), "reasoning_tokens");
      res_.usage_reported = true;
    }
    auto* choices = o.if_contains("choices");
    if (!choices || !choices->is_array()) return;
    for (const auto& c : choices->as_array()) {
      if (!c.is_object()) continue;
      const auto& co = c.as_object();
      if (auto* fr = co.if_contains("finish_reason"); fr && fr->is_string())
        res_.finish_reason = std::string(fr->as_string());
      auto* delta = co.if_contains("delta");
      if (!delta || !delta->is_object()) continue;
      const auto& dl = delta->as_object();
      for (const char* rk : {"reasoning_content", "reasoning"}) {
        if (auto* r = dl.if_contains(rk); r && r->is_string() && !r->as_string().empty())
          sink_.reasoning_delta(r->as_string());
      }
      if (auto* t = dl.if_contains("content"); t && t->is_string() && !t->as_string().empty()) {
        if (auto* lp = co.if_contains("logprobs"); lp && lp->is_object())
          if (auto* entries = lp->as_object().if_contains("content"); entries && entries->is_array() && !entries->as_array().empty())
            sink_.text_logprobs(json::serialize(*entries));
        sink_.text_delta(t->as_string());
      }
      if (auto* tcs = dl.if_contains("tool_calls"); tcs && tcs->is_array()) {
        int pos = 0;
        for (const auto& tc : tcs->as_array()) {
          if (!tc.is_object()) continue;
          tool_call(tc.as_object(), pos++);
        }
      }
    }
  }

  bool failed() const { return failed_; }
  const std::string& error() const { return error_; }
  bool saw_tool_calls() const { return !calls_.empty(); }

 private:
  void tool_call(const json::object& tc, int pos) {
    int64_t idx = tc.contains("index") ? get_int(tc, "index") : pos;
    auto id = wire::string_field(tc, "id");
    std::string name, args;
    if (auto* f = tc.if_contains("function"); f && f->is_object()) {
      name = wire::string_field(f->as_object(), "name").value_or("");
      args = wire::string_field(f->as_object(), "arguments").value_or("");
    }
    auto it = open_.find(idx);
    bool fresh = it == open_.end() || (id && !id->empty() && *id != calls_[it->second].first);
    if (fresh) {
      int n = static_cast<int>(calls_.size());
      std::string call_id = id && !id->empty() ? *id : new_id("call");
      calls_.emplace_back(call_id, name);
      open_[idx] = n;
      sink_.tool_call_begin(n, call_id, name);
      if (!args.empty()) sink_.tool_call_delta(n, args);
    } else if (!args.empty()) {
      sink_.tool_call_delta(it->second, args);
    }
  }
  void fail(std::string m) {
    failed_ = true;
    error_ = std::move(m);
  }

  ModelSink& sink_;
  ModelResult& res_;
  std::map<int64_t, int> open_;
  std::vector<std::pair<std::string, std::string>> calls_;
  bool failed_ = false, done_ = false;
  std::string error_;
};

class OpenAIProvider final : public Provider {
 public:
  OpenAIProvider(OpenAIOptions o, std::shared_ptr<http::Client> c)
      : opts_(std::move(o)), client_(std::move(c)) {
    while (!opts_.base_url.empty() && opts_.base_url.back() == '/') opts_.base_url.pop_back();
  }
  std::string name() const override { return "openai"; }

  net::awaitable<Result<ModelResult>> generate(const ModelRequest& req, ModelSink& sink,
                                               std::shared_ptr<http::CancelToken> cancel) override {
    // The small parameters are serialized as an object; the history is spliced in as text.
    std::string body = json::serialize(build_body(req));
    body.pop_back();  // the closing brace
    body += R"(,"messages":)";
    append_messages(req, body);
    body += '}';
    auto backoff = opts_.initial_backoff;
    Status last;
    for (int attempt = 1; attempt <= opts_.max_attempts; ++attempt) {
      http::ClientRequest cr;
      cr.url = opts_.base_url + "/chat/completions";
      cr.headers.emplace_back("content-type", "application/json");
      cr.headers.emplace_back("accept", "text/event-stream");
      if (!opts_.api_key.empty()) cr.headers.emplace_back("authorization", "Bearer " + opts_.api_key);
      cr.body = body;
      cr.timeout = opts_.call_timeout;
      ModelResult res;
      ChunkHandler handler(sink, res);
      http::SseParser parser([&](std::string_view, std::string_view data) { handler.data(data); });
      // Named, not a temporary in the co_await operand (GCC 12 destroys those twice).
      std::function<bool(std::string_view)> on_data = [&](std::string_view bytes) {
        parser.feed(bytes);
        return !handler.failed();
      };
      auto r = co_await client_->call(std::move(cr), std::move(on_data), cancel);
      if (!r.ok()) {
        last = r.status();
        if (last.code() == Code::cancelled || sink.started()) co_return last;
      } else if (r->status >= 200 && r->status < 300) {
        if (handler.failed()) co_return Status(Code::unavailable, handler.error());
        if (res.finish_reason.empty()) res.finish_reason = handler.saw_tool_calls() ? "tool_calls" : "stop";
        co_return res;
      } else {
        std::string msg = "upstream answered HTTP " + std::to_string(r->status);
        auto v = wire::parse(r->body);
        if (v.ok() && v->is_object())
          if (auto* e = v->as_object().if_contains("error"); e && e->is_object())
            if (auto m = wire::string_field(e->as_object(), "message")) msg += ": " + *m;
        if (r->status == 429 || r->status >= 500) {
          last = Status(Code::unavailable, msg);
        } else {
          co_return Status(Code::invalid_argument, msg, "", "upstream_rejected");
        }
      }
      if (attempt < opts_.max_attempts) {
        spdlog::warn("upstream attempt {} failed ({}); retrying in {} ms", attempt, last.message(),
                     backoff.count());
        co_await sleep_for(backoff);
        backoff *= 2;
      }
    }
    co_return last;
  }

 private:
  OpenAIOptions opts_;
  std::shared_ptr<http::Client> client_;
};

}  // namespace

std::unique_ptr<Provider> make_openai_provider(OpenAIOptions opts, std::shared_ptr<http::Client> client) {
  return std::make_unique<OpenAIProvider>(std::move(opts), std::move(client));
}

}  // namespace cn::model
