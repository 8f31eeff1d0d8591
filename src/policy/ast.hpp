// Internal to policy/: the compiled form of a policy (parser.cpp builds it, eval.cpp runs it).
#pragma once

#include <boost/json.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "policy/policy.hpp"

namespace cn::policy {

namespace json = boost::json;

struct EntityRef {
  std::string type, id;
};

struct Expr {
  enum Kind {
    lit,        // value
    var,        // name: principal | action | resource | context
    attr,       // a.name
    has,        // a has name
    not_,       // !a
    neg,        // -a
    and_, or_,  // a && b, a || b
    cmp,        // a op b (op: == != < <= > >=)
    in,         // a in b
    like,       // a like pattern (name holds the pattern)
    is,         // a is Type (name), optionally in b
    arith,      // a op b (op: + - *)
    method,     // a.name(args...)
    set,        // [items...]
    if_,        // if a then b else c
  } kind;
  json::value value;  // lit (entities as {"__entity": {"type", "id"}})
  std::string name, op;
  std::unique_ptr<Expr> a, b, c;
  std::vector<std::unique_ptr<Expr>> items;
};

// A scope constraint: none, == E, in E (or in [E...]), is T [in E].
struct Constraint {
  enum Kind { any, eq, in, is } kind = any;
  std::vector<EntityRef> entities;
  std::string type;  // is
};

struct Policy {
  bool permit = true;
  std::string id;  // @id annotation, else "policy<N>"
  Constraint principal, action, resource;
  std::vector<std::pair<bool, std::unique_ptr<Expr>>> conditions;  // (is_when, expr)
};

}  // namespace cn::policy
