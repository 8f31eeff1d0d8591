// The trajectory grader (a Continuum extension, AgentCore's "expected tool execution sequences"):
// checks the tool calls and handoffs of a sample — sample.tool_calls ([{name, arguments}]) and
// sample.handoffs ([agent]), which a stored-responses run takes from each response's items —
// against expected calls (in order, in any order, or exactly), argument matchers, forbidden
// tools, a maximum number of calls, and handoffs that must or must not happen.
#include "evals/trajectory.hpp"

#include <algorithm>

namespace cn::evals {

namespace {

Status bad(const std::string& param, std::string message, std::string code = "invalid_value") {
  return invalid_param(param, std::move(message), std::move(code));
}

bool strings(const json::value& v) {
  return v.is_array() && std::all_of(v.as_array().begin(), v.as_array().end(), [](const json::value& x) { return x.is_string(); });
}

// Whether the call's arguments hold every key of `want` with an equal value (a string in `want`
// is a template, rendered against the item and the sample first).
bool arguments_match(const json::value& args, const json::object& want, const json::object& ns) {
  json::value parsed = args;
  if (args.is_string()) {
    boost::system::error_code ec;
    parsed = json::parse(args.as_string(), ec);
    if (ec) return want.empty();
  }
  if (!parsed.is_object()) return want.empty();
  for (const auto& [k, v] : want) {
    auto* have = parsed.as_object().if_contains(k);
    if (!have) return false;
    if (v.is_string()) {
      std::string expect = render(v.as_string(), ns);
      if (!(have->is_string() ? std::string(have->as_string()) == expect : json::serialize(*have) == expect)) return false;
    } else if (*have != v) {
      return false;
    }
  }
  return true;
}

bool call_matches(const json::value& call, const json::object& expected, const json::object& ns) {
  if (!call.is_object()) return false;
  const auto& c = call.as_object();
  auto* name = c.if_contains("name");
  if (!name || *name != expected.at("name")) return false;
  auto* want = expected.if_contains("arguments");
  if (!want || !want->is_object()) return true;
  return arguments_match(c.contains("arguments") ? c.at("arguments") : json::value(nullptr), want->as_object(), ns);
}

std::string name_of(const json::value& call) {
  if (!call.is_object()) return "";
  auto* n = call.as_object().if_contains("name");
  return n && n->is_string() ? std::string(n->as_string()) : "";
}

}  // namespace

Status check_trajectory(const json::object& g, const std::string& at) {
  auto* exp = g.if_contains("expected_tool_calls");
  if (exp && !exp->is_null()) {
    if (!exp->is_array()) return bad(at + ".expected_tool_calls", "Invalid '" + at + ".expected_tool_calls': expected an array of {name, arguments?}.", "invalid_type");
    for (size_t i = 0; i < exp->as_array().size(); ++i) {
      std::string p = at + ".expected_tool_calls[" + std::to_string(i) + "]";
      const auto& e = exp->as_array()[i];
      if (!e.is_object() || !e.as_object().contains("name") || !e.as_object().at("name").is_string())
        return bad(p + ".name", "Invalid '" + p + "': expected an object with a 'name' string.", "invalid_type");
      if (auto* a = e.as_object().if_contains("arguments"); a && !a->is_null()) {
        if (!a->is_object()) return bad(p + ".arguments", "Invalid '" + p + ".arguments': expected an object of argument matchers.", "invalid_type");
        for (const auto& [k, v] : a->as_object())
          if (v.is_string())
            if (Status s = check_template(v.as_string(), p + ".arguments." + std::string(k)); !s.ok()) return s;
      }
    }
  }
  if (auto* o = g.if_contains("order"); o && !o->is_null()) {
    if (!o->is_string() || (o->as_string() != "in_order" && o->as_string() != "any_order" && o->as_string() != "exact"))
      return bad(at + ".order", "Invalid '" + at + ".order': expected one of in_order, any_order, exact.");
  }
  for (const char* k : {"forbidden_tools", "required_handoffs", "forbidden_handoffs"})
    if (auto* v = g.if_contains(k); v && !v->is_null() && !strings(*v))
      return bad(at + "." + k, "Invalid '" + at + "." + k + "': expected an array of names.", "invalid_type");
  if (auto* m = g.if_contains("max_calls"); m && !m->is_null() && (!m->is_int64() || m->as_int64() < 0))
    return bad(at + ".max_calls", "Invalid '" + at + ".max_calls': expected a non-negative integer.", "invalid_type");
  return {};
}

Verdict grade_trajectory(const json::object& g, const json::object& ns) {
  Verdict v;
  v.name = std::string(g.at("name").as_string());
  v.type = "trajectory";
  json::array calls, handoffs;
  if (auto* s = ns.if_contains("sample"); s && s->is_object()) {
    if (auto* c = s->as_object().if_contains("tool_calls"); c && c->is_array()) calls = c->as_array();
    if (auto* h = s->as_object().if_contains("handoffs"); h && h->is_array()) handoffs = h->as_array();
  }
  json::array expected;
  if (auto* e = g.if_contains("expected_tool_calls"); e && e->is_array()) expected = e->as_array();
  std::string order = g.contains("order") && g.at("order").is_string() ? std::string(g.at("order").as_string()) : "in_order";
  json::array missing, violations;
  size_t matched = 0;
  if (order == "any_order") {
    std::vector<bool> used(calls.size(), false);
    for (const auto& e : expected) {
      bool found = false;
      for (size_t i = 0; i < calls.size() && !found; ++i)
        if (!used[i] && call_matches(calls[i], e.as_object(), ns)) used[i] = found = true;
      if (found) ++matched;
      else missing.push_back(e);
    }
  } else {
    // In order: the expected calls as a subsequence of the calls (exact: the whole sequence).
    size_t pos = 0;
    for (const auto& e : expected) {
      bool found = false;
      while (pos < calls.size() && !found) {
        if (call_matches(calls[pos], e.as_object(), ns)) found = true;
        else if (order == "exact") break;
        ++pos;
      }
      if (found) ++matched;
      else missing.push_back(e);
    }
    if (order == "exact" && calls.size() != expected.size())
      violations.push_back(json::string("made " + std::to_string(calls.size()) + " calls; exactly " + std::to_string(expected.size()) + " expected"));
  }
  if (auto* f = g.if_contains("forbidden_tools"); f && f->is_array())
    for (const auto& c : calls)
      for (const auto& name : f->as_array())
        if (name_of(c) == name.as_string()) violations.push_back(json::string("called the forbidden tool '" + name_of(c) + "'"));
  if (auto* m = g.if_contains("max_calls"); m && m->is_int64() && static_cast<int64_t>(calls.size()) > m->as_int64())
    violations.push_back(json::string("made " + std::to_string(calls.size()) + " calls; at most " + std::to_string(m->as_int64()) + " allowed"));
  auto handed = [&](const json::value& agent) { return std::find(handoffs.begin(), handoffs.end(), agent) != handoffs.end(); };
  if (auto* r = g.if_contains("required_handoffs"); r && r->is_array())
    for (const auto& a : r->as_array())
      if (!handed(a)) violations.push_back(json::string("did not hand off to '" + std::string(a.as_string()) + "'"));
  if (auto* r = g.if_contains("forbidden_handoffs"); r && r->is_array())
    for (const auto& a : r->as_array())
      if (handed(a)) violations.push_back(json::string("handed off to the forbidden agent '" + std::string(a.as_string()) + "'"));
  v.score = expected.empty() ? 1.0 : static_cast<double>(matched) / static_cast<double>(expected.size());
  v.passed = missing.empty() && violations.empty();
  v.sample = json::object{{"tool_calls", calls.size()}, {"matched", matched}, {"missing", std::move(missing)}, {"violations", std::move(violations)}};
  return v;
}

}  // namespace cn::evals
