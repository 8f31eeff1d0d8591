// The runtime's Team (runtime/team.hpp) over the agent registry: a handoff target's latest
// version, folded into a request exactly as "model": "agent:NAME" would be, and validated by
// the same parser as a POST /v1/responses body.
#include "api/api.hpp"
#include "fleet/apply.hpp"

#include <boost/json.hpp>

namespace cn::api {

namespace json = boost::json;

namespace {

class RegistryTeam final : public runtime::Team {
 public:
  explicit RegistryTeam(fleet::AgentRegistry& agents) : agents_(agents) {}

  Result<runtime::AgentProfile> profile(const std::string& project, const std::string& agent) override {
    auto v = agents_.resolve(project, agent);
    if (!v.ok()) return v.status();
    json::object body{{"model", "agent:" + agent}, {"input", ""}};
    if (Status s = fleet::apply_agent(**v, body); !s.ok()) return s;
    json::value doc(std::move(body));
    auto p = parse_create(doc);
    if (!p.ok()) return p.status();
    runtime::AgentProfile out;
    out.agent = (*v)->name;
    out.version = (*v)->version;
    out.model = p->model;
    out.instructions = p->instructions;
    out.server_tools = std::move(p->server_tools);
    out.tools_json = std::move(p->tools_json);
    out.max_output_tokens = p->max_output_tokens;
    out.temperature = p->temperature;
    return out;
  }

 private:
  fleet::AgentRegistry& agents_;
};

}  // namespace

std::shared_ptr<runtime::Team> make_team(fleet::AgentRegistry& agents) { return std::make_shared<RegistryTeam>(agents); }

}  // namespace cn::api
