// Fuzz target: any bytes as a policy set (parsing), and every set that parses evaluated against
// a fixed tool-call request (conditions over arguments, claims and entity hierarchy).
#include <boost/json.hpp>

#include "policy/policy.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto set = cn::policy::PolicySet::parse(text);
  if (!set.ok()) return 0;
  namespace json = boost::json;
  cn::policy::Request r;
  r.principal = {"User", "alice", json::object{{"role", "admin"}, {"groups", json::array{"ops"}}}, {}};
  r.action = {"Action", "call_tool", {}, {}};
  r.resource = {"Tool", "fx/charge", json::object{{"server", "fx"}, {"name", "charge"}}, {{"Server", "fx", {}, {}}}};
  r.context = json::object{{"args", json::object{{"amount", 5}, {"tags", json::array{"a", "b"}}, {"note", "x*y"}}},
                           {"tool", "charge"}, {"server", "fx"}};
  (void)(*set)->evaluate(r);
  return 0;
}
