// Policy evaluation: scope constraints, then conditions over the request (Cedar semantics: a
// condition that fails to evaluate skips its policy; forbid beats permit; default deny).
#include "policy/ast.hpp"

namespace cn::policy {

namespace {

// A value during evaluation: a pointer into the request or the policy, or one computed here.
struct Val {
  const json::value* p = nullptr;
  json::value own;
  const json::value& get() const { return p ? *p : own; }
};
Val ref(const json::value& v) { return Val{&v, {}}; }
Val owned(json::value v) { return Val{nullptr, std::move(v)}; }

struct Failed {};  // an evaluation error: the policy is skipped

const json::object* entity_of(const json::value& v) {
  if (!v.is_object()) return nullptr;
  auto* e = v.as_object().if_contains("__entity");
  return e && e->is_object() ? &e->as_object() : nullptr;
}

bool same_entity(const json::object& a, const json::object& b) { return a.at("type") == b.at("type") && a.at("id") == b.at("id"); }

bool equal(const json::value& a, const json::value& b) {
  auto* ea = entity_of(a);
  auto* eb = entity_of(b);
  if (ea || eb) return ea && eb && same_entity(*ea, *eb);
  if (a.is_number() && b.is_number()) return a.to_number<double>() == b.to_number<double>();
  if (a.is_array() && b.is_array()) {  // sets: same members, any order
    const auto &x = a.as_array(), &y = b.as_array();
    auto covers = [](const json::array& s, const json::array& t) {
      for (const auto& v : t) {
        bool found = false;
        for (const auto& w : s) found = found || equal(v, w);
        if (!found) return false;
      }
      return true;
    };
    return covers(x, y) && covers(y, x);
  }
  return a == b;
}

double number(const json::value& v) {
  if (!v.is_number()) throw Failed{};
  return v.to_number<double>();
}

bool boolean(const json::value& v) {
  if (!v.is_bool()) throw Failed{};
  return v.as_bool();
}

bool like(std::string_view s, std::string_view pat) {
  // `*` matches any run; `\*` a literal star.
  size_t si = 0, pi = 0, star = std::string_view::npos, mark = 0;
  auto at = [&](size_t i, bool& lit) -> char {
    lit = pat[i] == '\\' && i + 1 < pat.size() && pat[i + 1] == '*';
    return lit ? '*' : pat[i];
  };
  while (si < s.size()) {
    bool lit = false;
    if (pi < pat.size()) {
      char c = at(pi, lit);
      if (!lit && c == '*') {
        star = ++pi;
        mark = si;
        continue;
      }
      if (c == s[si]) {
        si++;
        pi += lit ? 2 : 1;
        continue;
      }
    }
    if (star == std::string_view::npos) return false;
    pi = star;
    si = ++mark;
  }
  while (pi < pat.size() && pat[pi] == '*') ++pi;
  return pi == pat.size();
}

class Evaluator {
 public:
  explicit Evaluator(const Request& r) : r_(r) {}

  bool in_scope(const Constraint& c, const Entity& e) const {
    switch (c.kind) {
      case Constraint::any: return true;
      case Constraint::eq: return c.entities.size() == 1 && e.type == c.entities[0].type && e.id == c.entities[0].id;
      case Constraint::in:
        for (const auto& target : c.entities)
          if (descends(e, target)) return true;
        return false;
      case Constraint::is:
        return e.type == c.type && (c.entities.empty() || descends(e, c.entities[0]));
    }
    return false;
  }

  bool condition(const Expr& e) { return boolean(eval(e).get()); }

 private:
  static json::value entity_json(const Entity& e) {
    json::object o = e.attrs;
    o["__entity"] = json::object{{"type", e.type}, {"id", e.id}};
    return o;
  }
  static bool descends(const Entity& e, const EntityRef& target) {
    if (e.type == target.type && e.id == target.id) return true;
    for (const auto& p : e.parents)
      if (descends(p, target)) return true;
    return false;
  }
  const Entity* entity_named(const json::object& ref) const {
    for (const Entity* e : {&r_.principal, &r_.action, &r_.resource})
      if (ref.at("type").as_string() == e->type && ref.at("id").as_string() == e->id) return e;
    return nullptr;
  }
  bool entity_in(const json::value& a, const json::value& b) const {
    auto* ea = entity_of(a);
    if (!ea) throw Failed{};
    auto one = [&](const json::value& t) {
      auto* et = entity_of(t);
      if (!et) throw Failed{};
      if (same_entity(*ea, *et)) return true;
      const Entity* known = entity_named(*ea);
      return known && descends(*known, EntityRef{std::string(et->at("type").as_string()), std::string(et->at("id").as_string())});
    };
    if (b.is_array()) {
      for (const auto& t : b.as_array())
        if (one(t)) return true;
      return false;
    }
    return one(b);
  }

  Val eval(const Expr& e) {
    switch (e.kind) {
      case Expr::lit: return ref(e.value);
      case Expr::var:
        // Entities become JSON only when a condition looks at them, once per request.
        if (e.name == "principal") return ref(lazy(principal_, r_.principal));
        if (e.name == "action") return ref(lazy(action_, r_.action));
        if (e.name == "resource") return ref(lazy(resource_, r_.resource));
        return ref(r_.context);
      case Expr::attr: {
        Val base = eval(*e.a);
        const auto& b = base.get();
        if (!b.is_object()) throw Failed{};
        auto* v = b.as_object().if_contains(e.name);
        if (!v || e.name == "__entity") throw Failed{};
        return base.p ? ref(*v) : owned(*v);
      }
      case Expr::has: {
        Val base = eval(*e.a);
        const auto& b = base.get();
        if (!b.is_object()) throw Failed{};
        return owned(e.name != "__entity" && b.as_object().contains(e.name));
      }
      case Expr::not_: return owned(!boolean(eval(*e.a).get()));
      case Expr::neg: return owned(-number(eval(*e.a).get()));
      case Expr::and_:
        if (!boolean(eval(*e.a).get())) return owned(false);
        return owned(boolean(eval(*e.b).get()));
      case Expr::or_:
        if (boolean(eval(*e.a).get())) return owned(true);
        return owned(boolean(eval(*e.b).get()));
      case Expr::cmp: {
        Val a = eval(*e.a), b = eval(*e.b);
        if (e.op == "==") return owned(equal(a.get(), b.get()));
        if (e.op == "!=") return owned(!equal(a.get(), b.get()));
        double x = number(a.get()), y = number(b.get());
        if (e.op == "<") return owned(x < y);
        if (e.op == "<=") return owned(x <= y);
        if (e.op == ">") return owned(x > y);
        return owned(x >= y);
      }
      case Expr::in: {
        Val a = eval(*e.a), b = eval(*e.b);
        return owned(entity_in(a.get(), b.get()));
      }
      case Expr::like: {
        Val a = eval(*e.a);
        if (!a.get().is_string()) throw Failed{};
        return owned(like(a.get().as_string(), e.name));
      }
      case Expr::is: {
        Val a = eval(*e.a);
        auto* ea = entity_of(a.get());
        if (!ea) throw Failed{};
        bool ok = ea->at("type").as_string() == e.name;
        if (ok && e.b) {
          Val b = eval(*e.b);
          ok = entity_in(a.get(), b.get());
        }
        return owned(ok);
      }
      case Expr::arith: {
        const auto& av = eval(*e.a).get();
        Val bval = eval(*e.b);
        double x = number(av), y = number(bval.get());
        double r = e.op == "+" ? x + y : e.op == "-" ? x - y : x * y;
        return owned(r);
      }
      case Expr::method: {
        Val base = eval(*e.a);
        const auto& b = base.get();
        if (!b.is_array()) throw Failed{};
        const auto& set = b.as_array();
        if (e.name == "isEmpty" && e.items.empty()) return owned(set.empty());
        if (e.items.size() != 1) throw Failed{};
        Val arg = eval(*e.items[0]);
        auto has = [&](const json::value& x) {
          for (const auto& m : set)
            if (equal(m, x)) return true;
          return false;
        };
        if (e.name == "contains") return owned(has(arg.get()));
        if (!arg.get().is_array()) throw Failed{};
        if (e.name == "containsAll") {
          for (const auto& x : arg.get().as_array())
            if (!has(x)) return owned(false);
          return owned(true);
        }
        if (e.name == "containsAny") {
          for (const auto& x : arg.get().as_array())
            if (has(x)) return owned(true);
          return owned(false);
        }
        throw Failed{};
      }
      case Expr::set: {
        json::array out;
        for (const auto& i : e.items) out.push_back(eval(*i).get());
        return owned(std::move(out));
      }
      case Expr::if_:
        return boolean(eval(*e.a).get()) ? eval(*e.b) : eval(*e.c);
    }
    throw Failed{};
  }

  static const json::value& lazy(std::optional<json::value>& slot, const Entity& e) {
    if (!slot) slot = entity_json(e);
    return *slot;
  }

  const Request& r_;
  std::optional<json::value> principal_, action_, resource_;
};

}  // namespace

Decision PolicySet::evaluate(const Request& req) const {
  Decision d;
  Evaluator ev(req);
  bool permitted = false;
  std::vector<std::string> permits;
  for (const auto& p : policies_) {
    if (!ev.in_scope(p->principal, req.principal) || !ev.in_scope(p->action, req.action) ||
        !ev.in_scope(p->resource, req.resource))
      continue;
    bool satisfied = true;
    try {
      for (const auto& [when, cond] : p->conditions) {
        if (ev.condition(*cond) != when) {
          satisfied = false;
          break;
        }
      }
    } catch (const Failed&) {
      d.errors.push_back(p->id);
      continue;
    }
    if (!satisfied) continue;
    if (!p->permit) d.reasons.push_back(p->id);
    else {
      permitted = true;
      permits.push_back(p->id);
    }
  }
  if (!d.reasons.empty()) return d;  // a forbid applies
  d.allow = permitted;
  d.reasons = std::move(permits);
  return d;
}

}  // namespace cn::policy
