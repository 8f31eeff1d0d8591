// Item JSON: validated parsing of client input, the stored resource form and the precomputed
// Chat Completions form.
#include "wire/items.hpp"

#include "base/sealer.hpp"

#include "base/ids.hpp"
#include "wire/mcp_items.hpp"

namespace cn::wire {

namespace {

Status bad(std::string param, std::string msg) { return invalid_param(std::move(param), std::move(msg)); }

std::string type_string(ItemType t) { return std::string(item_type_name(t)); }

}  // namespace

const char* id_prefix(ItemType t) {
  switch (t) {
    case ItemType::message: return "msg";
    case ItemType::function_call: return "fc";
    case ItemType::function_call_output: return "fco";
    case ItemType::reasoning: return "rs";
    case ItemType::memory_call: return "mc";
    case ItemType::mcp_list_tools: return "mcpl";
    case ItemType::mcp_call: return "mcp";
    case ItemType::mcp_approval_request: return "mcpr";
    case ItemType::mcp_approval_response: return "mcpa";
    case ItemType::code_interpreter_call: return "ci";
    case ItemType::agent_handoff: return "ho";
    case ItemType::agent_call: return "ac";
    case ItemType::item_reference: return "item";
    case ItemType::compaction: return "cmp";
  }
  return "item";
}

namespace {

Status parse_content(const json::value& c, const std::string& role, const std::string& path,
                     Item& item) {
  bool assistant = role == "assistant";
  if (c.is_string()) {
    item.content.push_back({assistant ? "output_text" : "input_text", std::string(c.as_string())});
    return {};
  }
  if (!c.is_array()) {
    return bad(path, "Invalid type for '" + path + "': expected a string or an array of content "
                     "parts, but got " + type_name(c) + " instead.");
  }
  size_t i = 0;
  for (const auto& pv : c.as_array()) {
    std::string pp = path + "[" + std::to_string(i++) + "]";
    if (!pv.is_object()) return bad(pp, "Invalid type for '" + pp + "': expected an object.");
    const auto& po = pv.as_object();
    auto type = string_field(po, "type");
    if (!type) return bad(pp + ".type", "Missing required parameter: '" + pp + ".type'.");
    ContentPart part{*type, ""};
    if (*type == "input_text" || *type == "output_text") {
      if (assistant != (*type == "output_text")) {
        return bad(pp + ".type", "Invalid value: '" + *type + "'. Supported values for " + role +
                                     " messages are: " +
                                     (assistant ? "'output_text' and 'refusal'."
                                                : "'input_text', 'input_image' and 'input_file'."));
      }
      auto t = field(po, "text");
      if (!t) return bad(pp + ".text", "Missing required parameter: '" + pp + ".text'.");
      if (!t->is_string())
        return bad(pp + ".text", "Invalid type for '" + pp + ".text': expected a string, but got " +
                                     type_name(*t) + " instead.");
      part.text = std::string(t->as_string());
    } else if (*type == "refusal" && assistant) {
      auto t = string_field(po, "refusal");
      if (!t) return bad(pp + ".refusal", "Missing required parameter: '" + pp + ".refusal'.");
      part.text = *t;
    } else if ((*type == "input_image" || *type == "input_file") && !assistant) {
      // Kept as-is in the stored item; the text form used for context is a short marker.
      part.text = *type == "input_image" ? "[image]" : "[file]";
    } else {
      return bad(pp + ".type", "Invalid value: '" + *type + "' is not a supported content part "
                               "type for " + role + " messages.");
    }
    item.content.push_back(std::move(part));
  }
  return {};
}

// Validates one item; `finalize` builds its wire and chat forms (item_from_wire has the wire
// already and builds only the chat form).
Result<Item> parse_one(const json::value& v, const std::string& path, bool finalize = true) {
  if (!v.is_object())
    return bad(path, "Invalid type for '" + path + "': expected an object, but got " +
                         type_name(v) + " instead.");
  const auto& o = v.as_object();
  Item item;
  std::string type = "message";
  if (auto* t = field(o, "type")) {
    if (!t->is_string())
      return bad(path + ".type", "Invalid type for '" + path + ".type': expected a string.");
    type = std::string(t->as_string());
  }
  if (auto* idv = field(o, "id"); idv && !idv->is_null()) {
    if (!idv->is_string() || !valid_id_syntax(idv->as_string()))
      return bad(path + ".id", "Invalid '" + path + ".id': expected an id of letters, digits, "
                               "'_' and '-'.");
    item.id = std::string(idv->as_string());
  }
  if (type == "message") {
    item.type = ItemType::message;
    auto role = field(o, "role");
    if (!role) return bad(path + ".role", "Missing required parameter: '" + path + ".role'.");
    if (!role->is_string())
      return bad(path + ".role", "Invalid type for '" + path + ".role': expected a string.");
    item.role = std::string(role->as_string());
    if (item.role != "user" && item.role != "assistant" && item.role != "system" &&
        item.role != "developer")
      return bad(path + ".role", "Invalid value: '" + item.role + "'. Supported values are: "
                                 "'user', 'assistant', 'system', and 'developer'.");
    auto c = field(o, "content");
    if (!c) return bad(path + ".content", "Missing required parameter: '" + path + ".content'.");
    if (Status st = parse_content(*c, item.role, path + ".content", item); !st.ok()) return st;
    // Image/file parts keep their original JSON: stash the whole content array.
    item.wire = json::serialize(*c);
  } else if (type == "function_call") {
    item.type = ItemType::function_call;
    for (const char* k : {"call_id", "name", "arguments"}) {
      auto f = field(o, k);
      if (!f) return bad(path + "." + k, "Missing required parameter: '" + path + "." + k + "'.");
      if (!f->is_string())
        return bad(path + "." + k, "Invalid type for '" + path + "." + k +
                                       "': expected a string, but got " + type_name(*f) +
                                       " instead.");
    }
    item.call_id = std::string(o.at("call_id").as_string());
    item.name = std::string(o.at("name").as_string());
    item.arguments = std::string(o.at("arguments").as_string());
    if (item.call_id.empty() || item.call_id.size() > 64)
      return bad(path + ".call_id", "Invalid '" + path + ".call_id': expected 1 to 64 characters.");
  } else if (type == "function_call_output") {
    item.type = ItemType::function_call_output;
    auto cid = field(o, "call_id");
    if (!cid) return bad(path + ".call_id", "Missing required parameter: '" + path + ".call_id'.");
    if (!cid->is_string() || cid->as_string().empty() || cid->as_string().size() > 64)
      return bad(path + ".call_id", "Invalid '" + path + ".call_id': expected a string of 1 to "
                                    "64 characters.");
    item.call_id = std::string(cid->as_string());
    auto out = field(o, "output");
    if (!out) return bad(path + ".output", "Missing required parameter: '" + path + ".output'.");
    if (out->is_string()) {
      item.output = std::string(out->as_string());
    } else if (out->is_array()) {
      Item tmp;
      tmp.role = "user";
      if (Status st = parse_content(*out, "user", path + ".output", tmp); !st.ok()) return st;
      item.output = tmp.text();
      item.wire = json::serialize(*out);
    } else {
      return bad(path + ".output", "Invalid type for '" + path + ".output': expected a string or "
                                   "an array of content parts, but got " + type_name(*out) +
                                   " instead.");
    }
  } else if (type == "reasoning") {
    item.type = ItemType::reasoning;
    if (auto* s = field(o, "summary"); s && s->is_array()) {
      for (const auto& p : s->as_array())
        if (p.is_object())
          if (auto t = string_field(p.as_object(), "text"))
            item.content.push_back({"summary_text", *t});
    }
    if (auto* c = field(o, "content"); c && c->is_array()) {
      for (const auto& p : c->as_array())
        if (p.is_object())
          if (auto t = string_field(p.as_object(), "text"))
            item.content.push_back({"reasoning_text", *t});
    }
  } else if (type == "memory_call" || type == "agent_handoff" || type == "agent_call") {
    item.type = type == "memory_call" ? ItemType::memory_call : type == "agent_call" ? ItemType::agent_call : ItemType::agent_handoff;
    if (is_agent_item(item.type)) {
      auto agent = string_field(o, "agent");
      if (!agent) return bad(path + ".agent", "Missing or invalid '" + path + ".agent': expected a string.");
      item.server_label = *agent;
    }
    for (const char* k : {"call_id", "name", "arguments", "output"}) {
      auto f = field(o, k);
      if (!f || !f->is_string())
        return bad(path + "." + k, "Missing or invalid '" + path + "." + k + "': expected a string.");
    }
    item.call_id = std::string(o.at("call_id").as_string());
    item.name = std::string(o.at("name").as_string());
    item.arguments = std::string(o.at("arguments").as_string());
    item.output = std::string(o.at("output").as_string());
  } else if (mcp_item_type(type, item.type)) {
    if (Status st = parse_mcp_fields(o, path, item); !st.ok()) return st;
  } else if (type == "compaction") {
    auto sealed = string_field(o, "encrypted_content");
    if (!sealed || sealed->empty())
      return bad(path + ".encrypted_content", "Missing or invalid '" + path + ".encrypted_content': expected the string a compaction returned.");
    const Sealer* sealer = Sealer::installed();
    if (!sealer) return bad(path + ".type", "Compaction items are not accepted by this server.");
    auto opened = sealer->open(*sealed);
    if (!opened.ok()) return bad(path + ".encrypted_content", "Invalid '" + path + ".encrypted_content': " + opened.status().message());
    item.type = ItemType::compaction;
    item.arguments = *sealed;
    item.output = std::move(opened->plaintext);
    item.server_label = std::move(opened->project);
  } else if (type == "item_reference") {
    if (item.id.empty()) return bad(path + ".id", "Missing required parameter: '" + path + ".id'.");
    item.type = ItemType::item_reference;
    return item;
  } else {
    return bad(path + ".type", "Invalid value: '" + type + "'. Supported input item types are: "
                               "'message', 'item_reference', 'compaction', 'function_call', 'function_call_output', "
                               "'reasoning', 'mcp_list_tools', 'mcp_call', 'mcp_approval_request' and "
                               "'mcp_approval_response'.");
  }
  if (auto* st = field(o, "status"); st && st->is_string()) {
    std::string s(st->as_string());
    if (s == "in_progress" || s == "completed" || s == "incomplete" ||
        ((item.type == ItemType::mcp_call || item.type == ItemType::code_interpreter_call ||
          item.type == ItemType::memory_call || is_agent_item(item.type)) &&
         (s == "failed" || s == "calling" || s == "interpreting")))
      item.status = s;
  }
  if (item.id.empty()) item.id = new_id(id_prefix(item.type));
  if (finalize) finalize_wire(item);
  return item;
}

}  // namespace

Result<std::vector<Item>> parse_input(const json::value& input, std::string_view param) {
  std::vector<Item> items;
  if (input.is_string()) {
    Item it;
    it.type = ItemType::message;
    it.role = "user";
    it.content.push_back({"input_text", std::string(input.as_string())});
    it.id = new_id("msg");
    finalize_wire(it);
    items.push_back(std::move(it));
    return items;
  }
  if (!input.is_array())
    return bad(std::string(param), "Invalid type for '" + std::string(param) +
                                       "': expected a string or an array of input items, but got " +
                                       type_name(input) + " instead.");
  size_t i = 0;
  for (const auto& v : input.as_array()) {
    auto r = parse_one(v, std::string(param) + "[" + std::to_string(i++) + "]");
    if (!r.ok()) return r.status();
    items.push_back(std::move(*r));
  }
  return items;
}

namespace {

// The Chat Completions form of an item (spec §9.4): developer becomes system (local servers
// often know only system); text parts are joined; images become image_url parts.
std::string chat_form(const Item& item, const json::object& resource) {
  switch (item.type) {
    case ItemType::message: {
      json::object m;
      m["role"] = item.role == "developer" ? "system" : item.role;
      bool media = false;
      for (const auto& p : item.content) media = media || p.type == "input_image";
      if (!media) {
        m["content"] = item.text();
      } else {
        json::array parts;
        for (const auto& pv : resource.at("content").as_array()) {
          const auto& po = pv.as_object();
          auto type = string_field(po, "type").value_or("");
          if (type == "input_text") {
            parts.push_back(json::object{{"type", "text"}, {"text", po.at("text")}});
          } else if (type == "input_image") {
            auto url = string_field(po, "image_url");
            if (!url) continue;
            json::object img{{"url", *url}};
            if (auto d = string_field(po, "detail")) img["detail"] = *d;
            parts.push_back(json::object{{"type", "image_url"}, {"image_url", std::move(img)}});
          }
        }
        m["content"] = std::move(parts);
      }
      return json::serialize(m);
    }
    case ItemType::function_call:
      return json::serialize(json::object{
          {"id", item.call_id},
          {"type", "function"},
          {"function", json::object{{"name", item.name}, {"arguments", item.arguments}}}});
    case ItemType::function_call_output:
      return json::serialize(json::object{{"role", "tool"}, {"tool_call_id", item.call_id}, {"content", item.output}});
    case ItemType::reasoning:
      return {};
    case ItemType::compaction:
      return json::serialize(json::object{
          {"role", "system"},
          {"content", "<conversation_summary>\nA summary of the earlier part of this conversation, which it replaces:\n" + item.output +
                          "\n</conversation_summary>"}});
    case ItemType::item_reference:
      return {};
    case ItemType::memory_call:
    case ItemType::agent_handoff:
    case ItemType::agent_call: {
      // The call and its result, as the two chat messages a client-executed tool would make.
      std::string call = json::serialize(json::object{
          {"role", "assistant"},
          {"content", nullptr},
          {"tool_calls", json::array{json::object{{"id", item.call_id}, {"type", "function"},
                                                  {"function", json::object{{"name", item.name}, {"arguments", item.arguments}}}}}}});
      return call + "," + json::serialize(json::object{{"role", "tool"}, {"tool_call_id", item.call_id}, {"content", item.output}});
    }
    case ItemType::mcp_list_tools:
    case ItemType::mcp_call:
    case ItemType::mcp_approval_request:
    case ItemType::mcp_approval_response:
    case ItemType::code_interpreter_call:
      return mcp_chat_form(item);
  }
  return {};
}

}  // namespace

void finalize_wire(Item& item) {
  json::object o;
  o["id"] = item.id;
  o["type"] = type_string(item.type);
  o["status"] = item.status;
  switch (item.type) {
    case ItemType::message: {
      o["role"] = item.role;
      json::array content;
      json::array original;
      if (!item.wire.empty()) {
        // The content array as parsed, or a whole finalized item being finalized again.
        if (auto p = parse(item.wire); p.ok() && p->is_array()) original = p->as_array();
        else if (p.ok() && p->is_object() && p->as_object().contains("content") && p->as_object().at("content").is_array())
          original = p->as_object().at("content").as_array();
      }
      for (size_t i = 0; i < item.content.size(); ++i) {
        const auto& p = item.content[i];
        if ((p.type == "input_image" || p.type == "input_file") && i < original.size()) {
          content.push_back(original[i]);
          continue;
        }
        json::object part;
        part["type"] = p.type;
        if (p.type == "refusal") {
          part["refusal"] = p.text;
        } else {
          part["text"] = p.text;
        }
        if (p.type == "output_text") {
          part["annotations"] = json::array();
          part["logprobs"] = json::array();
        }
        content.push_back(std::move(part));
      }
      o["content"] = std::move(content);
      break;
    }
    case ItemType::function_call:
      o["call_id"] = item.call_id;
      o["name"] = item.name;
      o["arguments"] = item.arguments;
      break;
    case ItemType::function_call_output: {
      o["call_id"] = item.call_id;
      json::value out(item.output);
      if (!item.wire.empty()) {
        if (auto p = parse(item.wire); p.ok() && p->is_array()) out = *p;
      }
      o["output"] = std::move(out);
      break;
    }
    case ItemType::memory_call:
    case ItemType::agent_handoff:
    case ItemType::agent_call:
      o["call_id"] = item.call_id;
      o["name"] = item.name;
      o["arguments"] = item.arguments;
      o["output"] = item.output;
      if (is_agent_item(item.type)) o["agent"] = item.server_label;
      break;
    case ItemType::mcp_list_tools:
    case ItemType::mcp_call:
    case ItemType::mcp_approval_request:
    case ItemType::mcp_approval_response:
    case ItemType::code_interpreter_call:
      mcp_resource(item, o);
      break;
    case ItemType::compaction:
      o.erase("status");
      o["encrypted_content"] = item.arguments;
      break;
    case ItemType::item_reference:
      break;
    case ItemType::reasoning: {
      json::array summary, content;
      for (const auto& p : item.content) {
        json::object part;
        part["type"] = p.type;
        part["text"] = p.text;
        (p.type == "summary_text" ? summary : content).push_back(std::move(part));
      }
      o["summary"] = std::move(summary);
      o["content"] = std::move(content);
      break;
    }
  }
  item.wire = json::serialize(o);
  item.chat = chat_form(item, o);
}

Result<Item> item_from_wire(std::string_view wire) {
  auto v = parse(wire);
  if (!v.ok() || !v->is_object()) return Status(Code::internal, "stored item is not JSON");
  auto r = parse_one(*v, "item", false);
  if (!r.ok()) return Status(Code::internal, "stored item is invalid: " + r.status().message());
  // The stored wire is canonical already (finalize_wire made it): keep it byte-identical, and
  // derive the chat form from the object just parsed instead of rebuilding both.
  r->wire = std::string(wire);
  r->chat = chat_form(*r, v->as_object());
  return r;
}

void set_output_logprobs(Item& item, std::string_view entries_json) {
  auto v = parse(item.wire);
  auto e = parse(entries_json);
  if (!v.ok() || !e.ok() || !v->is_object()) return;
  auto* content = v->as_object().if_contains("content");
  if (!content || !content->is_array() || content->as_array().empty() || !content->as_array()[0].is_object()) return;
  content->as_array()[0].as_object()["logprobs"] = std::move(*e);
  item.wire = json::serialize(*v);
}

Item make_output_message(std::string id, std::string text, std::string status) {
  Item it;
  it.id = std::move(id);
  it.type = ItemType::message;
  it.role = "assistant";
  it.status = std::move(status);
  it.content.push_back({"output_text", std::move(text)});
  finalize_wire(it);
  return it;
}

Item make_function_call(std::string id, std::string call_id, std::string name,
                        std::string arguments, std::string status) {
  Item it;
  it.id = std::move(id);
  it.type = ItemType::function_call;
  it.call_id = std::move(call_id);
  it.name = std::move(name);
  it.arguments = std::move(arguments);
  it.status = std::move(status);
  finalize_wire(it);
  return it;
}

Item make_memory_call(std::string id, std::string call_id, std::string name, std::string arguments,
                      std::string output, std::string handed_to, ItemType type) {
  Item it;
  it.id = std::move(id);
  it.type = handed_to.empty() ? ItemType::memory_call : type;
  it.server_label = std::move(handed_to);
  it.call_id = std::move(call_id);
  it.name = std::move(name);
  it.arguments = std::move(arguments);
  it.output = std::move(output);
  finalize_wire(it);
  return it;
}

Item make_mcp_item(Item it) {
  if (it.id.empty()) it.id = new_id(id_prefix(it.type));
  finalize_wire(it);
  return it;
}

Item make_reasoning(std::string id, std::string text) {
  Item it;
  it.id = std::move(id);
  it.type = ItemType::reasoning;
  it.content.push_back({"reasoning_text", std::move(text)});
  finalize_wire(it);
  return it;
}

}  // namespace cn::wire
