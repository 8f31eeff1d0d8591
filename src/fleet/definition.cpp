// Agent definitions (see definition.hpp): validation and the canonical document.
#include "fleet/definition.hpp"

#include <boost/json.hpp>

#include <algorithm>

#include "base/ids.hpp"

namespace cn::fleet {

namespace json = boost::json;

namespace {

constexpr size_t kMaxInstructions = 256 << 10;
constexpr size_t kMaxPolicies = 64 << 10;
constexpr size_t kMaxTools = 128;
constexpr size_t kMaxHandoffs = 32;

Status bad(const std::string& field, std::string msg) { return invalid_param(field, std::move(msg)); }

Status string_field(const json::object& o, const char* k, std::string& out, bool required, size_t max) {
  auto* v = o.if_contains(k);
  if (!v || v->is_null()) return required ? bad(k, std::string("Missing required parameter: '") + k + "'.") : Status();
  if (!v->is_string()) return bad(k, std::string("Invalid '") + k + "': expected a string.");
  if (v->as_string().size() > max)
    return bad(k, std::string("Invalid '") + k + "': longer than " + std::to_string(max) + " characters.");
  out = std::string(v->as_string());
  return {};
}

Status int_field(const json::object& o, const char* k, std::optional<int64_t>& out, int64_t lo, int64_t hi) {
  auto* v = o.if_contains(k);
  if (!v || v->is_null()) return {};
  if (!v->is_int64() || v->as_int64() < lo || v->as_int64() > hi)
    return bad(k, std::string("Invalid '") + k + "': expected an integer from " + std::to_string(lo) + " to " + std::to_string(hi) + ".");
  out = v->as_int64();
  return {};
}

}  // namespace

std::string handoff_tool_name(const std::string& agent) {
  std::string out = "transfer_to_";
  for (char c : agent) out += std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(c)) : '_';
  return out;
}

Result<AgentDefinition> parse_definition(const json::object& o) {
  static const char* known[] = {"name",           "description", "model",       "instructions", "tools",    "handoffs",
                                "memory",         "max_tool_calls", "max_output_tokens", "max_total_tokens", "max_run_seconds",
                                "temperature",    "skills",      "metadata",    "policies"};
  for (const auto& [k, v] : o)
    if (std::none_of(std::begin(known), std::end(known), [&](const char* n) { return k == n; }))
      return bad(std::string(k), "Unknown parameter: '" + std::string(k) + "'.");
  AgentDefinition d;
  if (Status s = string_field(o, "name", d.name, true, 64); !s.ok()) return s;
  if (!valid_id_syntax(d.name, 64)) return bad("name", "Invalid 'name': expected 1 to 64 letters, digits, '_' or '-'.");
  if (Status s = string_field(o, "description", d.description, false, 4096); !s.ok()) return s;
  if (Status s = string_field(o, "model", d.model, true, 256); !s.ok()) return s;
  if (d.model.empty() || d.model.starts_with("agent:"))
    return bad("model", "Invalid 'model': expected the name of a model (an agent runs on a model, not on another agent).");
  if (Status s = string_field(o, "instructions", d.instructions, false, kMaxInstructions); !s.ok()) return s;
  if (auto* t = o.if_contains("tools"); t && !t->is_null()) {
    if (!t->is_array() || t->as_array().size() > kMaxTools)
      return bad("tools", "Invalid 'tools': expected an array of at most " + std::to_string(kMaxTools) + " tool entries.");
    for (size_t i = 0; i < t->as_array().size(); ++i) {
      const auto& e = t->as_array()[i];
      auto* type = e.is_object() ? e.as_object().if_contains("type") : nullptr;
      if (!type || !type->is_string())
        return bad("tools[" + std::to_string(i) + "]", "Invalid 'tools[" + std::to_string(i) + "]': expected a tool entry with a 'type'.");
      if (auto* n = e.as_object().if_contains("name"); n && n->is_string() && n->as_string().starts_with("transfer_to_"))
        return bad("tools[" + std::to_string(i) + "].name", "Tool names starting with 'transfer_to_' are reserved for handoffs.");
    }
    d.tools = t->as_array();
  }
  if (auto* h = o.if_contains("handoffs"); h && !h->is_null()) {
    if (!h->is_array() || h->as_array().size() > kMaxHandoffs)
      return bad("handoffs", "Invalid 'handoffs': expected an array of at most " + std::to_string(kMaxHandoffs) + " agent names.");
    for (const auto& n : h->as_array()) {
      if (!n.is_string() || !valid_id_syntax(n.as_string(), 64))
        return bad("handoffs", "Invalid 'handoffs': each entry must be an agent name.");
      std::string name(n.as_string());
      if (name == d.name) return bad("handoffs", "Invalid 'handoffs': an agent cannot hand to itself.");
      if (std::find(d.handoffs.begin(), d.handoffs.end(), name) == d.handoffs.end()) d.handoffs.push_back(std::move(name));
    }
  }
  if (auto* m = o.if_contains("memory"))
    if (Status s = memory::parse_settings(*m, "memory", d.memory); !s.ok()) return s;
  if (Status s = int_field(o, "max_tool_calls", d.max_tool_calls, 1, 1'000'000); !s.ok()) return s;
  if (Status s = int_field(o, "max_output_tokens", d.max_output_tokens, 16, 1'000'000); !s.ok()) return s;
  if (Status s = int_field(o, "max_total_tokens", d.max_total_tokens, 1, 1'000'000'000); !s.ok()) return s;
  if (Status s = int_field(o, "max_run_seconds", d.max_run_seconds, 1, 86'400); !s.ok()) return s;
  if (auto* t = o.if_contains("temperature"); t && !t->is_null()) {
    if (!t->is_number() || t->to_number<double>() < 0 || t->to_number<double>() > 2)
      return bad("temperature", "Invalid 'temperature': expected a number from 0 to 2.");
    d.temperature = t->to_number<double>();
  }
  if (Status s = string_field(o, "policies", d.policies, false, kMaxPolicies); !s.ok()) return s;
  if (!d.policies.empty()) {
    auto set = policy::PolicySet::parse(d.policies);
    if (!set.ok()) return bad("policies", "Invalid 'policies': " + set.status().message());
    d.policy_set = std::move(*set);
  }
  if (auto* s = o.if_contains("skills"); s && !s->is_null()) {
    if (!s->is_array() || s->as_array().size() > 64) return bad("skills", "Invalid 'skills': expected an array of at most 64 skills.");
    for (const auto& sk : s->as_array()) {
      auto* id = sk.is_object() ? sk.as_object().if_contains("id") : nullptr;
      if (!id || !id->is_string() || id->as_string().empty())
        return bad("skills", "Invalid 'skills': each skill is an object with an 'id' (and a name and description).");
    }
    d.skills = s->as_array();
  }
  if (auto* m = o.if_contains("metadata"); m && !m->is_null()) {
    if (!m->is_object() || m->as_object().size() > 16) return bad("metadata", "Invalid 'metadata': expected an object of at most 16 strings.");
    for (const auto& [k, v] : m->as_object())
      if (!v.is_string() || k.size() > 64 || v.as_string().size() > 512)
        return bad("metadata", "Invalid 'metadata': keys of at most 64 and string values of at most 512 characters.");
    d.metadata = m->as_object();
  }
  return d;
}

json::object definition_json(const AgentDefinition& d) {
  json::array handoffs;
  for (const auto& h : d.handoffs) handoffs.push_back(json::value(h));
  json::object o;
  o["name"] = d.name;
  o["description"] = d.description;
  o["model"] = d.model;
  o["instructions"] = d.instructions;
  o["tools"] = d.tools;
  o["handoffs"] = std::move(handoffs);
  o["memory"] = memory::settings_json(d.memory);
  auto opt = [](const std::optional<int64_t>& v) { return v ? json::value(*v) : json::value(nullptr); };
  o["max_tool_calls"] = opt(d.max_tool_calls);
  o["max_output_tokens"] = opt(d.max_output_tokens);
  o["max_total_tokens"] = opt(d.max_total_tokens);
  o["max_run_seconds"] = opt(d.max_run_seconds);
  o["temperature"] = d.temperature ? json::value(*d.temperature) : json::value(nullptr);
  o["policies"] = d.policies;
  o["skills"] = d.skills;
  o["metadata"] = d.metadata;
  return o;
}

}  // namespace cn::fleet
