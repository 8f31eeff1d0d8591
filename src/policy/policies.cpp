// Policies (see policies.hpp): stored policy sets, their compiled cache, and the authorizer of
// tool calls.
#include "policy/policies.hpp"

#include <boost/json.hpp>

#include <future>

#include "store/async.hpp"

namespace cn::policy {

namespace json = boost::json;

Policies::Policies(store::Executor& store) : store_(store) {}

std::vector<store::Migration> Policies::migrations() {
  return {{"policy", 1, R"sql(
CREATE TABLE policy_sets (
  project_id TEXT PRIMARY KEY,
  text TEXT NOT NULL
) WITHOUT ROWID;
)sql"}};
}

Status Policies::load() {
  std::promise<Status> p;
  auto f = p.get_future();
  store_.read([this, &p](store::Database& db) {
    auto& q = db.stmt("SELECT project_id, text FROM policy_sets");
    std::map<std::string, Entry> m;
    Status bad;
    while (q.step()) {
      auto set = PolicySet::parse(q.text(1));
      if (!set.ok()) {
        bad = Status(Code::internal, "stored policy set of project " + q.text(0) + " does not parse: " + set.status().message());
        continue;
      }
      m[q.text(0)] = Entry{q.text(1), *set};
    }
    Status st = q.status();
    q.reset();
    if (st.ok()) {
      std::lock_guard lk(mu_);
      sets_ = std::move(m);
    }
    p.set_value(st.ok() ? bad : st);
  });
  return f.get();
}

boost::asio::awaitable<Status> Policies::put(std::string project, std::string text) {
  auto set = PolicySet::parse(text);
  if (!set.ok()) co_return set.status();
  std::function<Status(store::Database&)> fn = [project, text](store::Database& db) {
    return db.stmt("INSERT OR REPLACE INTO policy_sets(project_id, text) VALUES (?1, ?2)").bind(1, project).bind(2, text).run();
  };
  fn = store::announced("cfg:policies", std::move(fn));
  Status st = co_await store::write_async(store_, std::move(fn));
  if (!st.ok()) co_return st;
  std::lock_guard lk(mu_);
  sets_[project] = Entry{std::move(text), *set};
  co_return Status();
}

boost::asio::awaitable<Status> Policies::remove(std::string project) {
  std::function<Status(store::Database&)> fn = [project](store::Database& db) {
    return db.stmt("DELETE FROM policy_sets WHERE project_id=?1").bind(1, project).run();
  };
  fn = store::announced("cfg:policies", std::move(fn));
  Status st = co_await store::write_async(store_, std::move(fn));
  if (!st.ok()) co_return st;
  std::lock_guard lk(mu_);
  sets_.erase(project);
  co_return Status();
}

std::optional<std::string> Policies::text(const std::string& project) const {
  std::lock_guard lk(mu_);
  auto it = sets_.find(project);
  if (it == sets_.end()) return std::nullopt;
  return it->second.text;
}

std::shared_ptr<const PolicySet> Policies::compiled(const std::string& project) const {
  std::lock_guard lk(mu_);
  auto it = sets_.find(project);
  return it == sets_.end() ? nullptr : it->second.set;
}

Request call_request(const tools::CallContext& ctx, const tools::Tool& tool, std::string_view arguments) {
  Request r;
  json::object claims;
  if (!ctx.claims_json.empty()) {
    boost::system::error_code ec;
    auto v = json::parse(ctx.claims_json, ec);
    if (!ec && v.is_object()) claims = std::move(v.as_object());
  }
  if (!ctx.user_id.empty()) {
    r.principal = Entity{"User", ctx.user_id, std::move(claims), {}};
  } else if (!ctx.agent_id.empty()) {
    r.principal = Entity{"Agent", ctx.agent_id, {}, {}};
  } else {
    r.principal = Entity{"Key", ctx.credential_id, {}, {}};
  }
  r.action = Entity{"Action", "call_tool", {}, {}};
  const std::string& server = tool.server_label();
  r.resource.type = "Tool";
  r.resource.id = server.empty() ? tool.name() : server + "/" + tool.name();
  r.resource.attrs = json::object{{"server", server}, {"name", tool.name()}};
  if (!server.empty()) r.resource.parents.push_back(Entity{"Server", server, {}, {}});
  json::value args = json::object();
  if (!arguments.empty()) {
    boost::system::error_code ec;
    auto v = json::parse(arguments, ec);
    if (!ec) args = std::move(v);
  }
  r.context = json::object{{"args", std::move(args)}, {"server", server}, {"tool", tool.name()},
                           {"user", ctx.user_id}, {"agent", ctx.agent_id}, {"key", ctx.credential_id}};
  return r;
}

Status PolicyAuthorizer::authorize(const tools::CallContext& ctx, const tools::Tool& tool, std::string_view arguments) {
  auto project_set = policies_.compiled(ctx.project_id);
  std::shared_ptr<const PolicySet> agent_set;
  if (agent_policies_ && !ctx.agent_id.empty()) agent_set = agent_policies_(ctx.project_id, ctx.agent_id, ctx.agent_version);
  if (!project_set && !agent_set) return {};
  Request req = call_request(ctx, tool, arguments);
  Decision d;
  d.allow = true;
  std::string whose;
  if (project_set) d = project_set->evaluate(req);
  if (d.allow && agent_set) {
    d = agent_set->evaluate(req);
    whose = "agent '" + ctx.agent_id + "' ";
  }
  if (d.allow) return {};
  std::string why = d.reasons.empty() ? "no " + whose + "policy permits it" : "forbidden by " + whose + "policy " + d.reasons.front();
  if (audit_) {
    json::array ids;
    for (const auto& r : d.reasons) ids.push_back(json::value(r));
    audit_->note({0, 0, ctx.project_id, ctx.credential_id, "tool.denied", req.resource.id,
                  json::serialize(json::object{{"response", ctx.response_id}, {"user", ctx.user_id},
                                               {"agent", ctx.agent_id}, {"policies", std::move(ids)}}),
                  ""});
  }
  return Status(Code::permission_denied, "The call to '" + tool.name() + "' was denied: " + why + ".");
}

}  // namespace cn::policy
