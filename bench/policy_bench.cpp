// continuum-policy-bench: what deciding a tool call costs. Builds the request a call makes
// (policy::call_request: arguments and claims parsed) and evaluates it against a 100-rule
// policy set, interleaved with the same request against a 1-rule set (the baseline), and
// reports p50/p99 of each and the parse time of the set.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <iostream>

#include "policy/policies.hpp"

using namespace cn;
using Clock_ = std::chrono::steady_clock;

namespace {

class FakeTool final : public tools::Tool {
 public:
  const std::string& name() const override { return name_; }
  boost::json::object definition() const override { return {}; }
  bool idempotent() const override { return false; }
  ItemType item_type() const override { return ItemType::mcp_call; }
  const std::string& server_label() const override { return server_; }
  tools::awaitable<tools::Outcome> execute(const tools::CallContext&, std::string) override { co_return tools::Outcome{}; }

 private:
  std::string name_ = "charge", server_ = "payments";
};

std::string hundred_rules() {
  std::string s;
  for (int i = 0; i < 96; ++i)
    s += "@id(\"r" + std::to_string(i) + "\") permit (principal, action == Action::\"call_tool\", resource == Tool::\"srv" +
         std::to_string(i) + "/t\") when { context.args.amount < " + std::to_string(i * 10) + " && principal.tier == \"gold\" };\n";
  s += "@id(\"pay\") permit (principal, action, resource in Server::\"payments\") when { context.args.amount <= 100 && context.args.currency like \"EU*\" };\n";
  s += "@id(\"groups\") permit (principal, action, resource) when { principal has groups && principal.groups.contains(\"ops\") };\n";
  s += "@id(\"nobob\") forbid (principal == User::\"bob\", action, resource);\n";
  s += "@id(\"cap\") forbid (principal, action, resource) when { context.args has amount && context.args.amount > 10000 };\n";
  return s;
}

double pct(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(p * (v.size() - 1))];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"continuum-policy-bench"};
  int iters = 200'000;
  app.add_option("--iterations", iters, "evaluations of each set");
  CLI11_PARSE(app, argc, argv);

  auto t0 = Clock_::now();
  auto big = policy::PolicySet::parse(hundred_rules());
  double parse_us = std::chrono::duration<double, std::micro>(Clock_::now() - t0).count();
  auto small = policy::PolicySet::parse("permit (principal, action, resource in Server::\"payments\") when { context.args.amount <= 100 };");
  if (!big.ok() || !small.ok()) {
    std::cerr << "parse failed\n";
    return 1;
  }
  FakeTool tool;
  tools::CallContext ctx;
  ctx.project_id = "proj";
  ctx.user_id = "alice";
  ctx.credential_id = "key_1";
  ctx.claims_json = R"({"sub":"alice","tier":"silver","groups":["dev"],"iss":"https://idp","exp":1})";
  std::string args = R"({"amount": 42, "currency": "EUR", "note": "monthly"})";
  std::vector<double> big_ns, small_ns, eval_ns;
  big_ns.reserve(iters);
  small_ns.reserve(iters);
  eval_ns.reserve(iters);
  auto fixed = policy::call_request(ctx, tool, args);
  size_t allowed = 0;
  for (int i = 0; i < iters; ++i) {
    auto a = Clock_::now();
    auto req = policy::call_request(ctx, tool, args);
    allowed += (*big)->evaluate(req).allow;
    auto b = Clock_::now();
    auto req2 = policy::call_request(ctx, tool, args);
    allowed += (*small)->evaluate(req2).allow;
    auto c = Clock_::now();
    allowed += (*big)->evaluate(fixed).allow;
    auto d = Clock_::now();
    big_ns.push_back(std::chrono::duration<double, std::nano>(b - a).count());
    small_ns.push_back(std::chrono::duration<double, std::nano>(c - b).count());
    eval_ns.push_back(std::chrono::duration<double, std::nano>(d - c).count());
  }
  if (allowed != static_cast<size_t>(3 * iters)) {
    std::cerr << "unexpected decisions\n";
    return 1;
  }
  std::cout << "policy set of " << (*big)->size() << " rules parsed in " << parse_us << " us\n";
  std::cout << "decide a call (request + evaluate), 100 rules: p50 " << pct(big_ns, 0.5) / 1000 << " us, p99 "
            << pct(big_ns, 0.99) / 1000 << " us\n";
  std::cout << "decide a call (request + evaluate), 1 rule:    p50 " << pct(small_ns, 0.5) / 1000 << " us, p99 "
            << pct(small_ns, 0.99) / 1000 << " us\n";
  std::cout << "evaluate only (request built once), 100 rules: p50 " << pct(eval_ns, 0.5) / 1000 << " us, p99 "
            << pct(eval_ns, 0.99) / 1000 << " us\n";
  std::cout << "ratio p50 100 rules / 1 rule: " << pct(big_ns, 0.5) / pct(small_ns, 0.5) << "\n";
  return 0;
}
