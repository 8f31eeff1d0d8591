// The multi grader's formulas (see formula.hpp): a recursive-descent evaluator.
#include "evals/formula.hpp"

#include <cctype>
#include <cmath>
#include <vector>

namespace cn::evals {

namespace {

class Parser {
 public:
  Parser(std::string_view s, const std::map<std::string, double>& vars) : s_(s), vars_(vars) {}

  Result<double> all() {
    auto v = expr();
    if (!v.ok()) return v;
    skip();
    if (i_ != s_.size()) return fail("unexpected '" + std::string(1, s_[i_]) + "'");
    return v;
  }

 private:
  Status fail(std::string why) const { return Status(Code::invalid_argument, why + " at position " + std::to_string(i_)); }
  void skip() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  bool eat(char c) {
    skip();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }

  Result<double> expr() {
    auto v = term();
    if (!v.ok()) return v;
    double acc = *v;
    for (;;) {
      bool plus = eat('+');
      if (!plus && !eat('-')) return acc;
      auto r = term();
      if (!r.ok()) return r;
      acc = plus ? acc + *r : acc - *r;
    }
  }

  Result<double> term() {
    auto v = factor();
    if (!v.ok()) return v;
    double acc = *v;
    for (;;) {
      bool times = eat('*');
      if (!times && !eat('/')) return acc;
      auto r = factor();
      if (!r.ok()) return r;
      if (!times && *r == 0) return fail("division by zero");
      acc = times ? acc * *r : acc / *r;
    }
  }

  Result<double> factor() {
    if (++depth_ > 64) return fail("too deeply nested");
    struct Leave {
      int& d;
      ~Leave() { --d; }
    } leave{depth_};
    if (eat('-')) {
      auto v = factor();
      if (!v.ok()) return v;
      return -*v;
    }
    if (eat('(')) {
      auto v = expr();
      if (!v.ok()) return v;
      if (!eat(')')) return fail("missing ')'");
      return v;
    }
    skip();
    if (i_ < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[i_])) || s_[i_] == '.')) {
      size_t start = i_;
      while (i_ < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[i_])) || s_[i_] == '.')) ++i_;
      try {
        return std::stod(std::string(s_.substr(start, i_ - start)));
      } catch (...) {
        return fail("a malformed number");
      }
    }
    if (i_ < s_.size() && (std::isalpha(static_cast<unsigned char>(s_[i_])) || s_[i_] == '_')) {
      size_t start = i_;
      while (i_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[i_])) || s_[i_] == '_')) ++i_;
      std::string name(s_.substr(start, i_ - start));
      if (eat('(')) return call(name);
      auto it = vars_.find(name);
      if (it == vars_.end()) return fail("unknown name '" + name + "'");
      return it->second;
    }
    return fail(i_ < s_.size() ? "unexpected '" + std::string(1, s_[i_]) + "'" : "an unfinished formula");
  }

  Result<double> call(const std::string& fn) {
    std::vector<double> args;
    if (!eat(')')) {
      for (;;) {
        auto a = expr();
        if (!a.ok()) return a;
        args.push_back(*a);
        if (eat(')')) break;
        if (!eat(',')) return fail("expected ',' or ')'");
      }
    }
    auto one = [&](double (*f)(double)) -> Result<double> {
      if (args.size() != 1) return fail(fn + " takes one argument");
      return f(args[0]);
    };
    if (fn == "min" || fn == "max") {
      if (args.empty()) return fail(fn + " needs an argument");
      double r = args[0];
      for (double a : args) r = fn == "min" ? std::min(r, a) : std::max(r, a);
      return r;
    }
    if (fn == "abs") return one([](double x) { return std::fabs(x); });
    if (fn == "sqrt") return one([](double x) { return std::sqrt(x); });
    if (fn == "log") return one([](double x) { return std::log(x); });
    if (fn == "exp") return one([](double x) { return std::exp(x); });
    if (fn == "floor") return one([](double x) { return std::floor(x); });
    if (fn == "ceil") return one([](double x) { return std::ceil(x); });
    return fail("unknown function '" + fn + "'");
  }

  std::string_view s_;
  const std::map<std::string, double>& vars_;
  size_t i_ = 0;
  int depth_ = 0;
};

}  // namespace

Result<double> evaluate(std::string_view formula, const std::map<std::string, double>& scores) {
  if (formula.size() > 4096) return Status(Code::invalid_argument, "the formula is longer than 4096 characters");
  auto v = Parser(formula, scores).all();
  if (!v.ok()) return v;
  if (!std::isfinite(*v)) return Status(Code::invalid_argument, "the formula's result is not a finite number");
  return v;
}

Status check_formula(std::string_view formula, const std::map<std::string, double>& names, const std::string& param) {
  // Every name at 1: only syntax and names can fail (a division by zero is found when grading).
  std::map<std::string, double> ones;
  for (const auto& [k, v] : names) ones[k] = 1.0;
  if (formula.size() > 4096) return invalid_param(param, "Invalid '" + param + "': longer than 4096 characters.");
  auto v = Parser(formula, ones).all();
  if (!v.ok() && v.status().message().rfind("division by zero", 0) != 0)
    return invalid_param(param, "Invalid '" + param + "': " + v.status().message() + ".");
  return {};
}

}  // namespace cn::evals
