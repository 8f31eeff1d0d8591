// Run: its events, waiting and snapshots, and the Response object built from its state.
#include <boost/asio.hpp>

#include "runtime/run_state.hpp"
#include "wire/items.hpp"

namespace cn::runtime {

namespace net = boost::asio;

json::value logprobs_json(const std::string& entries) {
  if (entries.empty()) return json::array();
  boost::system::error_code ec;
  auto v = json::parse("[" + entries + "]", ec);
  return ec ? json::value(json::array()) : v;
}

json::object usage_json(const Usage& u) {
  json::object o;
  o["input_tokens"] = u.input_tokens;
  o["input_tokens_details"] = json::object{{"cached_tokens", u.cached_tokens}, {"cache_write_tokens", 0}};
  o["output_tokens"] = u.output_tokens;
  o["output_tokens_details"] = json::object{{"reasoning_tokens", u.reasoning_tokens}};
  o["total_tokens"] = u.total();
  return o;
}

Item to_item(const OutItem& o) {
  switch (o.type) {
    case ItemType::message: {
      Item m = wire::make_output_message(o.id, o.text, o.status);
      if (!o.logprobs.empty()) wire::set_output_logprobs(m, "[" + o.logprobs + "]");
      return m;
    }
    case ItemType::function_call: return wire::make_function_call(o.id, o.call_id, o.name, o.text, o.status);
    case ItemType::reasoning: return wire::make_reasoning(o.id, o.text);
    case ItemType::memory_call: return wire::make_memory_call(o.id, o.call_id, o.name, o.text, o.output);
    case ItemType::agent_handoff:
    case ItemType::agent_call: {
      Item it = wire::make_memory_call(o.id, o.call_id, o.name, o.text, o.output, o.server_label, o.type);
      if (o.status == "failed") {
        it.status = "failed";
        wire::finalize_wire(it);
      }
      return it;
    }
    case ItemType::compaction: {
      Item c;
      c.id = o.id;
      c.type = ItemType::compaction;
      c.arguments = o.text;
      c.output = o.output;
      c.server_label = o.server_label;
      wire::finalize_wire(c);
      return c;
    }
    default: break;
  }
  Item it;
  it.id = o.id;
  it.type = o.type;
  it.status = o.status;
  it.name = o.name;
  it.arguments = o.text;
  it.output = o.output;
  it.server_label = o.server_label;
  it.error = o.error;
  it.approval_request_id = o.approval_request_id;
  return wire::make_mcp_item(std::move(it));
}

json::object out_item_json(const OutItem& o) {
  if (o.type == ItemType::compaction) return json::object{{"id", o.id}, {"type", "compaction"}, {"encrypted_content", o.text}};
  if (o.type == ItemType::mcp_list_tools || o.type == ItemType::mcp_call || o.type == ItemType::mcp_approval_request ||
      o.type == ItemType::code_interpreter_call) {
    auto v = json::parse(to_item(o).wire);
    auto& obj = v.as_object();
    if (o.type == ItemType::mcp_call && o.open) obj["output"] = nullptr;
    if (o.type == ItemType::code_interpreter_call && o.open) obj["outputs"] = nullptr;
    return std::move(obj);
  }
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
                                       {"annotations", json::array()}, {"logprobs", logprobs_json(o.logprobs)}});
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
    case ItemType::agent_handoff:
    case ItemType::agent_call:
      j["type"] = o.type == ItemType::memory_call ? "memory_call" : o.type == ItemType::agent_call ? "agent_call" : "agent_handoff";
      j["status"] = o.status;
      j["call_id"] = o.call_id;
      j["name"] = o.name;
      j["arguments"] = o.text;
      j["output"] = o.output;
      if (is_agent_item(o.type)) j["agent"] = o.server_label;
      break;
    default:
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

std::vector<std::string> synthesize_events(const json::object& response) {
  std::vector<std::string> out;
  auto emit = [&](const char* type, json::object fields) {
    json::object ev;
    ev["type"] = type;  // first: readers take the SSE event name from the start of the text
    ev["sequence_number"] = static_cast<int64_t>(out.size());
    for (auto& [k, v] : fields) ev[k] = std::move(v);
    out.push_back(json::serialize(ev));
  };
  json::object start = response;
  start["status"] = "in_progress";
  start["output"] = json::array();
  start["usage"] = nullptr;
  start["completed_at"] = nullptr;
  start["error"] = nullptr;
  start["incomplete_details"] = nullptr;
  emit("response.created", {{"response", start}});
  emit("response.in_progress", {{"response", start}});
  const json::array empty;
  const auto* outv = response.if_contains("output");
  const auto& items = outv && outv->is_array() ? outv->as_array() : empty;
  for (size_t i = 0; i < items.size(); ++i) {
    if (!items[i].is_object()) continue;
    const auto& item = items[i].as_object();
    auto idx = static_cast<int64_t>(i);
    std::string type = item.contains("type") ? std::string(item.at("type").as_string()) : "";
    std::string id = item.contains("id") ? std::string(item.at("id").as_string()) : "";
    json::object added = item;
    added["status"] = "in_progress";
    if (type == "message" || type == "reasoning") added["content"] = json::array();
    if (type == "function_call") added["arguments"] = "";
    emit("response.output_item.added", {{"output_index", idx}, {"item", added}});
    if (type == "function_call") {
      emit("response.function_call_arguments.delta", {{"item_id", id}, {"output_index", idx}, {"delta", item.at("arguments")}});
      emit("response.function_call_arguments.done",
           {{"item_id", id}, {"output_index", idx}, {"name", item.at("name")}, {"arguments", item.at("arguments")}});
    } else if ((type == "message" || type == "reasoning") && item.contains("content") && item.at("content").is_array()) {
      const auto& parts = item.at("content").as_array();
      for (size_t j = 0; j < parts.size(); ++j) {
        const auto& part = parts[j].as_object();
        auto cidx = static_cast<int64_t>(j);
        std::string ptype(part.at("type").as_string());
        json::object blank = part;
        if (ptype == "refusal") {
          blank["refusal"] = "";
        } else {
          blank["text"] = "";
        }
        emit("response.content_part.added", {{"item_id", id}, {"output_index", idx}, {"content_index", cidx}, {"part", blank}});
        if (ptype == "output_text") {
          emit("response.output_text.delta", {{"item_id", id}, {"output_index", idx}, {"content_index", cidx},
                                              {"delta", part.at("text")}, {"logprobs", json::array()}});
          emit("response.output_text.done", {{"item_id", id}, {"output_index", idx}, {"content_index", cidx},
                                             {"text", part.at("text")}, {"logprobs", json::array()}});
        } else if (ptype == "refusal") {
          emit("response.refusal.delta", {{"item_id", id}, {"output_index", idx}, {"content_index", cidx}, {"delta", part.at("refusal")}});
          emit("response.refusal.done", {{"item_id", id}, {"output_index", idx}, {"content_index", cidx}, {"refusal", part.at("refusal")}});
        } else if (ptype == "reasoning_text") {
          emit("response.reasoning_text.delta", {{"item_id", id}, {"output_index", idx}, {"content_index", cidx}, {"delta", part.at("text")}});
          emit("response.reasoning_text.done", {{"item_id", id}, {"output_index", idx}, {"content_index", cidx}, {"text", part.at("text")}});
        }
        emit("response.content_part.done", {{"item_id", id}, {"output_index", idx}, {"content_index", cidx}, {"part", part}});
      }
    }
    emit("response.output_item.done", {{"output_index", idx}, {"item", item}});
  }
  std::string status = response.contains("status") ? std::string(response.at("status").as_string()) : "completed";
  const char* terminal = status == "completed" ? "response.completed"
                         : status == "failed"  ? "response.failed"
                                               : "response.incomplete";
  emit(terminal, {{"response", response}});
  return out;
}

Run::Run(std::string id, std::string project, bool background, std::string owner)
    : id_(std::move(id)), project_(std::move(project)), background_(background), owner_(std::move(owner)),
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
    if ((st_->done && !st_->settling) || static_cast<int64_t>(st_->events.size()) > after + 1) co_return;
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

bool Run::settled(std::vector<std::string>* notices, std::shared_ptr<Run>* successor) const {
  std::lock_guard lk(mu_);
  if (!st_->done || st_->settling) return false;
  *notices = st_->notices;
  *successor = st_->successor;
  return true;
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
  if (st_->ship) st_->ship();
}

}  // namespace cn::runtime
