// Embedders: the built-in hashing embedder and the OpenAI-compatible /embeddings client.
#include "model/embed.hpp"

#include <boost/asio.hpp>
#include <boost/json.hpp>

#include <cmath>

#include "base/log.hpp"

namespace cn::model {

namespace net = boost::asio;
namespace json = boost::json;

namespace {

uint64_t fnv1a(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

void normalize(std::vector<float>& v) {
  float n = 0;
  for (float x : v) n += x * x;
  if (n <= 0) return;
  n = std::sqrt(n);
  for (float& x : v) x /= n;
}

class LocalEmbedder final : public Embedder {
 public:
  net::awaitable<Result<std::vector<float>>> embed(std::string text) override { co_return local_embed(text); }
  std::string name() const override { return "local"; }
};

class OpenAIEmbedder final : public Embedder {
 public:
  OpenAIEmbedder(EmbeddingsOptions o, std::shared_ptr<http::Client> c) : opts_(std::move(o)), client_(std::move(c)) {
    while (!opts_.base_url.empty() && opts_.base_url.back() == '/') opts_.base_url.pop_back();
  }
  std::string name() const override { return "openai:" + opts_.model; }

  net::awaitable<Result<std::vector<float>>> embed(std::string text) override {
    std::string body = json::serialize(json::object{{"model", opts_.model}, {"input", text}});
    Status last;
    auto backoff = std::chrono::milliseconds(200);
    for (int attempt = 1; attempt <= opts_.max_attempts; ++attempt) {
      http::ClientRequest r;
      r.url = opts_.base_url + "/embeddings";
      r.headers.emplace_back("content-type", "application/json");
      if (!opts_.api_key.empty()) r.headers.emplace_back("authorization", "Bearer " + opts_.api_key);
      r.body = body;
      r.timeout = opts_.timeout;
      auto res = co_await client_->call(std::move(r));
      if (res.ok() && res->status == 200) {
        boost::system::error_code ec;
        auto v = json::parse(res->body, ec);
        const json::value* emb = nullptr;
        if (!ec && v.is_object())
          if (auto* d = v.as_object().if_contains("data"); d && d->is_array() && !d->as_array().empty())
            if (d->as_array()[0].is_object()) emb = d->as_array()[0].as_object().if_contains("embedding");
        if (!emb || !emb->is_array() || emb->as_array().empty())
          co_return Status(Code::unavailable, "the embeddings upstream answered without data[0].embedding");
        std::vector<float> out;
        out.reserve(emb->as_array().size());
        for (const auto& x : emb->as_array()) {
          if (!x.is_number()) co_return Status(Code::unavailable, "the embeddings upstream sent a non-number");
          out.push_back(static_cast<float>(x.to_number<double>()));
        }
        normalize(out);
        co_return out;
      }
      last = res.ok() ? Status(Code::unavailable, "embeddings upstream answered HTTP " + std::to_string(res->status))
                      : res.status();
      if (res.ok() && res->status >= 400 && res->status < 500 && res->status != 429) co_return last;
      if (attempt < opts_.max_attempts) {
        co_await sleep_for(backoff);
        backoff *= 2;
      }
    }
    co_return last;
  }

 private:
  EmbeddingsOptions opts_;
  std::shared_ptr<http::Client> client_;
};

}  // namespace

std::vector<std::string> words(std::string_view text) {
  std::vector<std::string> out;
  std::string cur;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c >= 0x80) {
      cur += static_cast<char>(std::tolower(c));
    } else if (!cur.empty()) {
      out.push_back(std::move(cur));
      cur.clear();
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

std::vector<float> local_embed(std::string_view text) {
  std::vector<float> v(kLocalDims, 0.f);
  auto ws = words(text);
  auto add = [&](std::string_view feature, float weight) {
    uint64_t h = fnv1a(feature);
    v[h % kLocalDims] += (h >> 63) ? weight : -weight;
  };
  for (size_t i = 0; i < ws.size(); ++i) {
    add(ws[i], 1.f);
    // A crude stem: shared prefixes of longer words meet ("prefers"/"preference").
    if (ws[i].size() > 5) add(std::string_view(ws[i]).substr(0, 5), 0.5f);
    if (i + 1 < ws.size()) add(ws[i] + " " + ws[i + 1], 0.7f);
  }
  normalize(v);
  return v;
}

net::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  auto ex = co_await net::this_coro::executor;
  net::steady_timer t(ex);
  t.expires_after(d);
  co_await t.async_wait(net::as_tuple(net::use_awaitable));
}

std::unique_ptr<Embedder> make_local_embedder() { return std::make_unique<LocalEmbedder>(); }

std::unique_ptr<Embedder> make_openai_embedder(EmbeddingsOptions opts, std::shared_ptr<http::Client> client) {
  return std::make_unique<OpenAIEmbedder>(std::move(opts), std::move(client));
}

}  // namespace cn::model
