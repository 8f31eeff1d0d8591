// One base URL for a whole OpenAI client: GET /v1/models, GET /v1/models/{id}, POST
// /v1/embeddings and POST /v1/chat/completions, authenticated and metered like turns (the
// project's token quota is checked before and charged after), served by the upstream when one is
// configured and by the built-in models otherwise (continuum-local for chat, the local embedder
// for embeddings). Upstream answers, errors included, reach the client as the upstream sent them;
// a streamed chat completion is relayed as it arrives, with a bounded buffer (a client that
// cannot keep up is cut, not buffered for).
#include "api/route_prelude.hpp"
#include "base/ids.hpp"
#include "http/sse.hpp"
#include "model/provider.hpp"
#include "wire/json.hpp"

#include <sodium.h>

#include <cstring>

namespace cn::api {

namespace {

constexpr size_t kMaxRelayBuffer = 4u << 20;  // bytes of a relayed stream waiting for a slow client

struct Pass {
  identity::Authenticator& auth;
  PassthroughOptions opts;
};

Response upstream_answer(const http::ClientResponse& r) {
  Response res = Response::json(r.status, r.body);
  return res;
}

Status upstream_down(const Status& st) {
  Status out(Code::unavailable, "The upstream model server did not answer: " + st.message(), "", "upstream_error");
  out.with_http_status(502);
  return out;
}

http::ClientRequest upstream_request(const PassthroughOptions& o, std::string method, std::string path, std::string body) {
  http::ClientRequest r;
  r.method = std::move(method);
  std::string base = o.base_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  r.url = base + path;
  r.body = std::move(body);
  r.timeout = o.timeout;
  r.max_body = 64u << 20;
  r.headers.emplace_back("content-type", "application/json");
  if (!o.api_key.empty()) r.headers.emplace_back("authorization", "Bearer " + o.api_key);
  return r;
}

json::object local_model(std::string_view id) {
  return json::object{{"id", id}, {"object", "model"}, {"created", 0}, {"owned_by", "continuum"}};
}

int64_t usage_tokens(const json::value& v) {
  auto* o = v.if_object();
  auto* u = o ? o->if_contains("usage") : nullptr;
  auto* uo = u ? u->if_object() : nullptr;
  if (!uo) return 0;
  auto* t = uo->if_contains("total_tokens");
  if (t && t->is_int64()) return t->as_int64();
  int64_t n = 0;
  for (const char* k : {"prompt_tokens", "completion_tokens"})
    if (auto* x = uo->if_contains(k); x && x->is_int64()) n += x->as_int64();
  return n;
}

// The quota check before a metered call, and the charge after it.
Status quota_left(identity::Authenticator& auth, const identity::Principal& who, Request& req) {
  if (auto* limiter = auth.limiter()) return limiter->tokens_available(who.project_id, req.answer_headers);
  return {};
}
void charge(identity::Authenticator& auth, const identity::Principal& who, int64_t tokens) {
  if (auto* limiter = auth.limiter(); limiter && tokens > 0) limiter->charge_tokens(who.project_id, tokens);
}

// The texts of an embeddings request's `input`.
Result<std::vector<std::string>> embedding_inputs(const json::object& body) {
  auto* in = wire::field(body, "input");
  if (!in) return Status(Code::invalid_argument, "Missing required parameter: 'input'.", "input", "missing_required_parameter");
  std::vector<std::string> out;
  if (in->is_string()) {
    out.emplace_back(in->as_string());
  } else if (in->is_array() && !in->as_array().empty()) {
    for (const auto& v : in->as_array()) {
      if (!v.is_string())
        return Status(Code::invalid_argument, "Invalid 'input': the built-in embedder takes strings, not token arrays.", "input",
                      "invalid_type");
      out.emplace_back(v.as_string());
    }
  } else {
    return Status(Code::invalid_argument, "Invalid 'input': expected a string or a non-empty array of strings.", "input",
                  "invalid_type");
  }
  if (out.size() > 2048) return Status(Code::invalid_argument, "Invalid 'input': at most 2048 inputs.", "input", "invalid_value");
  return out;
}

std::string base64_floats(const std::vector<float>& v) {
  std::string raw(v.size() * sizeof(float), '\0');
  std::memcpy(raw.data(), v.data(), raw.size());  // little-endian on every platform this builds for
  std::string out(sodium_base64_ENCODED_LEN(raw.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(raw.data()), raw.size(),
                    sodium_base64_VARIANT_ORIGINAL);
  out.resize(std::strlen(out.c_str()));
  return out;
}

// A chat completion from the built-in model: the messages become items, as a turn's would.
awaitable<Response> local_chat(Pass& p, const identity::Principal& who, const json::object& body, Stream& stream) {
  auto* msgs = wire::field(body, "messages");
  if (!msgs || !msgs->is_array() || msgs->as_array().empty())
    co_return error_response(Status(Code::invalid_argument, "Missing required parameter: 'messages'.", "messages",
                                    "missing_required_parameter"));
  model::ModelRequest mr;
  mr.model = std::string(body.at("model").as_string());
  for (size_t i = 0; i < msgs->as_array().size(); ++i) {
    const auto& m = msgs->as_array()[i];
    std::string path = "messages[" + std::to_string(i) + "]";
    auto* mo = m.if_object();
    auto role = mo ? wire::string_field(*mo, "role") : std::nullopt;
    if (!role) co_return error_response(Status(Code::invalid_argument, "Invalid '" + path + "': expected an object with a role.", path, "invalid_type"));
    Item it;
    if (*role == "tool") {
      it.type = ItemType::function_call_output;
      it.call_id = wire::string_field(*mo, "tool_call_id").value_or("");
      it.output = wire::string_field(*mo, "content").value_or("");
    } else {
      it.role = *role == "developer" ? "system" : *role;
      std::string text;
      if (auto* c = mo->if_contains("content"); c && c->is_string()) {
        text = std::string(c->as_string());
      } else if (c && c->is_array()) {
        for (const auto& part : c->as_array())
          if (auto* po = part.if_object())
            if (auto t = wire::string_field(*po, "text")) text += *t;
      }
      it.content.push_back({it.role == "assistant" ? "output_text" : "input_text", text});
    }
    mr.context.push_back(std::make_shared<const Item>(std::move(it)));
  }
  if (auto* tools = wire::field(body, "tools"); tools && tools->is_array()) {
    json::array flat;
    for (const auto& t : tools->as_array())
      if (auto* to = t.if_object())
        if (auto* f = to->if_contains("function"); f && f->is_object()) flat.push_back(f->as_object());
    if (!flat.empty()) mr.tools_json = json::serialize(flat);
  }
  if (auto* tc = wire::field(body, "tool_choice"); tc && tc->is_string()) mr.tool_choice_json = json::serialize(*tc);
  auto prov = p.opts.models->route(mr.model);
  if (!prov.ok()) co_return error_response(prov.status());
  model::CollectingSink sink;
  auto never = std::make_shared<http::CancelToken>();
  auto res = co_await (*prov)->generate(mr, sink, never);
  if (!res.ok()) co_return error_response(res.status());
  std::string id = new_id("chatcmpl");
  int64_t created = static_cast<int64_t>(std::time(nullptr));
  json::array calls;
  for (const auto& c : sink.calls)
    calls.push_back(json::object{{"id", c.id}, {"type", "function"}, {"function", json::object{{"name", c.name}, {"arguments", c.arguments}}}});
  std::string finish = calls.empty() ? "stop" : "tool_calls";
  json::object usage{{"prompt_tokens", res->usage.input_tokens},
                     {"completion_tokens", res->usage.output_tokens},
                     {"total_tokens", res->usage.input_tokens + res->usage.output_tokens}};
  charge(p.auth, who, res->usage.input_tokens + res->usage.output_tokens);
  auto* s = wire::field(body, "stream");
  if (s && s->is_bool() && s->as_bool()) {
    Response r;
    r.streamed = true;
    std::vector<std::pair<std::string, std::string>> no_headers;
    bool open = co_await stream.start_sse(200, std::move(no_headers));
    if (!open) co_return r;
    auto chunk = [&](json::object delta, json::value fin) {
      json::object c{{"id", id}, {"object", "chat.completion.chunk"}, {"created", created}, {"model", mr.model},
                     {"choices", json::array{json::object{{"index", 0}, {"delta", std::move(delta)}, {"finish_reason", std::move(fin)}}}}};
      return "data: " + json::serialize(c) + "\n\n";
    };
    std::string out = chunk(json::object{{"role", "assistant"}, {"content", sink.text}}, nullptr);
    if (!calls.empty()) {
      json::array indexed;
      for (size_t i = 0; i < calls.size(); ++i) {
        auto c = calls[i].as_object();
        c["index"] = static_cast<int64_t>(i);
        indexed.push_back(std::move(c));
      }
      out += chunk(json::object{{"tool_calls", std::move(indexed)}}, nullptr);
    }
    out += chunk(json::object{}, json::value(finish));
    if (auto* so = wire::field(body, "stream_options"); so && so->is_object())
      if (auto* iu = so->as_object().if_contains("include_usage"); iu && iu->is_bool() && iu->as_bool())
        out += "data: " + json::serialize(json::object{{"id", id}, {"object", "chat.completion.chunk"}, {"created", created},
                                                       {"model", mr.model}, {"choices", json::array()}, {"usage", usage}}) + "\n\n";
    out += "data: [DONE]\n\n";
    bool written = co_await stream.write(std::move(out));
    if (written) co_await stream.finish();
    co_return r;
  }
  json::object msg{{"role", "assistant"}, {"content", calls.empty() ? json::value(sink.text) : json::value(nullptr)}};
  if (!calls.empty()) msg["tool_calls"] = std::move(calls);
  json::object completion{{"id", id}, {"object", "chat.completion"}, {"created", created}, {"model", mr.model},
                          {"choices", json::array{json::object{{"index", 0}, {"message", std::move(msg)}, {"finish_reason", finish}, {"logprobs", nullptr}}}},
                          {"usage", std::move(usage)}};
  co_return Response::json(200, json::serialize(completion));
}

// Relays a streamed chat completion from the upstream as it arrives.
struct Relay {
  std::string pending;
  bool done = false, overflow = false;
  Result<http::ClientResponse> outcome = Status(Code::internal, "not finished");
  int64_t tokens = 0;
  std::unique_ptr<net::steady_timer> wake;
  http::SseParser parser{[this](std::string_view, std::string_view data) {
    if (data == "[DONE]") return;
    boost::system::error_code ec;
    auto v = json::parse(data, ec);
    if (!ec) tokens = std::max(tokens, usage_tokens(v));
  }};
};

awaitable<void> relay_upstream(std::shared_ptr<Relay> r, http::Client* client, http::ClientRequest req,
                               std::shared_ptr<http::CancelToken> cancel) {
  auto on_data = [r](std::string_view bytes) {
    if (r->pending.size() + bytes.size() > kMaxRelayBuffer) {
      r->overflow = true;
      return false;
    }
    r->pending.append(bytes);
    r->parser.feed(bytes);
    r->wake->cancel();
    return true;
  };
  r->outcome = co_await client->call(std::move(req), on_data, cancel);
  r->done = true;
  r->wake->cancel();
}

awaitable<Response> upstream_chat(Pass& p, const identity::Principal& who, std::string body, bool streamed, Stream& stream) {
  auto req = upstream_request(p.opts, "POST", "/chat/completions", std::move(body));
  if (!streamed) {
    auto r = co_await p.opts.client->call(std::move(req));
    if (!r.ok()) co_return error_response(upstream_down(r.status()));
    boost::system::error_code ec;
    auto v = json::parse(r->body, ec);
    if (!ec) charge(p.auth, who, usage_tokens(v));
    co_return upstream_answer(*r);
  }
  auto ex = co_await net::this_coro::executor;
  auto relay = std::make_shared<Relay>();
  relay->wake = std::make_unique<net::steady_timer>(ex, std::chrono::steady_clock::time_point::max());
  auto cancel = std::make_shared<http::CancelToken>();
  net::co_spawn(ex, relay_upstream(relay, p.opts.client, std::move(req), cancel), net::detached);
  Response res;
  res.streamed = true;
  bool started = false;
  for (;;) {
    if (relay->pending.empty() && !relay->done) {
      relay->wake->expires_at(std::chrono::steady_clock::time_point::max());
      boost::system::error_code ec;
      co_await relay->wake->async_wait(net::redirect_error(net::use_awaitable, ec));
      continue;
    }
    if (!started) {
      if (relay->done && !relay->outcome.ok()) co_return error_response(upstream_down(relay->outcome.status()));
      if (relay->done && relay->outcome->status / 100 != 2) co_return upstream_answer(*relay->outcome);
      std::vector<std::pair<std::string, std::string>> no_headers;
      bool open = co_await stream.start_sse(200, std::move(no_headers));
      if (!open) {
        cancel->cancel();
        co_return res;
      }
      started = true;
    }
    if (!relay->pending.empty()) {
      std::string chunk = std::move(relay->pending);
      relay->pending.clear();
      bool ok = co_await stream.write(std::move(chunk));
      if (!ok) {
        cancel->cancel();
        break;
      }
      continue;
    }
    if (relay->done) {
      co_await stream.finish();
      break;
    }
  }
  // A relay cut short keeps running until its call sees the cancellation; its tokens so far count.
  charge(p.auth, who, relay->tokens);
  co_return res;
}

// A metered route's caller, body and model: authorized, the body an object naming a model, and
// the project's token quota not spent.
struct Metered {
  identity::Principal who;
  json::object body;
  std::string model;
};
awaitable<Result<Metered>> metered(Pass& p, Request& req) {
  auto who = co_await authorize(req, p.auth, identity::kResponses);
  if (!who.ok()) co_return who.status();
  auto body = object_body(req);
  if (!body.ok()) co_return body.status();
  auto model = wire::string_field(*body, "model");
  if (!model) co_return Status(Code::invalid_argument, "Missing required parameter: 'model'.", "model", "missing_required_parameter");
  if (Status s = quota_left(p.auth, *who, req); !s.ok()) co_return s;
  co_return Metered{std::move(*who), std::move(*body), std::move(*model)};
}

}  // namespace

void install_passthrough(http::Router& router, identity::Authenticator& auth, PassthroughOptions opts) {
  auto p = std::make_shared<Pass>(Pass{auth, std::move(opts)});

  router.add("GET", "/v1/models", [p](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, p->auth, identity::kResponses);
    if (!who.ok()) co_return error_response(who.status());
    json::array data{local_model("continuum-local")};
    if (p->opts.client && !p->opts.base_url.empty()) {
      auto ureq = upstream_request(p->opts, "GET", "/models", "");
      auto r = co_await p->opts.client->call(std::move(ureq));
      if (!r.ok()) co_return error_response(upstream_down(r.status()));
      boost::system::error_code ec;
      auto v = json::parse(r->body, ec);
      if (r->status == 200 && !ec && v.is_object())
        if (auto* d = v.as_object().if_contains("data"); d && d->is_array())
          for (const auto& m : d->as_array()) data.push_back(m);
    }
    co_return Response::json(200, json::serialize(json::object{{"object", "list"}, {"data", std::move(data)}}));
  });

  router.add("GET", "/v1/models/{id}", [p](Request& req, Stream&) -> awaitable<Response> {
    auto who = co_await authorize(req, p->auth, identity::kResponses);
    if (!who.ok()) co_return error_response(who.status());
    const std::string& id = req.params.at("id");
    if (model::Registry::is_local_name(id)) co_return Response::json(200, json::serialize(local_model(id)));
    if (p->opts.client && !p->opts.base_url.empty()) {
      auto ureq = upstream_request(p->opts, "GET", "/models/" + id, "");
      auto r = co_await p->opts.client->call(std::move(ureq));
      if (!r.ok()) co_return error_response(upstream_down(r.status()));
      co_return upstream_answer(*r);
    }
    co_return error_response(Status(Code::not_found, "The model '" + id + "' does not exist.", "model", "model_not_found"));
  });

  router.add("POST", "/v1/embeddings", [p](Request& req, Stream&) -> awaitable<Response> {
    auto m = co_await metered(*p, req);
    if (!m.ok()) co_return error_response(m.status());
    const identity::Principal& who = m->who;
    const json::object& body = m->body;
    const std::string& model = m->model;
    if (p->opts.client && !p->opts.base_url.empty() && !model::Registry::is_local_name(model)) {
      auto ureq = upstream_request(p->opts, "POST", "/embeddings", req.body);
      auto r = co_await p->opts.client->call(std::move(ureq));
      if (!r.ok()) co_return error_response(upstream_down(r.status()));
      boost::system::error_code ec;
      auto v = json::parse(r->body, ec);
      if (!ec) charge(p->auth, who, usage_tokens(v));
      co_return upstream_answer(*r);
    }
    auto inputs = embedding_inputs(body);
    if (!inputs.ok()) co_return error_response(inputs.status());
    bool b64 = false;
    if (auto f = wire::string_field(body, "encoding_format")) {
      if (*f != "float" && *f != "base64")
        co_return error_response(Status(Code::invalid_argument, "Invalid value: '" + *f + "'. Supported values are: 'float' and 'base64'.",
                                        "encoding_format", "invalid_value"));
      b64 = *f == "base64";
    }
    auto& embedder = p->opts.models->embedder();
    json::array data;
    int64_t tokens = 0;
    auto meter = p->opts.counter ? p->opts.counter->meter(model) : tokens::Meter();
    for (size_t i = 0; i < inputs->size(); ++i) {
      std::string text = (*inputs)[i];
      auto e = co_await embedder.embed(std::move(text));
      if (!e.ok()) co_return error_response(e.status());
      tokens += meter.text((*inputs)[i]);
      json::value emb;
      if (b64) {
        emb = base64_floats(*e);
      } else {
        json::array a;
        a.reserve(e->size());
        for (float f : *e) a.push_back(static_cast<double>(f));
        emb = std::move(a);
      }
      data.push_back(json::object{{"object", "embedding"}, {"index", static_cast<int64_t>(i)}, {"embedding", std::move(emb)}});
    }
    charge(p->auth, who, tokens);
    co_return Response::json(200, json::serialize(json::object{{"object", "list"}, {"data", std::move(data)}, {"model", model},
                                                               {"usage", json::object{{"prompt_tokens", tokens}, {"total_tokens", tokens}}}}));
  });

  router.add("POST", "/v1/chat/completions", [p](Request& req, Stream& stream) -> awaitable<Response> {
    auto m = co_await metered(*p, req);
    if (!m.ok()) co_return error_response(m.status());
    const identity::Principal& who = m->who;
    const json::object& body = m->body;
    const std::string& model = m->model;
    auto* s = wire::field(body, "stream");
    bool streamed = s && s->is_bool() && s->as_bool();
    if (p->opts.client && !p->opts.base_url.empty() && !model::Registry::is_local_name(model))
    {
      std::string raw = req.body;
      auto answered = co_await upstream_chat(*p, who, std::move(raw), streamed, stream);
      co_return answered;
    }
    auto answered = co_await local_chat(*p, who, body, stream);
    co_return answered;
  });
}

}  // namespace cn::api
