// parse_settings and settings_json (see settings.hpp).
#include "memory/settings.hpp"

#include <boost/json.hpp>

namespace cn::memory {

namespace json = boost::json;

namespace {

Status invalid(std::string_view field, const std::string& why) {
  return Status(Code::invalid_argument, "Invalid '" + std::string(field) + "': " + why, std::string(field), "invalid_value");
}

Status parse_scope(const json::value& v, const std::string& field, std::optional<std::string>& out) {
  if (v.is_null()) return {};
  if (v.is_bool() && !v.as_bool()) {
    out = "off";
    return {};
  }
  if (v.is_string()) {
    auto s = v.as_string();
    if (s == "user" || s == "agent" || s == "session" || s == "off") {
      out = std::string(s);
      return {};
    }
  }
  return invalid(field, "expected 'user', 'agent', 'session', 'off' or false.");
}

Status parse_flag(const json::object& o, const char* key, std::string_view field, bool& out) {
  auto* v = o.if_contains(key);
  if (!v || v->is_null()) return {};
  if (!v->is_bool()) return invalid(std::string(field) + "." + key, "expected a boolean.");
  out = v->as_bool();
  return {};
}

}  // namespace

Status parse_settings(const json::value& v, std::string_view field, Settings& out) {
  out = Settings{};
  if (v.is_null()) return {};
  if (v.is_bool()) {
    out.enabled = v.as_bool();
    return {};
  }
  if (v.is_string()) {
    auto s = v.as_string();
    if (s == "off") out.enabled = false;
    else if (s != "auto" && s != "on")
      return invalid(field, "expected 'auto', 'on', 'off', a boolean or an object; got '" + std::string(s.subview(0, std::min<size_t>(s.size(), 64))) + "'.");
    return {};
  }
  if (!v.is_object()) return invalid(field, "expected 'auto', 'on', 'off', a boolean or an object.");
  const auto& o = v.as_object();
  for (const auto& [k, _] : o)
    if (k != "inject" && k != "learn" && k != "strategies")
      return invalid(std::string(field) + "." + std::string(k), "unknown key; expected 'inject', 'learn' or 'strategies'.");
  if (Status s = parse_flag(o, "inject", field, out.inject); !s.ok()) return s;
  if (Status s = parse_flag(o, "learn", field, out.learn); !s.ok()) return s;
  if (auto* st = o.if_contains("strategies"); st && !st->is_null()) {
    std::string sf = std::string(field) + ".strategies";
    if (!st->is_object()) return invalid(sf, "expected an object with 'facts', 'preferences' and 'summary'.");
    for (const auto& [k, sv] : st->as_object()) {
      std::optional<std::string>* slot = k == "facts"         ? &out.strategies.facts
                                         : k == "preferences" ? &out.strategies.preferences
                                         : k == "summary"     ? &out.strategies.summary
                                                              : nullptr;
      if (!slot) return invalid(sf + "." + std::string(k), "unknown strategy; expected 'facts', 'preferences' or 'summary'.");
      if (Status s = parse_scope(sv, sf + "." + std::string(k), *slot); !s.ok()) return s;
    }
  }
  return {};
}

json::value settings_json(const Settings& s) {
  if (!s.enabled) return false;
  if (s == Settings{}) return true;
  auto scope = [](const std::optional<std::string>& v) { return v ? json::value(*v) : json::value(nullptr); };
  return json::object{{"inject", s.inject},
                      {"learn", s.learn},
                      {"strategies", json::object{{"facts", scope(s.strategies.facts)},
                                                  {"preferences", scope(s.strategies.preferences)},
                                                  {"summary", scope(s.strategies.summary)}}}};
}

}  // namespace cn::memory
