// RegistryTeam (see team.hpp): handoff profiles and child runs over the agent registry.
#include "api/team.hpp"

#include <boost/json.hpp>

#include "api/api.hpp"
#include "fleet/apply.hpp"

namespace cn::api {

namespace json = boost::json;

namespace {

// The request an agent version makes for `input`, validated.
Result<runtime::CreateParams> agent_request(const fleet::AgentVersion& v, std::string input) {
  json::object body{{"model", "agent:" + v.name}, {"input", std::move(input)}};
  if (Status s = fleet::apply_agent(v, body); !s.ok()) return s;
  json::value doc(std::move(body));
  auto p = parse_create(doc);
  if (p.ok()) apply_agent_limits(v, *p);
  return p;
}

// Admits a turn of `project` against its daily token quota and charges the quota with its usage.
Status charge_to_quota(identity::RateLimiter* limiter, const std::string& project, runtime::CreateParams& p) {
  if (!limiter) return {};
  identity::Headers unused;
  if (Status s = limiter->tokens_available(project, unused); !s.ok()) return s;
  p.on_usage = [limiter, project](const Usage& u) { limiter->charge_tokens(project, u.total()); };
  return {};
}

// Runs a turn to its end: its id and its final Response object.
boost::asio::awaitable<Result<std::pair<std::string, json::object>>> run_to_end(runtime::Runtime& rt, runtime::CreateParams p) {
  auto run = co_await rt.create(std::move(p));
  if (!run.ok()) co_return run.status();
  co_await (*run)->wait_done();
  boost::system::error_code ec;
  auto snap = json::parse((*run)->snapshot(), ec);
  if (ec || !snap.is_object()) co_return Status(Code::internal, "the response could not be read");
  co_return std::make_pair((*run)->id(), std::move(snap.as_object()));
}

// The text of a Response object's output messages.
std::string output_text_of(const json::object& r) {
  std::string text;
  if (auto* o = r.if_contains("output"); o && o->is_array())
    for (const auto& item : o->as_array())
      if (auto* c = item.is_object() ? item.as_object().if_contains("content") : nullptr; c && c->is_array())
        for (const auto& part : c->as_array())
          if (auto* t = part.is_object() ? part.as_object().if_contains("text") : nullptr; t && t->is_string()) text += t->as_string();
  return text;
}

}  // namespace

void apply_agent_limits(const fleet::AgentVersion& v, runtime::CreateParams& p) {
  p.max_total_tokens = v.def.max_total_tokens;
  if (v.def.max_run_seconds) p.max_run_time = std::chrono::seconds(*v.def.max_run_seconds);
}

Result<runtime::AgentProfile> RegistryTeam::profile(const std::string& project, const std::string& agent) {
  auto v = agents_.resolve(project, agent);
  if (!v.ok()) return v.status();
  auto p = agent_request(**v, "");
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

boost::asio::awaitable<Result<fleet::ChildAnswer>> RegistryTeam::run_child(const tools::CallContext& parent,
                                                                          std::shared_ptr<const fleet::AgentVersion> agent,
                                                                          std::string input) {
  if (!rt_) co_return Status(Code::unavailable, "child runs are not available yet");
  auto p = agent_request(*agent, std::move(input));
  if (!p.ok()) co_return p.status();
  p->scope.project = parent.project_id;
  if (!parent.user_id.empty()) p->scope.user = parent.user_id;
  p->memory_user = parent.user_id;
  p->memory_agent = agent->name;
  p->credential_id = parent.credential_id;
  p->claims_json = parent.claims_json;
  p->agent_depth = parent.agent_depth + 1;
  // The child spends from the parent's budget, ends by the parent's call deadline, is cancelled
  // with the parent, and is charged to the project's token quota as the parent is.
  p->parent_budget = parent.budget;
  p->parent_cancel = parent.cancel;
  p->on_usage = parent.on_usage;
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(parent.deadline - std::chrono::steady_clock::now());
  if (parent.deadline.time_since_epoch().count() != 0)
    p->max_run_time = std::max(std::chrono::milliseconds(1), p->max_run_time ? std::min(*p->max_run_time, left) : left);
  if (parent.trace.valid()) p->traceparent = parent.trace.traceparent();
  p->echo["agent"] = fleet::agent_ref_json(*agent, agent->name);
  p->echo["parent_response_id"] = parent.response_id;
  p->echo["instructions"] = nullptr;
  auto ended = co_await run_to_end(*rt_, std::move(*p));
  if (!ended.ok()) co_return ended.status();
  const auto& r = ended->second;
  fleet::ChildAnswer out;
  out.response_id = ended->first;
  if (auto* s = r.if_contains("status"); s && s->is_string()) out.status = std::string(s->as_string());
  out.output_text = output_text_of(r);
  co_return out;
}

boost::asio::awaitable<Result<std::string>> RegistryTeam::sample_agent(std::string project, std::string ref, std::string input, Usage* usage) {
  if (!rt_) co_return Status(Code::unavailable, "turns cannot start yet");
  auto v = agents_.resolve(project, ref);
  if (!v.ok()) co_return v.status();
  auto p = agent_request(**v, std::move(input));
  if (!p.ok()) co_return p.status();
  p->scope.project = project;
  p->memory_agent = (*v)->name;
  p->memory_on = false;  // a sample neither reads nor writes anyone's memory
  p->store = false;
  p->credential_id = "eval";
  if (Status s = charge_to_quota(limiter_, project, *p); !s.ok()) co_return s;
  p->echo["agent"] = fleet::agent_ref_json(**v, ref);
  p->echo["instructions"] = nullptr;
  auto ended = co_await run_to_end(*rt_, std::move(*p));
  if (!ended.ok()) co_return ended.status();
  const auto& r = ended->second;
  if (r.at("status") != "completed") {
    std::string why = r.contains("error") && r.at("error").is_object() ? std::string(r.at("error").as_object().at("message").as_string()) : "";
    co_return Status(Code::unavailable, "the agent's turn ended " + std::string(r.at("status").as_string()) + (why.empty() ? "" : ": " + why));
  }
  if (usage && r.contains("usage") && r.at("usage").is_object()) {
    const auto& u = r.at("usage").as_object();
    usage->input_tokens += u.at("input_tokens").to_number<int64_t>();
    usage->output_tokens += u.at("output_tokens").to_number<int64_t>();
  }
  co_return output_text_of(r);
}

boost::asio::awaitable<Result<std::string>> RegistryTeam::start_agent_turn(std::string project, std::string user, std::string agent_ref,
                                                                          std::string input, json::object metadata) {
  if (!rt_) co_return Status(Code::unavailable, "turns cannot start yet");
  auto v = agents_.resolve(project, agent_ref);
  if (!v.ok()) co_return v.status();
  auto p = agent_request(**v, std::move(input));
  if (!p.ok()) co_return p.status();
  p->scope.project = project;
  if (!user.empty()) p->scope.user = user;
  p->memory_user = user;
  p->memory_agent = (*v)->name;
  p->credential_id = "schedule";
  if (Status s = charge_to_quota(limiter_, project, *p); !s.ok()) co_return s;
  p->background = true;
  p->echo["background"] = true;
  p->echo["agent"] = fleet::agent_ref_json(**v, agent_ref);
  p->echo["instructions"] = nullptr;
  p->echo["metadata"] = std::move(metadata);
  auto run = co_await rt_->create(std::move(*p));
  if (!run.ok()) co_return run.status();
  co_return (*run)->id();
}

}  // namespace cn::api
