// Policy sets: parsing (errors name line and column) and decisions (permit/forbid, default
// deny, scope constraints, conditions over arguments and claims, errors skip a policy).
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "policy/policy.hpp"

namespace cn::policy {
namespace {

namespace json = boost::json;

Request call(std::string user, std::string server, std::string tool, std::string args, std::string claims = "{}") {
  Request r;
  r.principal = Entity{"User", user, json::parse(claims).as_object(), {}};
  r.action = Entity{"Action", "call_tool", {}, {}};
  r.resource = Entity{"Tool", server + "/" + tool, json::object{{"server", server}, {"name", tool}}, {Entity{"Server", server, {}, {}}}};
  r.context = json::object{{"args", json::parse(args)}, {"server", server}, {"tool", tool}, {"user", user}};
  return r;
}

std::shared_ptr<const PolicySet> compile(std::string_view text) {
  auto s = PolicySet::parse(text);
  EXPECT_TRUE(s.ok()) << s.status().to_string();
  return s.ok() ? *s : nullptr;
}

TEST(Policy, DecisionTable) {
  auto set = compile(R"(
    // Anyone may call the payments server's tools for small amounts.
    @id("small-payments")
    permit (principal, action == Action::"call_tool", resource in Server::"payments")
      when { context.args.amount < 100 };
    @id("admins")
    permit (principal, action, resource) when { principal has role && principal.role == "admin" };
    @id("no-refunds-for-mallory")
    forbid (principal == User::"mallory", action, resource == Tool::"payments/refund");
    @id("read-only-docs")
    permit (principal is User, action in [Action::"call_tool"], resource) when { context.tool like "read_*" } unless { context.args has secret };
  )");
  ASSERT_TRUE(set);
  EXPECT_EQ(set->size(), 4u);
  struct Case {
    Request req;
    bool allow;
    const char* reason;
  } cases[] = {
      {call("alice", "payments", "charge", R"({"amount": 5})"), true, "small-payments"},
      {call("alice", "payments", "charge", R"({"amount": 500})"), false, nullptr},
      {call("alice", "payments", "charge", R"({"amount": 99.5})"), true, "small-payments"},
      {call("alice", "payments", "charge", R"({})"), false, nullptr},  // missing attribute: skipped
      {call("boss", "payments", "charge", R"({"amount": 500})", R"({"role": "admin"})"), true, "admins"},
      {call("mallory", "payments", "refund", R"({"amount": 1})"), false, "no-refunds-for-mallory"},
      {call("mallory", "payments", "refund", R"({"amount": 1})", R"({"role": "admin"})"), false, "no-refunds-for-mallory"},
      {call("alice", "docs", "read_page", R"({"page": 1})"), true, "read-only-docs"},
      {call("alice", "docs", "read_page", R"({"secret": 1})"), false, nullptr},
      {call("alice", "docs", "write_page", R"({})"), false, nullptr},
  };
  for (const auto& c : cases) {
    auto d = set->evaluate(c.req);
    EXPECT_EQ(d.allow, c.allow) << c.req.resource.id << " " << json::serialize(c.req.context);
    if (c.reason) {
      ASSERT_FALSE(d.reasons.empty()) << c.req.resource.id;
      EXPECT_EQ(d.reasons.front(), c.reason);
    }
  }
}

TEST(Policy, Expressions) {
  auto allow = [](std::string cond, std::string args = "{}", std::string claims = "{}") {
    auto set = PolicySet::parse("permit (principal, action, resource) when { " + cond + " };");
    EXPECT_TRUE(set.ok()) << cond << ": " << set.status().to_string();
    return set.ok() && (*set)->evaluate(call("u", "s", "t", args, claims)).allow;
  };
  EXPECT_TRUE(allow("context.args.n + 1 == 3 && context.args.n * 2 >= 4", R"({"n": 2})"));
  EXPECT_TRUE(allow("[\"a\", \"b\"].contains(context.args.x)", R"({"x": "b"})"));
  EXPECT_FALSE(allow("[\"a\", \"b\"].contains(context.args.x)", R"({"x": "c"})"));
  EXPECT_TRUE(allow("context.args.tags.containsAll([\"x\"]) && context.args.tags.containsAny([\"q\", \"y\"])", R"({"tags": ["x", "y"]})"));
  EXPECT_TRUE(allow("principal.groups.contains(\"ops\")", "{}", R"({"groups": ["ops", "dev"]})"));
  EXPECT_TRUE(allow("if context.args.n > 1 then true else false", R"({"n": 2})"));
  EXPECT_TRUE(allow("!(context.args.n == 1) || false", R"({"n": 2})"));
  EXPECT_TRUE(allow("context.args[\"odd key\"] == -4", R"({"odd key": -4})"));
  EXPECT_TRUE(allow("resource in Server::\"s\" && resource is Tool && principal is User"));
  EXPECT_TRUE(allow("context.tool like \"*\" && \"a*b\" like \"a\\*b\" && !(\"axb\" like \"a\\*b\")"));
  EXPECT_TRUE(allow("resource.name == \"t\" && resource.server == \"s\""));
  EXPECT_FALSE(allow("context.args.n < \"x\"", R"({"n": 1})"));  // a type error skips the policy
}

TEST(Policy, EmptySetDeniesAndSyntaxErrorsNameThePlace) {
  auto empty = PolicySet::parse("");
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE((*empty)->evaluate(call("u", "s", "t", "{}")).allow);
  auto bad = PolicySet::parse("permit (principal, action, resource)\n  when { context.x == };");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("line 2"), std::string::npos) << bad.status().message();
  for (const char* text : {"permit", "permit (principal, action);", "forbid (principal == User, action, resource);",
                           "permit (principal, action, resource) when { \"unterminated };",
                           "permit (principal, action, resource) when { 99999999999999999999999 };", "@id(1) permit (principal, action, resource);"}) {
    EXPECT_FALSE(PolicySet::parse(text).ok()) << text;
  }
  std::string deep(10000, '(');
  EXPECT_FALSE(PolicySet::parse("permit (principal, action, resource) when { " + deep + " };").ok());
}

}  // namespace
}  // namespace cn::policy
