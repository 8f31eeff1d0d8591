// OutputSink (see output_sink.hpp): model deltas to output items and Responses stream events.
#include "runtime/output_sink.hpp"

#include "base/ids.hpp"

namespace cn::runtime {

void OutputSink::reasoning_delta(std::string_view t) {
  std::lock_guard lk(run_.mu_);
  auto& st = *run_.st_;
  int idx = open_of(ItemType::reasoning);
  if (idx < 0) {
    close_text_items();
    idx = begin(ItemType::reasoning, item_id("rs"));
    run_.publish("response.content_part.added",
                 {{"item_id", st.output[idx].id}, {"output_index", idx}, {"content_index", 0},
                  {"part", json::object{{"type", "reasoning_text"}, {"text", ""}}}});
  }
  st.output[idx].text += t;
  if (st.record_events)
    run_.publish("response.reasoning_text.delta",
                 {{"item_id", st.output[idx].id}, {"output_index", idx}, {"content_index", 0}, {"delta", t}});
  started_ = true;
  wake();
}

void OutputSink::text_delta(std::string_view t) {
  std::lock_guard lk(run_.mu_);
  auto& st = *run_.st_;
  int idx = open_of(ItemType::message);
  if (idx < 0) {
    close_text_items();
    idx = begin(ItemType::message, item_id("msg"));
    run_.publish("response.content_part.added",
                 {{"item_id", st.output[idx].id}, {"output_index", idx}, {"content_index", 0},
                  {"part", json::object{{"type", "output_text"}, {"text", ""}, {"annotations", json::array()},
                                        {"logprobs", json::array()}}}});
  }
  st.output[idx].text += t;
  json::value logprobs = json::array();
  if (pending_logprobs_.size() > 2) {
    // The delta's entries join the item's (kept as the text of a JSON array's elements).
    auto& all = st.output[idx].logprobs;
    if (!all.empty()) all += ',';
    all.append(pending_logprobs_, 1, pending_logprobs_.size() - 2);
    boost::system::error_code ec;
    logprobs = json::parse(pending_logprobs_, ec);
    if (ec) logprobs = json::array();
    pending_logprobs_.clear();
  }
  if (st.record_events)
    run_.publish("response.output_text.delta", {{"item_id", st.output[idx].id},
                                                {"output_index", idx},
                                                {"content_index", 0},
                                                {"delta", t},
                                                {"logprobs", std::move(logprobs)}});
  started_ = true;
  wake();
}

void OutputSink::text_logprobs(std::string_view entries_json) {
  if (entries_json.size() >= 2 && entries_json.front() == '[' && entries_json.back() == ']') pending_logprobs_ = entries_json;
}

void OutputSink::tool_call_begin(int index, std::string call_id, std::string name) {
  std::lock_guard lk(run_.mu_);
  close_text_items();
  std::shared_ptr<tools::Tool> server = tools_ ? tools_->find(name) : nullptr;
  ItemType type = server ? server->item_type() : ItemType::function_call;
  if (server && server->needs_approval()) type = ItemType::mcp_approval_request;
  const char* prefix = type == ItemType::function_call           ? "fc"
                       : type == ItemType::mcp_call                ? "mcp"
                       : type == ItemType::mcp_approval_request    ? "mcpr"
                       : type == ItemType::code_interpreter_call   ? "ci"
                       : type == ItemType::agent_handoff           ? "ho"
                       : type == ItemType::agent_call              ? "ac"
                                                                   : "mc";
  OutItem o{type, item_id(prefix)};
  o.call_id = std::move(call_id);
  o.name = std::move(name);
  if (server) o.server_label = server->item_label();
  int idx = push(std::move(o));
  calls_[index] = idx;
  started_ = true;
  wake();
}

void OutputSink::tool_call_delta(int index, std::string_view args) {
  std::lock_guard lk(run_.mu_);
  auto it = calls_.find(index);
  if (it == calls_.end()) return;
  auto& o = run_.st_->output[it->second];
  o.text += args;
  if (o.type == ItemType::function_call && run_.st_->record_events)
    run_.publish("response.function_call_arguments.delta", {{"item_id", o.id}, {"output_index", it->second}, {"delta", args}});
  else if (o.type == ItemType::mcp_call && run_.st_->record_events)
    run_.publish("response.mcp_call_arguments.delta", {{"item_id", o.id}, {"output_index", it->second}, {"delta", args}});
  wake();
}

void OutputSink::next_step() {
  std::lock_guard lk(run_.mu_);
  close_text_items();
  calls_.clear();
}

std::vector<int> OutputSink::pending_server_calls() {
  std::lock_guard lk(run_.mu_);
  std::vector<int> out;
  auto& st = *run_.st_;
  for (size_t i = 0; i < st.output.size(); ++i) {
    const auto& o = st.output[i];
    if (o.open && is_server_call(o.type)) out.push_back(static_cast<int>(i));
  }
  return out;
}

std::string OutputSink::handoff_since(size_t from) {
  std::lock_guard lk(run_.mu_);
  std::string to;
  const auto& out = run_.st_->output;
  for (size_t i = from; i < out.size(); ++i)
    if (out[i].type == ItemType::agent_handoff && !out[i].open && out[i].status == "completed") to = out[i].server_label;
  return to;
}

bool OutputSink::has_client_calls() {
  std::lock_guard lk(run_.mu_);
  for (const auto& o : run_.st_->output)
    if (o.open && (o.type == ItemType::function_call || o.type == ItemType::mcp_approval_request)) return true;
  return false;
}

std::string OutputSink::required_input() {
  std::lock_guard lk(run_.mu_);
  json::array out;
  for (const auto& o : run_.st_->output) {
    if (!o.open) continue;
    if (o.type == ItemType::function_call)
      out.push_back(json::object{{"type", "function_call_output"}, {"call_id", o.call_id}, {"name", o.name}});
    else if (o.type == ItemType::mcp_approval_request)
      out.push_back(json::object{{"type", "mcp_approval_response"}, {"approval_request_id", o.id}});
  }
  return json::serialize(out);
}

void OutputSink::start_server_call(int idx) {
  {
    std::lock_guard lk(run_.mu_);
    auto& o = run_.st_->output[static_cast<size_t>(idx)];
    if (o.type == ItemType::code_interpreter_call) {
      boost::system::error_code ec;
      auto args = json::parse(o.text, ec);
      const json::value* code = !ec && args.is_object() ? args.as_object().if_contains("code") : nullptr;
      std::string text = code && code->is_string() ? std::string(code->as_string()) : std::string();
      run_.publish("response.code_interpreter_call.in_progress", {{"item_id", o.id}, {"output_index", idx}});
      run_.publish("response.code_interpreter_call_code.done", {{"item_id", o.id}, {"output_index", idx}, {"code", text}});
      run_.publish("response.code_interpreter_call.interpreting", {{"item_id", o.id}, {"output_index", idx}});
      return;
    }
    if (o.type != ItemType::mcp_call) return;
    run_.publish("response.mcp_call_arguments.done", {{"item_id", o.id}, {"output_index", idx}, {"arguments", o.text}});
    run_.publish("response.mcp_call.in_progress", {{"item_id", o.id}, {"output_index", idx}});
  }
  run_.wake_all();
}

void OutputSink::complete_server_call(int idx, std::string output, bool error) {
  {
    std::lock_guard lk(run_.mu_);
    auto& o = run_.st_->output[static_cast<size_t>(idx)];
    o.open = false;
    if (o.type == ItemType::mcp_call && error) {
      // The tool's error answer is {"error": "..."}; the item carries the message.
      boost::system::error_code ec;
      auto v = json::parse(output, ec);
      const json::value* m = !ec && v.is_object() ? v.as_object().if_contains("error") : nullptr;
      o.error = m && m->is_string() ? std::string(m->as_string()) : output;
      o.status = "failed";
      run_.publish("response.mcp_call.failed", {{"item_id", o.id}, {"output_index", idx}});
    } else if ((is_agent_item(o.type) || o.type == ItemType::memory_call) && error) {
      o.output = std::move(output);
      o.status = "failed";  // the run goes on as the same agent
    } else {
      o.output = std::move(output);
      o.status = "completed";
      if (o.type == ItemType::mcp_call)
        run_.publish("response.mcp_call.completed", {{"item_id", o.id}, {"output_index", idx}});
      if (o.type == ItemType::code_interpreter_call)
        run_.publish("response.code_interpreter_call.completed", {{"item_id", o.id}, {"output_index", idx}});
    }
    run_.publish("response.output_item.done", {{"output_index", idx}, {"item", out_item_json(o)}});
  }
  run_.wake_all();
}

int OutputSink::approved_call(const Item& request, const std::string& approval_id, const std::string& declined) {
  int idx;
  {
    std::lock_guard lk(run_.mu_);
    OutItem o{ItemType::mcp_call, item_id("mcp")};
    o.name = request.name;
    o.text = request.arguments;
    o.server_label = request.server_label;
    o.approval_request_id = approval_id;
    idx = push(std::move(o));
    if (!declined.empty()) {
      auto& it = run_.st_->output[static_cast<size_t>(idx)];
      it.open = false;
      it.status = "failed";
      it.error = declined;
      run_.publish("response.mcp_call.failed", {{"item_id", it.id}, {"output_index", idx}});
      run_.publish("response.output_item.done", {{"output_index", idx}, {"item", out_item_json(it)}});
    }
  }
  run_.wake_all();
  return idx;
}

int OutputSink::begin_listing(const std::string& label) {
  int idx;
  {
    std::lock_guard lk(run_.mu_);
    OutItem o{ItemType::mcp_list_tools, item_id("mcpl")};
    o.server_label = label;
    o.output = "[]";
    idx = push(std::move(o));
    run_.publish("response.mcp_list_tools.in_progress", {{"item_id", run_.st_->output[idx].id}, {"output_index", idx}});
  }
  run_.wake_all();
  return idx;
}

void OutputSink::complete_listing(int idx, std::string tools_json, std::string error) {
  {
    std::lock_guard lk(run_.mu_);
    auto& o = run_.st_->output[static_cast<size_t>(idx)];
    o.open = false;
    o.status = "completed";
    o.output = std::move(tools_json);
    o.error = std::move(error);
    run_.publish(o.error.empty() ? "response.mcp_list_tools.completed" : "response.mcp_list_tools.failed",
                 {{"item_id", o.id}, {"output_index", idx}});
    run_.publish("response.output_item.done", {{"output_index", idx}, {"item", out_item_json(o)}});
  }
  run_.wake_all();
}

void OutputSink::finish(const std::string& status) {
  std::lock_guard lk(run_.mu_);
  close_text_items(status);
  auto& st = *run_.st_;
  for (size_t i = 0; i < st.output.size(); ++i) {
    auto& o = st.output[i];
    if (!o.open || (o.type != ItemType::function_call && o.type != ItemType::mcp_approval_request)) continue;
    o.open = false;
    o.status = status;
    int idx = static_cast<int>(i);
    if (o.type == ItemType::function_call)
      run_.publish("response.function_call_arguments.done",
                   {{"item_id", o.id}, {"output_index", idx}, {"name", o.name}, {"arguments", o.text}});
    run_.publish("response.output_item.done", {{"output_index", idx}, {"item", out_item_json(o)}});
  }
}

void OutputSink::flush() {
  if (pending_wake_) {
    pending_wake_ = false;
    run_.wake_all();
  }
}

int OutputSink::open_of(ItemType t) {
  auto& out = run_.st_->output;
  for (int i = static_cast<int>(out.size()) - 1; i >= 0; --i)
    if (out[i].open && out[i].type == t) return i;
  return -1;
}

int OutputSink::push(OutItem o) {
  auto& out = run_.st_->output;
  out.push_back(std::move(o));
  int idx = static_cast<int>(out.size()) - 1;
  run_.publish("response.output_item.added", {{"output_index", idx}, {"item", out_item_json(out[idx])}});
  return idx;
}

void OutputSink::compaction(const Item& c) {
  {
    std::lock_guard lk(run_.mu_);
    OutItem o{ItemType::compaction, item_id("cmp")};
    o.text = c.arguments;
    o.output = c.output;
    o.server_label = c.server_label;
    o.open = false;
    o.status = "completed";
    int idx = static_cast<int>(run_.st_->output.size());
    run_.publish("response.compaction.compacting", {{"item_id", o.id}, {"output_index", idx}});
    idx = push(std::move(o));
    run_.publish("response.output_item.done", {{"output_index", idx}, {"item", out_item_json(run_.st_->output[idx])}});
    started_ = true;
  }
  run_.wake_all();
}

std::string OutputSink::item_id(std::string_view prefix) const {
  return owned_id(prefix, run_.id(), run_.st_->output.size());
}

int OutputSink::begin(ItemType t, std::string id) { return push(OutItem{t, std::move(id)}); }

void OutputSink::close_text_items(const std::string& status) {
  auto& out = run_.st_->output;
  for (size_t i = 0; i < out.size(); ++i) {
    auto& o = out[i];
    if (!o.open || (o.type != ItemType::message && o.type != ItemType::reasoning)) continue;
    o.open = false;
    o.status = status;
    int idx = static_cast<int>(i);
    if (o.type == ItemType::message) {
      json::value logprobs = logprobs_json(o.logprobs);
      json::object part{{"type", "output_text"}, {"text", o.text}, {"annotations", json::array()}, {"logprobs", logprobs}};
      run_.publish("response.output_text.done", {{"item_id", o.id}, {"output_index", idx}, {"content_index", 0},
                                                 {"text", o.text}, {"logprobs", logprobs}});
      run_.publish("response.content_part.done",
                   {{"item_id", o.id}, {"output_index", idx}, {"content_index", 0}, {"part", part}});
    } else {
      run_.publish("response.reasoning_text.done",
                   {{"item_id", o.id}, {"output_index", idx}, {"content_index", 0}, {"text", o.text}});
      run_.publish("response.content_part.done",
                   {{"item_id", o.id}, {"output_index", idx}, {"content_index", 0},
                    {"part", json::object{{"type", "reasoning_text"}, {"text", o.text}}}});
    }
    run_.publish("response.output_item.done", {{"output_index", idx}, {"item", out_item_json(o)}});
  }
}

}  // namespace cn::runtime
