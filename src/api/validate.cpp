// Request validation: POST /v1/responses bodies into runtime::CreateParams, metadata maps and
// list queries, every wrong field a 400 that names it.
#include <cmath>
#include <charconv>
#include <cstdio>
#include <set>

#include "api/api.hpp"

#include <algorithm>
#include "base/ids.hpp"
#include "wire/items.hpp"

namespace cn::api {

namespace json = boost::json;
using runtime::CreateParams;

namespace {

Status wrong_type(std::string_view param, std::string_view expected, const json::value& got) {
  return invalid_param(std::string(param),
                       "Invalid type for '" + std::string(param) + "': expected " +
                           std::string(expected) + ", but got " + wire::type_name(got) + " instead.",
                       "invalid_type");
}

Status bad_value(std::string_view param, std::string msg) {
  return invalid_param(std::string(param), std::move(msg), "invalid_value");
}

Status unsupported(std::string_view param, std::string msg) {
  return invalid_param(std::string(param), std::move(msg), "unsupported_parameter");
}

bool is_number(const json::value& v) { return v.is_int64() || v.is_uint64() || v.is_double(); }
double number(const json::value& v) {
  if (v.is_int64()) return static_cast<double>(v.as_int64());
  if (v.is_uint64()) return static_cast<double>(v.as_uint64());
  return v.as_double();
}

bool valid_tool_name(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) return false;
  return true;
}

// Optional string-or-null field; sets `out` when a string.
Status opt_string(const json::object& o, std::string_view k, std::optional<std::string>& out,
                  size_t max_len = 0) {
  auto* v = wire::field(o, k);
  if (!v || v->is_null()) return {};
  if (!v->is_string()) return wrong_type(k, "a string", *v);
  if (max_len && v->as_string().size() > max_len)
    return bad_value(k, "Invalid '" + std::string(k) + "': string too long. Expected a string with "
                        "maximum length " + std::to_string(max_len) + ".");
  out = std::string(v->as_string());
  return {};
}

Status opt_bool(const json::object& o, std::string_view k, std::optional<bool>& out) {
  auto* v = wire::field(o, k);
  if (!v || v->is_null()) return {};
  if (!v->is_bool()) return wrong_type(k, "a boolean", *v);
  out = v->as_bool();
  return {};
}

// The echo of a server-side tool entry: as sent, without its secrets (an MCP server's
// authorization and header values are never shown back).
json::object redacted_tool(const json::object& o) {
  json::object e = o;
  if (e.contains("authorization")) e.erase("authorization");
  if (auto* h = e.if_contains("headers"); h && h->is_object())
    for (auto& [k, v] : h->as_object()) v = "<redacted>";
  return e;
}

Result<json::array> parse_tools(const json::value& v, std::string& tools_json, std::vector<json::object>& server_tools) {
  if (!v.is_array()) return wrong_type("tools", "an array", v);
  json::array echo, upstream;
  size_t i = 0;
  for (const auto& t : v.as_array()) {
    std::string p = "tools[" + std::to_string(i++) + "]";
    if (!t.is_object()) return wrong_type(p, "an object", t);
    const auto& o = t.as_object();
    auto type = wire::string_field(o, "type");
    if (!type) return invalid_param(p + ".type", "Missing required parameter: '" + p + ".type'.", "missing_required_parameter");
    if (*type == "memory") {
      // Continuum's built-in memory tools, executed server-side.
      bool seen = false;
      for (const auto& st : server_tools) seen = seen || st.at("type") == "memory";
      if (!seen) server_tools.push_back(json::object{{"type", "memory"}});
      echo.push_back(json::object{{"type", "memory"}});
      continue;
    }
    if (*type == "code_interpreter" || *type == "agent_handoff" || *type == "agent") {
      // Code run in the server's sandbox (tools/sandbox validates the entry), or a handoff to
      // another agent of the team (fleet/ validates it).
      server_tools.push_back(o);
      echo.push_back(o);
      continue;
    }
    if (*type == "mcp") {
      // A remote MCP server, run by the server (tools/mcp validates the entry).
      server_tools.push_back(o);
      echo.push_back(redacted_tool(o));
      continue;
    }
    if (*type != "function") {
      return unsupported(p + ".type", "Tool type '" + *type + "' is not supported by this server; "
                                      "'function', 'mcp', 'code_interpreter', 'memory', 'agent' and 'agent_handoff' tools are.");
    }
    auto* name = wire::field(o, "name");
    if (!name) return invalid_param(p + ".name", "Missing required parameter: '" + p + ".name'.", "missing_required_parameter");
    if (!name->is_string()) return wrong_type(p + ".name", "a string", *name);
    if (!valid_tool_name(name->as_string()))
      return bad_value(p + ".name", "Invalid '" + p + ".name': expected 1 to 64 letters, digits, "
                                    "underscores or dashes.");
    json::object e;
    e["type"] = "function";
    e["name"] = *name;
    e["description"] = nullptr;
    if (auto* d = wire::field(o, "description"); d && !d->is_null()) {
      if (!d->is_string()) return wrong_type(p + ".description", "a string", *d);
      e["description"] = *d;
    }
    e["parameters"] = nullptr;
    if (auto* pa = wire::field(o, "parameters"); pa && !pa->is_null()) {
      if (!pa->is_object()) return wrong_type(p + ".parameters", "an object", *pa);
      e["parameters"] = *pa;
    }
    json::object u = e;
    e["strict"] = true;
    if (auto* s = wire::field(o, "strict"); s && !s->is_null()) {
      if (!s->is_bool()) return wrong_type(p + ".strict", "a boolean", *s);
      e["strict"] = *s;
      u["strict"] = *s;
    }
    echo.push_back(std::move(e));
    upstream.push_back(std::move(u));
  }
  if (!upstream.empty()) tools_json = json::serialize(upstream);
  return echo;
}

Status parse_tool_choice(const json::value& v, const json::array& tools, std::string& out) {
  if (v.is_string()) {
    auto s = v.as_string();
    if (s != "none" && s != "auto" && s != "required")
      return bad_value("tool_choice", "Invalid value: '" + std::string(s) +
                                          "'. Supported values are: 'none', 'auto', and 'required'.");
    out = json::serialize(v);
    return {};
  }
  if (!v.is_object()) return wrong_type("tool_choice", "a string or an object", v);
  const auto& o = v.as_object();
  auto type = wire::string_field(o, "type");
  if (!type) return invalid_param("tool_choice.type", "Missing required parameter: 'tool_choice.type'.", "missing_required_parameter");
  if (*type == "function") {
    auto name = wire::string_field(o, "name");
    if (!name) return invalid_param("tool_choice.name", "Missing required parameter: 'tool_choice.name'.", "missing_required_parameter");
    bool known = false;
    for (const auto& t : tools) {
      const auto& to = t.as_object();
      if (to.contains("name") && to.at("name").as_string() == *name) known = true;
      if (to.at("type") == "memory" && (*name == "memory_search" || *name == "memory_write")) known = true;
    }
    if (!known)
      return bad_value("tool_choice.name", "Tool choice '" + *name + "' not found in 'tools' parameter.");
    out = json::serialize(v);
    return {};
  }
  if (*type == "allowed_tools") {
    auto mode = wire::string_field(o, "mode");
    if (!mode || (*mode != "auto" && *mode != "required"))
      return bad_value("tool_choice.mode", "Invalid 'tool_choice.mode': expected 'auto' or 'required'.");
    out = json::serialize(v);
    return {};
  }
  return unsupported("tool_choice.type", "Tool choice type '" + *type + "' is not supported by this server.");
}

Status parse_text(const json::value& v, json::object& echo, std::string& format_json) {
  if (!v.is_object()) return wrong_type("text", "an object", v);
  const auto& o = v.as_object();
  json::object text{{"format", json::object{{"type", "text"}}}, {"verbosity", "medium"}};
  if (auto* vb = wire::field(o, "verbosity"); vb && !vb->is_null()) {
    if (!vb->is_string()) return wrong_type("text.verbosity", "a string", *vb);
    auto s = vb->as_string();
    if (s != "low" && s != "medium" && s != "high")
      return bad_value("text.verbosity", "Invalid value: '" + std::string(s) + "'. Supported values are: 'low', 'medium', and 'high'.");
    text["verbosity"] = *vb;
  }
  if (auto* f = wire::field(o, "format"); f && !f->is_null()) {
    if (!f->is_object()) return wrong_type("text.format", "an object", *f);
    const auto& fo = f->as_object();
    auto type = wire::string_field(fo, "type");
    if (!type) return invalid_param("text.format.type", "Missing required parameter: 'text.format.type'.", "missing_required_parameter");
    if (*type == "text") {
    } else if (*type == "json_object") {
      format_json = json::serialize(*f);
    } else if (*type == "json_schema") {
      auto* name = wire::field(fo, "name");
      if (!name) return invalid_param("text.format.name", "Missing required parameter: 'text.format.name'.", "missing_required_parameter");
      if (!name->is_string()) return wrong_type("text.format.name", "a string", *name);
      if (!valid_tool_name(name->as_string()))
        return bad_value("text.format.name", "Invalid 'text.format.name': expected 1 to 64 letters, digits, underscores or dashes.");
      auto* schema = wire::field(fo, "schema");
      if (!schema) return invalid_param("text.format.schema", "Missing required parameter: 'text.format.schema'.", "missing_required_parameter");
      if (!schema->is_object()) return wrong_type("text.format.schema", "an object", *schema);
      if (auto* s = wire::field(fo, "strict"); s && !s->is_null() && !s->is_bool())
        return wrong_type("text.format.strict", "a boolean", *s);
      if (auto* d = wire::field(fo, "description"); d && !d->is_null() && !d->is_string())
        return wrong_type("text.format.description", "a string", *d);
      format_json = json::serialize(*f);
    } else {
      return bad_value("text.format.type", "Invalid value: '" + *type + "'. Supported values are: 'text', 'json_object', and 'json_schema'.");
    }
    text["format"] = *f;
  }
  echo["text"] = std::move(text);
  return {};
}

}  // namespace

Status check_metadata(const json::value& v, std::string_view param) {
  if (v.is_null()) return {};
  if (!v.is_object()) return wrong_type(param, "an object", v);
  const auto& o = v.as_object();
  if (o.size() > 16)
    return bad_value(param, "Invalid '" + std::string(param) + "': too many properties. Expected an object with at most 16 properties.");
  for (const auto& [k, val] : o) {
    if (k.size() > 64)
      return bad_value(param, "Invalid '" + std::string(param) + "': key '" + std::string(k.substr(0, 64)) + "…' is longer than 64 characters.");
    if (!val.is_string()) return wrong_type(std::string(param) + "." + std::string(k), "a string", val);
    if (val.as_string().size() > 512)
      return bad_value(std::string(param) + "." + std::string(k), "Invalid '" + std::string(param) + "." + std::string(k) + "': string too long. Expected a string with maximum length 512.");
  }
  return {};
}

Result<runtime::ListQuery> parse_list_query(const http::Request& req) {
  runtime::ListQuery q;
  if (auto l = req.query_param("limit")) {
    int n = 0;
    auto [ptr, ec] = std::from_chars(l->data(), l->data() + l->size(), n);
    if (ec != std::errc() || ptr != l->data() + l->size() || n < 1 || n > 100)
      return bad_value("limit", "Invalid 'limit': expected an integer between 1 and 100.");
    q.limit = n;
  }
  if (auto o = req.query_param("order")) {
    if (*o == "asc") q.desc = false;
    else if (*o == "desc") q.desc = true;
    else return bad_value("order", "Invalid value: '" + std::string(*o) + "'. Supported values are: 'asc' and 'desc'.");
  }
  if (auto a = req.query_param("after"); a && !a->empty()) q.after = std::string(*a);
  return q;
}

Result<CreateParams> parse_create(const json::value& body) {
  if (!body.is_object()) return wrong_type("body", "an object", body);
  const auto& o = body.as_object();
  CreateParams p;
  auto& echo = p.echo;

  auto* model = wire::field(o, "model");
  if (!model || model->is_null())
    return invalid_param("model", "Missing required parameter: 'model'.", "missing_required_parameter");
  if (!model->is_string()) return wrong_type("model", "a string", *model);
  if (model->as_string().empty() || model->as_string().size() > 256)
    return bad_value("model", "Invalid 'model': expected a non-empty model name.");
  p.model = std::string(model->as_string());

  if (Status s = opt_string(o, "instructions", p.instructions); !s.ok()) return s;
  if (Status s = opt_string(o, "previous_response_id", p.previous_response_id); !s.ok()) return s;
  if (p.previous_response_id && !valid_id_syntax(*p.previous_response_id))
    return invalid_param("previous_response_id", "Invalid 'previous_response_id': '" + p.previous_response_id->substr(0, 64) +
                         "'. Expected an ID that contains letters, numbers, underscores, or dashes.", "invalid_value");
  if (auto* c = wire::field(o, "conversation"); c && !c->is_null()) {
    if (c->is_string()) {
      p.conversation_id = std::string(c->as_string());
    } else if (c->is_object() && c->as_object().contains("id") && c->as_object().at("id").is_string()) {
      p.conversation_id = std::string(c->as_object().at("id").as_string());
    } else {
      return wrong_type("conversation", "a string or an object with an 'id'", *c);
    }
    if (!valid_id_syntax(*p.conversation_id))
      return bad_value("conversation", "Invalid 'conversation': expected an ID that contains letters, numbers, underscores, or dashes.");
  }
  if (p.previous_response_id && p.conversation_id)
    return invalid_param("conversation", "Mutually exclusive parameters: Ensure you are only providing one of: 'previous_response_id' or 'conversation'.", "mutually_exclusive_parameters");

  std::optional<bool> store, stream, background, parallel;
  if (Status s = opt_bool(o, "store", store); !s.ok()) return s;
  if (Status s = opt_bool(o, "stream", stream); !s.ok()) return s;
  if (Status s = opt_bool(o, "background", background); !s.ok()) return s;
  if (Status s = opt_bool(o, "parallel_tool_calls", parallel); !s.ok()) return s;
  p.store = store.value_or(true);
  p.stream = stream.value_or(false);
  p.background = background.value_or(false);
  p.parallel_tool_calls = parallel;
  if (p.background && !p.store)
    return bad_value("background", "Background mode requires 'store' to be true.");
  if (p.conversation_id && !p.store)
    return bad_value("store", "A response in a conversation must be stored; 'store': false cannot be combined with 'conversation'.");

  if (auto* in = wire::field(o, "input"); in && !in->is_null()) {
    auto items = wire::parse_input(*in, "input");
    if (!items.ok()) return items.status();
    p.input = std::move(*items);
  }
  if (p.input.empty() && !p.previous_response_id && !p.conversation_id)
    return invalid_param("input", "Missing required parameter: 'input'.", "missing_required_parameter");
  // Ids of input items are the server's: Runtime::create gives each one an id owned by its
  // response (a replayed item's id is replaced, so no client can alias an item in the log).

  json::array tools;
  if (auto* t = wire::field(o, "tools"); t && !t->is_null()) {
    auto r = parse_tools(*t, p.tools_json, p.server_tools);
    if (!r.ok()) return r.status();
    tools = std::move(*r);
  }
  echo["tools"] = tools;
  echo["tool_choice"] = "auto";
  if (auto* tc = wire::field(o, "tool_choice"); tc && !tc->is_null()) {
    if (Status s = parse_tool_choice(*tc, tools, p.tool_choice_json); !s.ok()) return s;
    echo["tool_choice"] = *tc;
  }
  echo["parallel_tool_calls"] = parallel.value_or(true);

  auto num_field = [&](std::string_view k, double lo, double hi, std::optional<double>& out) -> Status {
    auto* v = wire::field(o, k);
    if (!v || v->is_null()) return {};
    if (!is_number(*v)) return wrong_type(k, "a number", *v);
    double d = number(*v);
    if (d < lo || d > hi) {
      char buf[160];
      std::snprintf(buf, sizeof buf, "Invalid '%s': decimal above maximum value or below minimum value. Expected a value between %g and %g, but got %g instead.",
                    std::string(k).c_str(), lo, hi, d);
      return bad_value(k, buf);
    }
    out = d;
    return {};
  };
  if (Status s = num_field("temperature", 0, 2, p.temperature); !s.ok()) return s;
  if (Status s = num_field("top_p", 0, 1, p.top_p); !s.ok()) return s;
  echo["temperature"] = p.temperature.value_or(1.0);
  echo["top_p"] = p.top_p.value_or(1.0);

  auto int_field = [&](std::string_view k, int64_t lo, int64_t hi, std::optional<int64_t>& out) -> Status {
    auto* v = wire::field(o, k);
    if (!v || v->is_null()) return {};
    // A double is an integer when it has no fraction; one beyond int64's range is clamped (it is
    // out of any field's bounds anyway) rather than converted, which would be undefined.
    if (!(v->is_int64() || v->is_uint64() || (v->is_double() && std::isfinite(v->as_double()) && v->as_double() == std::trunc(v->as_double()))))
      return wrong_type(k, "an integer", *v);
    auto from_double = [](double d) {
      return d >= 9.2e18 ? INT64_MAX : d <= -9.2e18 ? INT64_MIN : static_cast<int64_t>(d);
    };
    int64_t n = v->is_int64() ? v->as_int64() : v->is_uint64() ? static_cast<int64_t>(std::min<uint64_t>(v->as_uint64(), INT64_MAX)) : from_double(v->as_double());
    if (n < lo || n > hi)
      return bad_value(k, "Invalid '" + std::string(k) + "': integer below minimum value or above maximum value. Expected a value between " +
                              std::to_string(lo) + " and " + std::to_string(hi) + ", but got " + std::to_string(n) + " instead.");
    out = n;
    return {};
  };
  if (Status s = int_field("max_output_tokens", 16, 1'000'000'000, p.max_output_tokens); !s.ok()) return s;
  echo["max_output_tokens"] = p.max_output_tokens ? json::value(*p.max_output_tokens) : json::value(nullptr);
  std::optional<int64_t> max_tool_calls, top_logprobs;
  if (Status s = int_field("max_tool_calls", 1, 1'000'000, max_tool_calls); !s.ok()) return s;
  echo["max_tool_calls"] = max_tool_calls ? json::value(*max_tool_calls) : json::value(nullptr);
  p.max_tool_calls = max_tool_calls;
  if (Status s = int_field("top_logprobs", 0, 20, top_logprobs); !s.ok()) return s;
  p.top_logprobs = static_cast<int>(top_logprobs.value_or(0));
  echo["top_logprobs"] = top_logprobs.value_or(0);

  echo["metadata"] = json::object();
  if (auto* m = wire::field(o, "metadata"); m && !m->is_null()) {
    if (Status s = check_metadata(*m, "metadata"); !s.ok()) return s;
    echo["metadata"] = *m;
  }

  echo["truncation"] = "disabled";
  if (auto* t = wire::field(o, "truncation"); t && !t->is_null()) {
    if (!t->is_string()) return wrong_type("truncation", "a string", *t);
    if (t->as_string() == "auto") p.truncation_auto = true;
    else if (t->as_string() != "disabled")
      return bad_value("truncation", "Invalid value: '" + std::string(t->as_string()) + "'. Supported values are: 'auto' and 'disabled'.");
    echo["truncation"] = *t;
  }

  echo["text"] = json::object{{"format", json::object{{"type", "text"}}}, {"verbosity", "medium"}};
  if (auto* t = wire::field(o, "text"); t && !t->is_null())
    if (Status s = parse_text(*t, echo, p.text_format_json); !s.ok()) return s;

  echo["reasoning"] = json::object{{"effort", nullptr}, {"summary", nullptr}};
  if (auto* r = wire::field(o, "reasoning"); r && !r->is_null()) {
    if (!r->is_object()) return wrong_type("reasoning", "an object", *r);
    echo["reasoning"] = *r;
  }

  std::optional<std::string> user, safety, cache_key, cache_retention, service_tier;
  if (Status s = opt_string(o, "user", user, 256); !s.ok()) return s;
  if (Status s = opt_string(o, "safety_identifier", safety, 64); !s.ok()) return s;
  if (Status s = opt_string(o, "prompt_cache_key", cache_key, 256); !s.ok()) return s;
  if (Status s = opt_string(o, "prompt_cache_retention", cache_retention); !s.ok()) return s;
  if (Status s = opt_string(o, "service_tier", service_tier); !s.ok()) return s;
  echo["user"] = user ? json::value(*user) : json::value(nullptr);
  echo["safety_identifier"] = safety ? json::value(*safety) : json::value(nullptr);
  echo["prompt_cache_key"] = cache_key ? json::value(*cache_key) : json::value(nullptr);
  echo["prompt_cache_retention"] = cache_retention ? json::value(*cache_retention) : json::value(nullptr);
  echo["service_tier"] = service_tier.value_or("default");
  p.user = safety ? *safety : user.value_or("");
  echo["background"] = p.background;

  if (auto* inc = wire::field(o, "include"); inc && !inc->is_null()) {
    if (!inc->is_array()) return wrong_type("include", "an array", *inc);
    static const std::set<std::string> known = {
        "file_search_call.results", "web_search_call.results", "web_search_call.action.sources",
        "message.input_image.image_url", "computer_call_output.output.image_url",
        "code_interpreter_call.outputs", "reasoning.encrypted_content", "message.output_text.logprobs"};
    for (const auto& v : inc->as_array()) {
      if (!v.is_string() || !known.count(std::string(v.as_string())))
        return bad_value("include", "Invalid 'include' value: " + json::serialize(v) + ".");
      if (v.as_string() == "message.output_text.logprobs") p.logprobs = true;
    }
  }
  if (auto* pr = wire::field(o, "prompt"); pr && !pr->is_null())
    return unsupported("prompt", "Stored prompt templates are not supported by this server; send 'instructions' and 'input' instead.");

  if (auto* cm = wire::field(o, "context_management"); cm && !cm->is_null()) {
    if (!cm->is_array()) return wrong_type("context_management", "an array", *cm);
    for (size_t i = 0; i < cm->as_array().size(); ++i) {
      std::string path = "context_management[" + std::to_string(i) + "]";
      const auto& e = cm->as_array()[i];
      if (!e.is_object()) return wrong_type(path, "an object", e);
      auto* type = wire::field(e.as_object(), "type");
      if (!type || !type->is_string() || type->as_string() != "compaction")
        return bad_value(path + ".type", "Invalid value for '" + path + ".type'. Supported values are: 'compaction'.");
      auto* th = wire::field(e.as_object(), "compact_threshold");
      if (!th || th->is_null()) {
        p.compact_threshold = 0;  // set below from the model's window
        continue;
      }
      if (!th->is_int64() || th->as_int64() < 1000 || th->as_int64() > 100'000'000)
        return bad_value(path + ".compact_threshold", "Invalid '" + path + ".compact_threshold': expected an integer between 1000 and 100000000.");
      p.compact_threshold = th->as_int64();
    }
    echo["context_management"] = *cm;
  }
  if (auto* g = wire::field(o, "generate"); g && !g->is_null()) {
    if (!g->is_bool()) return wrong_type("generate", "a boolean", *g);
    p.generate = g->as_bool();
  }

  p.memory_user = p.user;
  if (auto* m = wire::field(o, "memory")) {
    if (Status s = memory::parse_settings(*m, "memory", p.memory_settings); !s.ok()) return s;
    p.memory_on = p.memory_settings.enabled;
  }
  if (auto* c = wire::field(o, "concurrency"); c && !c->is_null()) {
    if (!c->is_string()) return wrong_type("concurrency", "a string", *c);
    auto s = c->as_string();
    if (s == "reject") p.concurrency = runtime::Concurrency::reject;
    else if (s == "enqueue") p.concurrency = runtime::Concurrency::enqueue;
    else if (s == "interrupt") p.concurrency = runtime::Concurrency::interrupt;
    else return bad_value("concurrency", "Invalid value: '" + std::string(s) + "'. Supported values are: 'reject', 'enqueue', and 'interrupt'.");
  }
  return p;
}

}  // namespace cn::api
