// The built-in local model. It is NOT a language model: it answers deterministically from the
// context, so that Continuum works offline (demos, tests) with nothing to download. Rules:
// - after a function_call_output, it reports the tool results;
// - when tools are given and tool_choice is "required" or names a function, or the last user
//   message says "call <tool name>", it calls that tool with {"input": <the message>};
// - otherwise it says how many messages of context it received, repeats the first and the last
//   user message, which makes carried state visible.
#include <boost/asio.hpp>
#include <boost/json.hpp>

#include "base/ids.hpp"
#include "model/provider.hpp"

namespace cn::model {

namespace {

namespace json = boost::json;

// Memory extraction without a language model: sentences of the user's lines that speak in the
// first person become memories; those with a liking verb are preferences. Crude on purpose.
std::string local_extraction(const std::string& transcript) {
  json::array memories;
  std::string user_text;
  size_t pos = 0;
  while (pos < transcript.size()) {
    size_t nl = transcript.find('\n', pos);
    if (nl == std::string::npos) nl = transcript.size();
    std::string line = transcript.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.rfind("user: ", 0) != 0) continue;
    line = line.substr(6);
    user_text += line + " ";
    size_t start = 0;
    for (size_t i = 0; i <= line.size(); ++i) {
      if (i < line.size() && line[i] != '.' && line[i] != '!' && line[i] != '?') continue;
      std::string sentence = line.substr(start, i - start);
      start = i + 1;
      while (!sentence.empty() && sentence.front() == ' ') sentence.erase(0, 1);
      std::string lower;
      for (char c : sentence) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      bool first_person = lower.rfind("i ", 0) == 0 || lower.rfind("i'm ", 0) == 0 || lower.rfind("my ", 0) == 0 ||
                          lower.find(" i ") != std::string::npos || lower.find(" my ") != std::string::npos;
      if (!first_person || sentence.size() < 6 || lower.find('?') != std::string::npos) continue;
      bool pref = lower.find("prefer") != std::string::npos || lower.find("like") != std::string::npos ||
                  lower.find("love") != std::string::npos || lower.find("hate") != std::string::npos ||
                  lower.find("favorite") != std::string::npos;
      memories.push_back(json::object{{"text", "The user said: " + sentence + "."}, {"kind", pref ? "preference" : "fact"}});
    }
  }
  json::object out{{"memories", std::move(memories)}};
  bool summaries = transcript.find("(Summary: null.)") == std::string::npos;
  out["summary"] = summaries && !user_text.empty() ? json::value("The user talked about: " + user_text.substr(0, 300)) : json::value(nullptr);
  return json::serialize(out);
}

class LocalProvider final : public Provider {
 public:
  std::string name() const override { return "local"; }

  boost::asio::awaitable<Result<ModelResult>> generate(
      const ModelRequest& req, ModelSink& sink, std::shared_ptr<http::CancelToken> cancel) override {
    ModelResult res;
    res.finish_reason = "stop";
    int64_t in_tokens = req.instructions ? static_cast<int64_t>(req.instructions->size() / 4) : 0;
    for (const auto& it : req.context) in_tokens += it->token_estimate();
    res.usage.input_tokens = in_tokens;

    const Item* last = req.context.empty() ? nullptr : req.context.back().get();
    const Item* first_user = nullptr;
    const Item* last_user = nullptr;
    size_t messages = 0;
    for (const auto& it : req.context) {
      if (it->type == ItemType::message) ++messages;
      if (it->type == ItemType::message && it->role == "user") {
        if (!first_user) first_user = it.get();
        last_user = it.get();
      }
    }

    std::string tool = pick_tool(req, last);
    std::string text;
    if (last && last->type == ItemType::function_call_output) {
      text = "Tool results:";
      for (auto i = req.context.rbegin(); i != req.context.rend(); ++i) {
        if ((*i)->type != ItemType::function_call_output) break;
        text += " [" + (*i)->call_id + "] " + (*i)->output;
      }
    } else if (!tool.empty()) {
      json::object args;
      args["input"] = last_user ? last_user->text() : "";
      std::string a = json::serialize(args);
      sink.tool_call_begin(0, new_id("call"), tool);
      // Stream the arguments in two pieces, as real upstreams do.
      size_t half = a.size() / 2;
      sink.tool_call_delta(0, a.substr(0, half));
      sink.tool_call_delta(0, a.substr(half));
      res.finish_reason = "tool_calls";
      res.usage.output_tokens = static_cast<int64_t>(a.size() / 4) + 1;
      co_return res;
    } else if (req.text_format_json.find("\"memory_extraction\"") != std::string::npos) {
      text = local_extraction(last_user ? last_user->text() : "");
    } else if (req.text_format_json.find("\"memory_consolidation\"") != std::string::npos) {
      text = R"({"decision":"add","target":null,"text":""})";
    } else if (req.text_format_json.find("json_") != std::string::npos) {
      text = "{}";
    } else {
      text = "(continuum-local) I have " + std::to_string(messages) + " message" +
             (messages == 1 ? "" : "s") + " of context.";
      if (first_user && first_user != last_user)
        text += " Your first message was: \"" + first_user->text() + "\".";
      if (last_user) text += " You said: \"" + last_user->text() + "\".";
    }
    if (req.max_output_tokens && static_cast<int64_t>(text.size() / 4) > *req.max_output_tokens) {
      text.resize(static_cast<size_t>(*req.max_output_tokens) * 4);
      res.finish_reason = "length";
    }
    // Stream word by word.
    size_t pos = 0;
    while (pos < text.size()) {
      if (cancel && cancel->cancelled()) co_return Status(Code::cancelled, "cancelled");
      size_t next = text.find(' ', pos + 1);
      if (next == std::string::npos) next = text.size();
      sink.text_delta(std::string_view(text).substr(pos, next - pos));
      pos = next;
    }
    res.usage.output_tokens = static_cast<int64_t>(text.size() / 4) + 1;
    co_return res;
  }

 private:
  static std::string pick_tool(const ModelRequest& req, const Item* last) {
    if (req.tools_json.empty() || !last || last->type != ItemType::message) return {};
    auto tools = json::parse(req.tools_json);
    std::vector<std::string> names;
    for (const auto& t : tools.as_array())
      if (t.is_object() && t.as_object().contains("name") && t.as_object().at("name").is_string())
        names.emplace_back(t.as_object().at("name").as_string());
    if (names.empty()) return {};
    if (!req.tool_choice_json.empty()) {
      auto tc = json::parse(req.tool_choice_json);
      if (tc.is_string() && tc.as_string() == "none") return {};
      if (tc.is_string() && tc.as_string() == "required") return names.front();
      if (tc.is_object() && tc.as_object().contains("name") && tc.as_object().at("name").is_string())
        return std::string(tc.as_object().at("name").as_string());
    }
    std::string said = last->text();
    for (const auto& n : names)
      if (said.find("call " + n) != std::string::npos) return n;
    return {};
  }
};

}  // namespace

std::unique_ptr<Provider> make_local_provider() { return std::make_unique<LocalProvider>(); }

}  // namespace cn::model
