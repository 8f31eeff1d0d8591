// Policies: a Cedar-syntax policy set, parsed and compiled once, evaluated for every server-side
// tool call before it runs.
//
// The supported subset of Cedar (policies written for Cedar read the same here):
//   @id("...")                      annotations (kept: a decision names the policies that made it)
//   permit | forbid ( principal [== E | in E | is T [in E]],
//                     action    [== E | in E | in [E, ...]],
//                     resource  [== E | in E | is T [in E]] )
//   when { expr } / unless { expr } (any number), ';'
//   expr: if-then-else, || && !, == != < <= > >=, in, has, like "pat*", is, + - *,
//         .contains(x) .containsAll(s) .containsAny(s) .isEmpty(), member access a.b and a["b"],
//         literals (true, false, integers, "strings", [sets], Type::"id" entities),
//         principal, action, resource, context.
// Decision (Cedar's): deny unless some permit is satisfied; any satisfied forbid denies. A
// policy whose condition fails to evaluate (a missing attribute, a type error) is skipped.
//
// The request a tool call makes (see authorizer.hpp): principal User::"<end user>" (or
// Agent::"<id>", or Key::"<credential>" when the turn acts for no user), with the end user's
// token claims as its attributes; action Action::"call_tool"; resource Tool::"<server>/<tool>"
// (built-in tools: Tool::"<tool>"), a member of Server::"<server>", with attributes server and
// name; context {args: the call's arguments, server, tool, user, agent, key}.
//
// Thread-safety: a PolicySet is immutable after parse(); evaluate() is safe from any thread.
#pragma once

#include <boost/json/value.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.hpp"

namespace cn::policy {

struct Entity {
  std::string type, id;
  boost::json::object attrs;
  std::vector<Entity> parents;  // for `in`
};

struct Request {
  Entity principal, action, resource;
  boost::json::value context = boost::json::object();  // an object
};

struct Decision {
  bool allow = false;
  std::vector<std::string> reasons;  // ids of the policies that decided (forbids when denied)
  std::vector<std::string> errors;   // policies skipped because their condition failed
};

struct Policy;

class PolicySet {
 public:
  // Parses `text`; a syntax error is invalid_argument naming its line and column.
  static Result<std::shared_ptr<const PolicySet>> parse(std::string_view text);
  Decision evaluate(const Request& req) const;
  size_t size() const { return policies_.size(); }
  ~PolicySet();

 private:
  PolicySet() = default;
  std::vector<std::unique_ptr<Policy>> policies_;
};

}  // namespace cn::policy
