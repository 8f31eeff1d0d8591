// The JSON forms of OpenAI's remote-MCP items: parsing (as input, replayed by clients that keep
// their own history), the stored resource and the form the model sees.
#include "wire/mcp_items.hpp"

namespace cn::wire {

namespace {

Status bad(const std::string& param, std::string msg) { return invalid_param(param, std::move(msg)); }

Status need_string(const json::object& o, const std::string& path, const char* key, std::string& out,
                   bool required = true) {
  auto* f = field(o, key);
  if (!f || f->is_null()) {
    if (required) return bad(path + "." + key, "Missing required parameter: '" + path + "." + key + "'.");
    return {};
  }
  if (!f->is_string())
    return bad(path + "." + key, "Invalid type for '" + path + "." + key + "': expected a string, but got " +
                                     type_name(*f) + " instead.");
  out = std::string(f->as_string());
  return {};
}

json::value nullable(const std::string& s) { return s.empty() ? json::value(nullptr) : json::value(s); }

}  // namespace

bool mcp_item_type(std::string_view type, ItemType& out) {
  if (type == "mcp_list_tools") out = ItemType::mcp_list_tools;
  else if (type == "mcp_call") out = ItemType::mcp_call;
  else if (type == "mcp_approval_request") out = ItemType::mcp_approval_request;
  else if (type == "mcp_approval_response") out = ItemType::mcp_approval_response;
  else if (type == "code_interpreter_call") out = ItemType::code_interpreter_call;
  else return false;
  return true;
}

Status parse_mcp_fields(const json::object& o, const std::string& path, Item& item) {
  switch (item.type) {
    case ItemType::mcp_list_tools: {
      if (Status s = need_string(o, path, "server_label", item.server_label); !s.ok()) return s;
      auto* tools = field(o, "tools");
      if (!tools || !tools->is_array())
        return bad(path + ".tools", "Missing or invalid '" + path + ".tools': expected an array of tools.");
      for (size_t i = 0; i < tools->as_array().size(); ++i) {
        const auto& t = tools->as_array()[i];
        std::string tp = path + ".tools[" + std::to_string(i) + "]";
        if (!t.is_object() || !string_field(t.as_object(), "name"))
          return bad(tp, "Invalid '" + tp + "': expected an object with a string 'name'.");
      }
      item.output = json::serialize(*tools);
      return need_string(o, path, "error", item.error, false);
    }
    case ItemType::mcp_call:
      for (auto [key, dst] : {std::pair{"server_label", &item.server_label}, {"name", &item.name},
                              {"arguments", &item.arguments}})
        if (Status s = need_string(o, path, key, *dst); !s.ok()) return s;
      if (Status s = need_string(o, path, "output", item.output, false); !s.ok()) return s;
      if (Status s = need_string(o, path, "error", item.error, false); !s.ok()) return s;
      return need_string(o, path, "approval_request_id", item.approval_request_id, false);
    case ItemType::mcp_approval_request:
      for (auto [key, dst] : {std::pair{"server_label", &item.server_label}, {"name", &item.name},
                              {"arguments", &item.arguments}})
        if (Status s = need_string(o, path, key, *dst); !s.ok()) return s;
      return {};
    case ItemType::mcp_approval_response: {
      if (Status s = need_string(o, path, "approval_request_id", item.approval_request_id); !s.ok()) return s;
      if (item.approval_request_id.empty() || item.approval_request_id.size() > 128)
        return bad(path + ".approval_request_id", "Invalid '" + path + ".approval_request_id': expected 1 to 128 characters.");
      auto* a = field(o, "approve");
      if (!a) return bad(path + ".approve", "Missing required parameter: '" + path + ".approve'.");
      if (!a->is_bool())
        return bad(path + ".approve", "Invalid type for '" + path + ".approve': expected a boolean, but got " +
                                          type_name(*a) + " instead.");
      item.approve = a->as_bool();
      return need_string(o, path, "reason", item.reason, false);
    }
    case ItemType::code_interpreter_call: {
      std::string code;
      if (Status s = need_string(o, path, "code", code, false); !s.ok()) return s;
      if (Status s = need_string(o, path, "container_id", item.server_label, false); !s.ok()) return s;
      item.name = "code_interpreter";
      item.arguments = json::serialize(json::object{{"code", code}});
      if (auto* outs = field(o, "outputs"); outs && outs->is_array())
        for (const auto& x : outs->as_array())
          if (x.is_object())
            if (auto logs = string_field(x.as_object(), "logs")) item.output += *logs;
      return {};
    }
    default:
      return bad(path + ".type", "not an MCP item");
  }
}

void mcp_resource(const Item& item, json::object& o) {
  switch (item.type) {
    case ItemType::mcp_list_tools: {
      o.erase("status");  // OpenAI's listing item has no status
      o["server_label"] = item.server_label;
      auto tools = parse(item.output.empty() ? std::string_view("[]") : std::string_view(item.output));
      o["tools"] = tools.ok() && tools->is_array() ? *tools : json::value(json::array());
      o["error"] = nullable(item.error);
      break;
    }
    case ItemType::mcp_call:
      o["server_label"] = item.server_label;
      o["name"] = item.name;
      o["arguments"] = item.arguments;
      o["output"] = item.error.empty() ? json::value(item.output) : json::value(nullptr);
      o["error"] = nullable(item.error);
      o["approval_request_id"] = nullable(item.approval_request_id);
      break;
    case ItemType::mcp_approval_request:
      o.erase("status");
      o["server_label"] = item.server_label;
      o["name"] = item.name;
      o["arguments"] = item.arguments;
      break;
    case ItemType::code_interpreter_call: {
      json::value code = "";
      boost::system::error_code ec;
      auto args = json::parse(item.arguments, ec);
      if (!ec && args.is_object() && args.as_object().contains("code")) code = args.as_object().at("code");
      o["code"] = code;
      o["container_id"] = item.server_label;
      json::array outputs;
      if (!item.output.empty() || item.status == "completed" || item.status == "failed")
        outputs.push_back(json::object{{"type", "logs"}, {"logs", item.error.empty() ? item.output : item.error}});
      o["outputs"] = std::move(outputs);
      break;
    }
    case ItemType::mcp_approval_response:
      o.erase("status");
      o["approval_request_id"] = item.approval_request_id;
      o["approve"] = item.approve;
      o["reason"] = nullable(item.reason);
      break;
    default:
      break;
  }
}

std::string mcp_chat_form(const Item& item) {
  if (item.type != ItemType::mcp_call && item.type != ItemType::code_interpreter_call) return {};
  // The model called the tool by its name; the item id stands in for the call id.
  std::string call = json::serialize(json::object{
      {"role", "assistant"},
      {"content", nullptr},
      {"tool_calls", json::array{json::object{{"id", item.id}, {"type", "function"},
                                              {"function", json::object{{"name", item.name}, {"arguments", item.arguments}}}}}}});
  std::string answer = item.error.empty() ? item.output : json::serialize(json::object{{"error", item.error}});
  return call + "," + json::serialize(json::object{{"role", "tool"}, {"tool_call_id", item.id}, {"content", answer}});
}

}  // namespace cn::wire
