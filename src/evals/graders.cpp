// The graders (see graders.hpp): their checks at eval creation, templates, and grading.
#include "evals/graders.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <regex>

#include "evals/formula.hpp"
#include "evals/similarity.hpp"
#include "evals/trajectory.hpp"

namespace cn::evals {

namespace {

Status bad(const std::string& param, std::string message, std::string code = "invalid_value") {
  return invalid_param(param, std::move(message), std::move(code));
}

const json::value* field(const json::object& o, std::string_view k) {
  auto* v = o.if_contains(k);
  return v && !v->is_null() ? v : nullptr;
}

std::string str(const json::object& o, std::string_view k) {
  auto* v = field(o, k);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

Status need_string(const json::object& o, std::string_view k, const std::string& at, bool templated) {
  auto* v = field(o, k);
  std::string param = at + "." + std::string(k);
  if (!v) return bad(param, "Missing required parameter: '" + param + "'.", "missing_required_parameter");
  if (!v->is_string()) return bad(param, "Invalid type for '" + param + "': expected a string.", "invalid_type");
  return templated ? check_template(v->as_string(), param) : Status();
}

// The text of a message's content (a string, an input_text/output_text part, or parts).
std::string content_text(const json::value& c) {
  if (c.is_string()) return std::string(c.as_string());
  if (c.is_object()) {
    auto* t = c.as_object().if_contains("text");
    return t && t->is_string() ? std::string(t->as_string()) : std::string();
  }
  std::string out;
  if (c.is_array())
    for (const auto& p : c.as_array()) out += p.is_string() ? std::string(p.as_string()) : content_text(p);
  return out;
}

Status check_messages(const json::object& g, const std::string& at) {
  auto* in = field(g, "input");
  if (!in) return bad(at + ".input", "Missing required parameter: '" + at + ".input'.", "missing_required_parameter");
  if (!in->is_array() || in->as_array().empty())
    return bad(at + ".input", "Invalid '" + at + ".input': expected a non-empty array of messages.", "invalid_type");
  for (size_t i = 0; i < in->as_array().size(); ++i) {
    std::string p = at + ".input[" + std::to_string(i) + "]";
    const auto& m = in->as_array()[i];
    if (!m.is_object()) return bad(p, "Invalid '" + p + "': expected a message object.", "invalid_type");
    std::string role = str(m.as_object(), "role");
    if (role != "user" && role != "assistant" && role != "system" && role != "developer")
      return bad(p + ".role", "Invalid '" + p + ".role': expected one of user, assistant, system, developer.");
    auto* c = field(m.as_object(), "content");
    if (!c) return bad(p + ".content", "Missing required parameter: '" + p + ".content'.", "missing_required_parameter");
    if (Status s = check_template(content_text(*c), p + ".content"); !s.ok()) return s;
  }
  if (Status s = need_string(g, "model", at, false); !s.ok()) return s;
  return {};
}

Status check_grader(const json::value& v, const std::string& at, bool python, int depth = 0) {
  if (!v.is_object()) return bad(at, "Invalid '" + at + "': expected a grader object.", "invalid_type");
  const auto& g = v.as_object();
  if (Status s = need_string(g, "name", at, false); !s.ok()) return s;
  std::string type = str(g, "type");
  if (type == "string_check") {
    if (Status s = need_string(g, "input", at, true); !s.ok()) return s;
    if (Status s = need_string(g, "reference", at, true); !s.ok()) return s;
    std::string op = str(g, "operation");
    if (op != "eq" && op != "ne" && op != "like" && op != "ilike")
      return bad(at + ".operation", "Invalid '" + at + ".operation': expected one of eq, ne, like, ilike.");
    return {};
  }
  if (type == "text_similarity") {
    if (Status s = need_string(g, "input", at, true); !s.ok()) return s;
    if (Status s = need_string(g, "reference", at, true); !s.ok()) return s;
    static const std::vector<std::string> kMetrics = {"cosine", "fuzzy_match", "bleu", "rouge_1", "rouge_2", "rouge_3", "rouge_4", "rouge_5", "rouge_l"};
    std::string m = str(g, "evaluation_metric");
    if (m == "gleu" || m == "meteor")
      return bad(at + ".evaluation_metric", "The '" + m + "' metric is not supported by this server; use fuzzy_match, bleu, rouge_1..5, rouge_l or cosine.",
                 "unsupported_value");
    if (std::find(kMetrics.begin(), kMetrics.end(), m) == kMetrics.end())
      return bad(at + ".evaluation_metric", "Invalid '" + at + ".evaluation_metric': expected one of cosine, fuzzy_match, bleu, rouge_1..rouge_5, rouge_l.");
    auto* t = field(g, "pass_threshold");
    if (!t || !(t->is_number()))
      return bad(at + ".pass_threshold", "Missing required parameter: '" + at + ".pass_threshold' (a number).", "missing_required_parameter");
    return {};
  }
  if (type == "label_model") {
    if (Status s = check_messages(g, at); !s.ok()) return s;
    for (const char* k : {"labels", "passing_labels"}) {
      auto* l = field(g, k);
      std::string p = at + "." + k;
      if (!l || !l->is_array() || l->as_array().empty() ||
          !std::all_of(l->as_array().begin(), l->as_array().end(), [](const json::value& x) { return x.is_string(); }))
        return bad(p, "Invalid '" + p + "': expected a non-empty array of strings.", "invalid_type");
    }
    for (const auto& pl : g.at("passing_labels").as_array()) {
      const auto& labels = g.at("labels").as_array();
      if (std::find(labels.begin(), labels.end(), pl) == labels.end())
        return bad(at + ".passing_labels", "Invalid '" + at + ".passing_labels': '" + std::string(pl.as_string()) + "' is not among the labels.");
    }
    return {};
  }
  if (type == "score_model") {
    if (Status s = check_messages(g, at); !s.ok()) return s;
    if (auto* r = field(g, "range")) {
      if (!r->is_array() || r->as_array().size() != 2 || !r->as_array()[0].is_number() || !r->as_array()[1].is_number() ||
          r->as_array()[0].to_number<double>() >= r->as_array()[1].to_number<double>())
        return bad(at + ".range", "Invalid '" + at + ".range': expected [min, max] with min < max.");
    }
    if (auto* t = field(g, "pass_threshold"); t && !t->is_number())
      return bad(at + ".pass_threshold", "Invalid type for '" + at + ".pass_threshold': expected a number.", "invalid_type");
    return {};
  }
  if (auto* t = field(g, "pass_threshold"); t && !t->is_number() && (type == "python" || type == "multi"))
    return bad(at + ".pass_threshold", "Invalid type for '" + at + ".pass_threshold': expected a number.", "invalid_type");
  if (type == "python") {
    if (!python)
      return bad(at + ".type", "Python graders need the code sandbox (bubblewrap, [sandbox] enabled), which this server does not have.",
                 "unsupported_value");
    if (Status s = need_string(g, "source", at, false); !s.ok()) return s;
    if (g.at("source").as_string().find("def grade") == json::string::npos)
      return bad(at + ".source", "Invalid '" + at + ".source': it must define grade(sample, item) returning a number.");
    return {};
  }
  if (type == "multi") {
    if (depth > 0) return bad(at + ".type", "A multi grader cannot hold another multi grader.");
    auto* gs = field(g, "graders");
    if (!gs || !gs->is_object() || gs->as_object().empty())
      return bad(at + ".graders", "Invalid '" + at + ".graders': expected an object of named graders.", "invalid_type");
    std::map<std::string, double> names;
    for (const auto& [k, sub] : gs->as_object()) {
      if (Status s = check_grader(sub, at + ".graders." + std::string(k), python, depth + 1); !s.ok()) return s;
      names[std::string(k)] = 0;
    }
    if (Status s = need_string(g, "calculate_output", at, false); !s.ok()) return s;
    return check_formula(g.at("calculate_output").as_string(), names, at + ".calculate_output");
  }
  if (type == "trajectory") return check_trajectory(g, at);
  if (type == "memory") {
    if (Status s = need_string(g, "user", at, true); !s.ok()) return s;
    if (auto* a = field(g, "agent"); a && !a->is_string()) return bad(at + ".agent", "Invalid type for '" + at + ".agent': expected a string.", "invalid_type");
    size_t assertions = 0;
    for (const char* k : {"must_contain", "must_not_contain"}) {
      auto* l = field(g, k);
      if (!l) continue;
      if (!l->is_array() || !std::all_of(l->as_array().begin(), l->as_array().end(), [](const json::value& x) { return x.is_string() && !x.as_string().empty(); }))
        return bad(at + "." + k, "Invalid '" + at + "." + k + "': expected an array of non-empty phrases.", "invalid_type");
      assertions += l->as_array().size();
    }
    if (assertions == 0) return bad(at + ".must_contain", "A memory grader needs at least one phrase in must_contain or must_not_contain.");
    return {};
  }
  return bad(at + ".type", "Invalid '" + at + ".type': expected one of string_check, text_similarity, label_model, score_model, python, multi, trajectory, memory.");
}

// One path (a.b.c or a[0].b) into `root`; null when absent.
const json::value* lookup(const json::value& root, std::string_view path) {
  const json::value* cur = &root;
  size_t i = 0;
  while (i < path.size() && cur) {
    if (path[i] == '.') {
      ++i;
      continue;
    }
    if (path[i] == '[') {
      size_t close = path.find(']', i);
      if (close == std::string_view::npos || !cur->is_array()) return nullptr;
      size_t idx = 0;
      for (size_t k = i + 1; k < close; ++k) idx = idx * 10 + static_cast<size_t>(path[k] - '0');
      cur = idx < cur->as_array().size() ? &cur->as_array()[idx] : nullptr;
      i = close + 1;
      continue;
    }
    size_t end = path.find_first_of(".[", i);
    if (end == std::string_view::npos) end = path.size();
    if (!cur->is_object()) return nullptr;
    cur = cur->as_object().if_contains(path.substr(i, end - i));
    i = end;
  }
  return cur;
}

const std::regex& ref_pattern() {
  static const std::regex re(R"(\{\{\s*([^{}]*?)\s*\}\})");
  return re;
}

bool valid_ref(const std::string& ref) {
  static const std::regex ok(R"((item|sample)((\.[A-Za-z0-9_\-]+)|(\[[0-9]+\]))*)");
  return std::regex_match(ref, ok);
}

bool like(std::string_view text, std::string_view pattern, bool fold) {
  std::string t(text), p(pattern);
  if (fold) {
    std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    std::transform(p.begin(), p.end(), p.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  }
  // OpenAI's like/ilike: the reference is contained in the input.
  return t.find(p) != std::string::npos;
}

json::object result_schema(const json::object& g, bool label) {
  if (label) {
    json::array labels = g.at("labels").as_array();
    return json::object{{"type", "object"},
                        {"properties", json::object{{"label", json::object{{"type", "string"}, {"enum", labels}}}}},
                        {"required", json::array{"label"}},
                        {"additionalProperties", false}};
  }
  return json::object{{"type", "object"},
                      {"properties", json::object{{"score", json::object{{"type", "number"}}}}},
                      {"required", json::array{"score"}},
                      {"additionalProperties", false}};
}

}  // namespace

Status check_template(std::string_view text, const std::string& param) {
  std::string s(text);
  for (std::sregex_iterator it(s.begin(), s.end(), ref_pattern()), end; it != end; ++it) {
    std::string ref = (*it)[1].str();
    if (!valid_ref(ref))
      return bad(param, "Invalid template reference '{{" + ref + "}}' in '" + param +
                            "': references name item.<field> or sample.<field> (e.g. {{item.question}}, {{sample.output_text}}).");
  }
  return {};
}

std::string render(std::string_view text, const json::object& ns) {
  std::string s(text), out;
  json::value root(ns);
  size_t last = 0;
  for (std::sregex_iterator it(s.begin(), s.end(), ref_pattern()), end; it != end; ++it) {
    out.append(s, last, static_cast<size_t>(it->position()) - last);
    const json::value* v = lookup(root, (*it)[1].str());
    if (v && v->is_string()) out += v->as_string();
    else if (v && !v->is_null()) out += json::serialize(*v);
    last = static_cast<size_t>(it->position() + it->length());
  }
  out.append(s, last);
  return out;
}

Status check_criteria(const json::value& criteria, bool python) {
  if (!criteria.is_array() || criteria.as_array().empty())
    return bad("testing_criteria", "Invalid 'testing_criteria': expected a non-empty array of graders.", "invalid_type");
  std::vector<std::string> names;
  for (size_t i = 0; i < criteria.as_array().size(); ++i) {
    std::string at = "testing_criteria[" + std::to_string(i) + "]";
    if (Status s = check_grader(criteria.as_array()[i], at, python); !s.ok()) return s;
    std::string name = str(criteria.as_array()[i].as_object(), "name");
    if (std::find(names.begin(), names.end(), name) != names.end())
      return bad(at + ".name", "Invalid '" + at + ".name': '" + name + "' names another criterion too; names must be unique.");
    names.push_back(name);
  }
  return {};
}

boost::asio::awaitable<Verdict> grade(const json::object& g, const json::object& ns, Judge& judge, std::string project) {
  Verdict v;
  v.name = str(g, "name");
  v.type = str(g, "type");
  v.sample = nullptr;
  if (v.type == "trajectory") co_return grade_trajectory(g, ns);
  if (v.type == "memory") {
    std::string user = render(str(g, "user"), ns), agent = render(str(g, "agent"), ns);
    if (user.empty()) {
      v.error = "The memory grader's user is empty for this item.";
      co_return v;
    }
    auto texts = co_await judge.memories(project, user, agent);
    if (!texts.ok()) {
      v.error = "Reading the user's memory failed: " + texts.status().message();
      co_return v;
    }
    auto lower = [](std::string s) {
      std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      return s;
    };
    std::vector<std::string> held;
    for (const auto& t : *texts) held.push_back(lower(t));
    auto holds = [&](const std::string& phrase) {
      std::string p = lower(phrase);
      return std::any_of(held.begin(), held.end(), [&](const std::string& t) { return t.find(p) != std::string::npos; });
    };
    json::array missing, forbidden;
    size_t met = 0, total = 0;
    if (auto* l = field(g, "must_contain"))
      for (const auto& p : l->as_array()) {
        ++total;
        if (holds(std::string(p.as_string()))) ++met;
        else missing.push_back(p);
      }
    if (auto* l = field(g, "must_not_contain"))
      for (const auto& p : l->as_array()) {
        ++total;
        if (!holds(std::string(p.as_string()))) ++met;
        else forbidden.push_back(p);
      }
    v.score = total ? static_cast<double>(met) / static_cast<double>(total) : 1.0;
    v.passed = met == total;
    v.sample = json::object{{"user", user}, {"records", static_cast<int64_t>(held.size())}, {"missing", std::move(missing)}, {"present_but_forbidden", std::move(forbidden)}};
    co_return v;
  }
  if (v.type == "python" || v.type == "multi") {
    if (v.type == "python") {
      json::value item = ns.contains("item") ? ns.at("item") : json::value(nullptr);
      json::value sample = ns.contains("sample") ? ns.at("sample") : json::value(nullptr);
      std::string source = str(g, "source");
      auto score = co_await judge.run_python(project, std::move(source), std::move(sample), std::move(item));
      if (!score.ok()) {
        v.error = "The python grader failed: " + score.status().message();
        co_return v;
      }
      v.score = *score;
    } else {
      std::map<std::string, double> scores;
      json::object parts;
      for (const auto& [k, sub] : g.at("graders").as_object()) {
        Verdict part = co_await grade(sub.as_object(), ns, judge, project);
        v.usage.input_tokens += part.usage.input_tokens;
        v.usage.output_tokens += part.usage.output_tokens;
        if (v.model.empty()) v.model = part.model;
        if (!part.error.empty()) {
          v.error = "The sub-grader '" + std::string(k) + "' failed: " + part.error;
          co_return v;
        }
        scores[std::string(k)] = part.score;
        parts[k] = json::object{{"score", part.score}, {"passed", part.passed}};
      }
      auto total = evaluate(str(g, "calculate_output"), scores);
      if (!total.ok()) {
        v.error = "calculate_output: " + total.status().message();
        co_return v;
      }
      v.score = *total;
      v.sample = json::object{{"graders", std::move(parts)}};
    }
    double threshold = field(g, "pass_threshold") ? g.at("pass_threshold").to_number<double>() : 0.5;
    v.passed = v.score >= threshold;
    co_return v;
  }
  if (v.type == "string_check") {
    std::string input = render(str(g, "input"), ns), ref = render(str(g, "reference"), ns), op = str(g, "operation");
    bool ok = op == "eq" ? input == ref : op == "ne" ? input != ref : like(input, ref, op == "ilike");
    v.score = ok ? 1 : 0;
    v.passed = ok;
    co_return v;
  }
  if (v.type == "text_similarity") {
    std::string input = render(str(g, "input"), ns), ref = render(str(g, "reference"), ns), m = str(g, "evaluation_metric");
    double threshold = g.at("pass_threshold").to_number<double>();
    if (m == "fuzzy_match") v.score = fuzzy_match(input, ref);
    else if (m == "bleu") v.score = bleu(input, ref);
    else if (m == "rouge_l") v.score = rouge_l(input, ref);
    else if (m.rfind("rouge_", 0) == 0) v.score = rouge_n(input, ref, m.back() - '0');
    else {
      auto a = co_await judge.embed(input);
      if (!a.ok()) {
        v.error = "The embedding model failed: " + a.status().message();
        co_return v;
      }
      auto b = co_await judge.embed(ref);
      if (!b.ok()) {
        v.error = "The embedding model failed: " + b.status().message();
        co_return v;
      }
      v.score = cosine(*a, *b);
    }
    v.passed = v.score >= threshold;
    co_return v;
  }
  // A model grader: the judge sees the rendered messages and answers under a strict schema.
  bool label = v.type == "label_model";
  json::array messages;
  for (const auto& m : g.at("input").as_array()) {
    const auto& o = m.as_object();
    messages.push_back(json::object{{"role", str(o, "role")}, {"content", render(content_text(o.at("content")), ns)}});
  }
  json::object sampling;
  if (auto* sp = field(g, "sampling_params"); sp && sp->is_object()) sampling = sp->as_object();
  v.model = str(g, "model");
  json::object schema = result_schema(g, label);
  auto answer = co_await judge.ask(v.model, messages, std::move(schema), sampling, &v.usage);
  v.sample = json::object{{"input", messages}, {"output", answer.ok() ? json::value(*answer) : json::value(nullptr)}, {"model", v.model}};
  if (!answer.ok()) {
    v.error = "The judge model failed: " + answer.status().message();
    co_return v;
  }
  boost::system::error_code ec;
  auto parsed = json::parse(*answer, ec);
  const json::object* obj = !ec && parsed.is_object() ? &parsed.as_object() : nullptr;
  if (label) {
    const json::value* l = obj ? obj->if_contains("label") : nullptr;
    const auto& labels = g.at("labels").as_array();
    if (!l || !l->is_string() || std::find(labels.begin(), labels.end(), *l) == labels.end()) {
      v.error = "The judge's answer is not one of the labels as JSON: " + answer->substr(0, 200);
      co_return v;
    }
    const auto& passing = g.at("passing_labels").as_array();
    v.passed = std::find(passing.begin(), passing.end(), *l) != passing.end();
    v.score = v.passed ? 1 : 0;
    co_return v;
  }
  const json::value* s = obj ? obj->if_contains("score") : nullptr;
  if (!s || !s->is_number()) {
    v.error = "The judge's answer has no numeric score as JSON: " + answer->substr(0, 200);
    co_return v;
  }
  v.score = s->to_number<double>();
  double lo = 0, hi = 1;
  if (auto* r = field(g, "range")) {
    lo = r->as_array()[0].to_number<double>();
    hi = r->as_array()[1].to_number<double>();
  }
  if (!std::isfinite(v.score) || v.score < lo || v.score > hi) {
    v.error = "The judge's score " + std::to_string(v.score) + " is outside the range [" + std::to_string(lo) + ", " + std::to_string(hi) + "].";
    co_return v;
  }
  double threshold = field(g, "pass_threshold") ? g.at("pass_threshold").to_number<double>() : lo + (hi - lo) / 2;
  v.passed = v.score >= threshold;
  co_return v;
}

}  // namespace cn::evals
