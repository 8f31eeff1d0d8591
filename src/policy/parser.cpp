// The policy parser: Cedar policy text (the subset policy.hpp lists) to compiled Policies.
// Errors name the line and column; nesting is bounded so hostile text cannot exhaust the stack.
#include "policy/ast.hpp"

#include <cctype>

namespace cn::policy {

namespace {

constexpr int kMaxDepth = 64;
constexpr size_t kMaxText = 1 << 20;

struct Token {
  enum Kind { end, ident, str, num, sym } kind = end;
  std::string text;
  int64_t n = 0;
  int line = 1, col = 1;
};

class Parser {
 public:
  explicit Parser(std::string_view s) : s_(s) { advance(); }

  Result<std::vector<std::unique_ptr<Policy>>> policies() {
    std::vector<std::unique_ptr<Policy>> out;
    while (tok_.kind != Token::end) {
      auto p = policy(out.size());
      if (!err_.ok()) return err_;
      out.push_back(std::move(p));
    }
    if (!err_.ok()) return err_;
    return out;
  }

 private:
  // Lexing.
  void advance() {
    for (;;) {
      while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) step();
      if (pos_ + 1 < s_.size() && s_[pos_] == '/' && s_[pos_ + 1] == '/') {
        while (pos_ < s_.size() && s_[pos_] != '\n') step();
        continue;
      }
      break;
    }
    tok_ = Token{};
    tok_.line = line_;
    tok_.col = col_;
    if (pos_ >= s_.size()) return;
    char c = s_[pos_];
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      tok_.kind = Token::ident;
      while (pos_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '_')) tok_.text += step();
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      tok_.kind = Token::num;
      while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) {
        if (tok_.n > (INT64_MAX - 9) / 10) return fail("integer literal out of range");
        tok_.n = tok_.n * 10 + (step() - '0');
      }
    } else if (c == '"') {
      tok_.kind = Token::str;
      step();
      for (;;) {
        if (pos_ >= s_.size()) return fail("unterminated string");
        char d = step();
        if (d == '"') break;
        if (d == '\\') {
          if (pos_ >= s_.size()) return fail("unterminated string");
          char e = step();
          if (e == 'n') tok_.text += '\n';
          else if (e == 't') tok_.text += '\t';
          else if (e == '*') tok_.text += "\\*";  // kept escaped for `like`
          else tok_.text += e;
        } else {
          tok_.text += d;
        }
      }
    } else {
      tok_.kind = Token::sym;
      static const char* two[] = {"==", "!=", "<=", ">=", "&&", "||", "::"};
      for (const char* t : two)
        if (s_.substr(pos_, 2) == t) {
          tok_.text = t;
          step();
          step();
          return;
        }
      if (std::string_view("(){}[],;.<>!-+*@").find(c) == std::string_view::npos)
        return fail(std::string("unexpected character '") + c + "'");
      tok_.text = std::string(1, step());
    }
  }
  char step() {
    char c = s_[pos_++];
    if (c == '\n') {
      ++line_;
      col_ = 1;
    } else {
      ++col_;
    }
    return c;
  }
  void fail(const std::string& msg) {
    if (err_.ok())
      err_ = Status(Code::invalid_argument, "policy syntax error at line " + std::to_string(tok_.line) + ", column " +
                                                std::to_string(tok_.col) + ": " + msg, "policies");
    tok_.kind = Token::end;
  }
  bool is(const char* sym) const { return (tok_.kind == Token::sym || tok_.kind == Token::ident) && tok_.text == sym; }
  bool accept(const char* sym) {
    if (!is(sym)) return false;
    advance();
    return true;
  }
  void expect(const char* sym) {
    if (!accept(sym)) fail(std::string("expected '") + sym + "'" + (tok_.kind == Token::end ? "" : " near '" + tok_.text + "'"));
  }

  // Type::"id" or A::B::"id"; the first identifier is already read into `first`.
  std::optional<EntityRef> entity_after(std::string first) {
    std::string type = std::move(first);
    for (;;) {
      expect("::");
      if (tok_.kind == Token::str) {
        EntityRef e{type, tok_.text};
        advance();
        return e;
      }
      if (tok_.kind != Token::ident) {
        fail("expected an entity id string");
        return std::nullopt;
      }
      type += "::" + tok_.text;
      advance();
    }
  }
  std::optional<EntityRef> entity() {
    if (tok_.kind != Token::ident) {
      fail("expected an entity (Type::\"id\")");
      return std::nullopt;
    }
    std::string first = tok_.text;
    advance();
    return entity_after(first);
  }

  Constraint constraint(const char* var, bool action) {
    Constraint c;
    expect(var);
    if (accept("==")) {
      c.kind = Constraint::eq;
      if (auto e = entity()) c.entities.push_back(*e);
    } else if (accept("in")) {
      c.kind = Constraint::in;
      if (action && accept("[")) {
        if (!is("]"))
          do {
            if (auto e = entity()) c.entities.push_back(*e);
          } while (accept(","));
        expect("]");
      } else if (auto e = entity()) {
        c.entities.push_back(*e);
      }
    } else if (!action && accept("is")) {
      c.kind = Constraint::is;
      if (tok_.kind != Token::ident) fail("expected a type name after 'is'");
      c.type = tok_.text;
      advance();
      while (accept("::")) {
        c.type += "::" + tok_.text;
        advance();
      }
      if (accept("in"))
        if (auto e = entity()) c.entities.push_back(*e);
    }
    return c;
  }

  std::unique_ptr<Policy> policy(size_t n) {
    auto p = std::make_unique<Policy>();
    p->id = "policy" + std::to_string(n);
    while (accept("@")) {
      if (tok_.kind != Token::ident) fail("expected an annotation name");
      std::string key = tok_.text;
      advance();
      expect("(");
      if (tok_.kind != Token::str) fail("expected an annotation string");
      if (key == "id") p->id = tok_.text;
      advance();
      expect(")");
    }
    if (accept("permit")) p->permit = true;
    else if (accept("forbid")) p->permit = false;
    else fail("expected 'permit' or 'forbid'" + (tok_.kind == Token::end ? std::string() : " near '" + tok_.text + "'"));
    expect("(");
    p->principal = constraint("principal", false);
    expect(",");
    p->action = constraint("action", true);
    expect(",");
    p->resource = constraint("resource", false);
    expect(")");
    while (is("when") || is("unless")) {
      bool when = is("when");
      advance();
      expect("{");
      auto e = expr(0);
      expect("}");
      p->conditions.emplace_back(when, std::move(e));
    }
    expect(";");
    return p;
  }

  using E = std::unique_ptr<Expr>;
  E make(Expr::Kind k) {
    auto e = std::make_unique<Expr>();
    e->kind = k;
    return e;
  }
  E binary(Expr::Kind k, std::string op, E a, E b) {
    auto e = make(k);
    e->op = std::move(op);
    e->a = std::move(a);
    e->b = std::move(b);
    return e;
  }

  E expr(int depth) {
    if (depth > kMaxDepth) {
      fail("expression nested too deeply");
      return make(Expr::lit);
    }
    if (accept("if")) {
      auto e = make(Expr::if_);
      e->a = expr(depth + 1);
      expect("then");
      e->b = expr(depth + 1);
      expect("else");
      e->c = expr(depth + 1);
      return e;
    }
    auto left = and_(depth);
    while (accept("||")) left = binary(Expr::or_, "||", std::move(left), and_(depth));
    return left;
  }
  E and_(int depth) {
    auto left = relation(depth);
    while (accept("&&")) left = binary(Expr::and_, "&&", std::move(left), relation(depth));
    return left;
  }
  E relation(int depth) {
    auto left = add(depth);
    for (const char* op : {"==", "!=", "<=", ">=", "<", ">"})
      if (accept(op)) return binary(Expr::cmp, op, std::move(left), add(depth));
    if (accept("in")) return binary(Expr::in, "in", std::move(left), add(depth));
    if (accept("has")) {
      auto e = make(Expr::has);
      e->a = std::move(left);
      if (tok_.kind != Token::ident && tok_.kind != Token::str) fail("expected an attribute name after 'has'");
      e->name = tok_.text;
      advance();
      return e;
    }
    if (accept("like")) {
      auto e = make(Expr::like);
      e->a = std::move(left);
      if (tok_.kind != Token::str) fail("expected a pattern string after 'like'");
      e->name = tok_.text;
      advance();
      return e;
    }
    if (accept("is")) {
      auto e = make(Expr::is);
      e->a = std::move(left);
      if (tok_.kind != Token::ident) fail("expected a type name after 'is'");
      e->name = tok_.text;
      advance();
      if (accept("in")) e->b = add(depth);
      return e;
    }
    return left;
  }
  E add(int depth) {
    auto left = mult(depth);
    while (is("+") || is("-")) {
      std::string op = tok_.text;
      advance();
      left = binary(Expr::arith, op, std::move(left), mult(depth));
    }
    return left;
  }
  E mult(int depth) {
    auto left = unary(depth);
    while (accept("*")) left = binary(Expr::arith, "*", std::move(left), unary(depth));
    return left;
  }
  E unary(int depth) {
    if (depth > kMaxDepth) {
      fail("expression nested too deeply");
      return make(Expr::lit);
    }
    if (accept("!")) {
      auto e = make(Expr::not_);
      e->a = unary(depth + 1);
      return e;
    }
    if (accept("-")) {
      if (tok_.kind == Token::num) {
        auto e = make(Expr::lit);
        e->value = -tok_.n;
        advance();
        return member(std::move(e), depth);
      }
      auto e = make(Expr::neg);
      e->a = unary(depth + 1);
      return e;
    }
    return member(primary(depth), depth);
  }
  E member(E base, int depth) {
    for (;;) {
      if (accept(".")) {
        if (tok_.kind != Token::ident) {
          fail("expected an attribute or method name after '.'");
          return base;
        }
        std::string name = tok_.text;
        advance();
        if (accept("(")) {
          auto e = make(Expr::method);
          e->name = name;
          e->a = std::move(base);
          if (!is(")"))
            do e->items.push_back(expr(depth + 1));
            while (accept(","));
          expect(")");
          base = std::move(e);
        } else {
          auto e = make(Expr::attr);
          e->name = name;
          e->a = std::move(base);
          base = std::move(e);
        }
      } else if (is("[") && base->kind != Expr::set) {
        advance();
        if (tok_.kind != Token::str) fail("expected a string index");
        auto e = make(Expr::attr);
        e->name = tok_.text;
        e->a = std::move(base);
        advance();
        expect("]");
        base = std::move(e);
      } else {
        return base;
      }
    }
  }
  E primary(int depth) {
    if (tok_.kind == Token::num) {
      auto e = make(Expr::lit);
      e->value = tok_.n;
      advance();
      return e;
    }
    if (tok_.kind == Token::str) {
      auto e = make(Expr::lit);
      e->value = tok_.text;
      advance();
      return e;
    }
    if (accept("(")) {
      auto e = expr(depth + 1);
      expect(")");
      return e;
    }
    if (accept("[")) {
      auto e = make(Expr::set);
      if (!is("]"))
        do e->items.push_back(expr(depth + 1));
        while (accept(","));
      expect("]");
      return e;
    }
    if (tok_.kind == Token::ident) {
      std::string name = tok_.text;
      advance();
      if (name == "true" || name == "false") {
        auto e = make(Expr::lit);
        e->value = name == "true";
        return e;
      }
      if (name == "principal" || name == "action" || name == "resource" || name == "context") {
        auto e = make(Expr::var);
        e->name = name;
        return e;
      }
      auto ref = entity_after(name);
      auto e = make(Expr::lit);
      if (ref) e->value = json::object{{"__entity", json::object{{"type", ref->type}, {"id", ref->id}}}};
      return e;
    }
    fail(tok_.kind == Token::end ? "unexpected end of text" : "unexpected '" + tok_.text + "'");
    return make(Expr::lit);
  }

  std::string_view s_;
  size_t pos_ = 0;
  int line_ = 1, col_ = 1;
  Token tok_;
  Status err_;
};

}  // namespace

PolicySet::~PolicySet() = default;

Result<std::shared_ptr<const PolicySet>> PolicySet::parse(std::string_view text) {
  if (text.size() > kMaxText) return Status(Code::invalid_argument, "the policy set is larger than 1 MiB", "policies");
  Parser p(text);
  auto policies = p.policies();
  if (!policies.ok()) return policies.status();
  auto set = std::shared_ptr<PolicySet>(new PolicySet());
  set->policies_ = std::move(*policies);
  return std::shared_ptr<const PolicySet>(std::move(set));
}

}  // namespace cn::policy
