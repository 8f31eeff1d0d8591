#include <boost/asio.hpp>

#include "runtime/run_state.hpp"
#include "wire/items.hpp"

namespace cn::runtime {

namespace net = boost::asio;

json::object usage_json(const Usage& u) {
  json::object o;
  o["input_tokens"] = u.input_tokens;
  o["input_tokens_details"] = json::object{{"cached_tokens", u.cached_tokens}, {"cache_write_tokens", 0}};
  o["output_tokens"] = u.output_tokens;
  o["output_tokens_details"] = json::object{{"reasoning_tokens", u.reasoning_tokens}};
  o["total_tokens"] = u.total();
  return o;
}

json::object out_item_json(const OutItem& o) {
  json::object j;
  j["id"] = o.id;
  switch (o.type) {
    case ItemType::message: {
      j["type"] = "message";
      j["status"] = o.status;
      j["role"] = "assistant";
      json::array content;
      if (!o.open || !o.text.empty()) {
        content.push_back(json::object{{"type", "output_text"}, {"text", o.text},
                                       {"annotations", json::array()}, {"logprobs", json::array()}});
      }
      j["content"] = std::move(content);
      break;
    }
    case ItemType::function_call:
      j["type"] = "function_call";
      j["status"] = o.status;
      j["call_id"] = o.call_id;
      j["name"] = o.name;
      j["arguments"] = o.text;
      break;
    case ItemType::reasoning: {
      j["type"] = "reasoning";
      j["summary"] = json::array();
      json::array content;
      if (!o.text.empty()) content.push_back(json::object{{"type", "reasoning_text"}, {"text", o.text}});
      j["content"] = std::move(content);
      j["status"] = o.status;
      break;
    }
    case ItemType::memory_call:
      j["type"] = "memory_call";
      j["status"] = o.status;
      j["call_id"] = o.call_id;
      j["name"] = o.name;
      j["arguments"] = o.text;
      j["output"] = o.output;
      break;
    case ItemType::function_call_output:
      break;  // never produced by a model
  }
  return j;
}

json::object response_object(const std::string& id, const Run::State& st, bool with_output) {
  json::object r;
  r["id"] = id;
  r["object"] = "response";
  r["created_at"] = st.created_at;
  r["status"] = st.status;
  r["background"] = st.echo.contains("background") ? st.echo.at("background") : json::value(false);
  r["completed_at"] = st.completed_at ? json::value(*st.completed_at) : json::value(nullptr);
  r["conversation"] = st.conversation_id ? json::value(json::object{{"id", *st.conversation_id}})
                                         : json::value(nullptr);
  if (st.error) {
    r["error"] = json::object{{"code", st.error->first}, {"message", st.error->second}};
  } else {
    r["error"] = nullptr;
  }
  r["incomplete_details"] = st.incomplete_reason
                                ? json::value(json::object{{"reason", *st.incomplete_reason}})
                                : json::value(nullptr);
  r["instructions"] = st.instructions ? json::value(*st.instructions) : json::value(nullptr);
  r["model"] = st.model;
  json::array output;
  if (with_output)
    for (const auto& o : st.output) output.push_back(out_item_json(o));
  r["output"] = std::move(output);
  r["previous_response_id"] =
      st.previous_response_id ? json::value(*st.previous_response_id) : json::value(nullptr);
  for (const auto& [k, v] : st.echo) {
    if (k == "background") continue;
    r[k] = v;
  }
  r["store"] = st.store;
  r["usage"] = st.usage ? json::value(usage_json(*st.usage)) : json::value(nullptr);
  if (st.memories_used) {
    json::array ids;
    for (const auto& id : *st.memories_used) ids.push_back(json::value(id));
    r["memories_used"] = std::move(ids);
  }
  return r;
}

Run::Run(std::string id, std::string project, bool background)
    : id_(std::move(id)), project_(std::move(project)), background_(background),
      st_(std::make_unique<State>()) {}

std::vector<std::string> Run::events_after(int64_t after, bool* done) const {
  std::lock_guard lk(mu_);
  std::vector<std::string> out;
  size_t start = after < 0 ? 0 : static_cast<size_t>(after + 1);
  for (size_t i = start; i < st_->events.size(); ++i) out.push_back(st_->events[i]);
  *done = st_->done;
  return out;
}

net::awaitable<void> Run::wait(int64_t after, std::chrono::milliseconds timeout) {
  auto ex = co_await net::this_coro::executor;
  auto timer = std::make_shared<net::steady_timer>(ex, timeout);
  {
    std::lock_guard lk(mu_);
    if (st_->done || static_cast<int64_t>(st_->events.size()) > after + 1) co_return;
    st_->waiters.push_back([timer, ex] { net::post(ex, [timer] { timer->cancel(); }); });
  }
  co_await timer->async_wait(net::as_tuple(net::use_awaitable));
}

net::awaitable<void> Run::wait_done() {
  for (;;) {
    int64_t n;
    {
      std::lock_guard lk(mu_);
      if (st_->done) co_return;
      n = static_cast<int64_t>(st_->events.size());
    }
    co_await wait(n - 1, std::chrono::seconds(30));
  }
}

bool Run::done() const {
  std::lock_guard lk(mu_);
  return st_->done;
}

std::string Run::snapshot() const {
  std::lock_guard lk(mu_);
  return json::serialize(response_object(id_, *st_));
}

Status Run::failure() const {
  std::lock_guard lk(mu_);
  return st_->failure;
}

// Called with mu_ held.
void Run::publish(const std::string& type, json::object ev) {
  if (!st_->record_events) return;
  json::object out;
  out["type"] = type;
  out["sequence_number"] = static_cast<int64_t>(st_->events.size());
  for (auto& [k, v] : ev) out[k] = std::move(v);
  st_->events.push_back(json::serialize(out));
}

void Run::wake_all() {
  std::vector<std::function<void()>> w;
  {
    std::lock_guard lk(mu_);
    w.swap(st_->waiters);
  }
  for (auto& f : w) f();
}

}  // namespace cn::runtime
