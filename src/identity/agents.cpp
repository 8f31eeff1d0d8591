// Registered agents: the agents table and its in-memory copy.
#include "identity/agents.hpp"

#include <boost/json.hpp>

#include <future>

#include "store/async.hpp"

namespace cn::identity {

namespace json = boost::json;

namespace {

std::string key(const std::string& project, const std::string& id) { return project + "\x1f" + id; }

std::string tools_text(const std::optional<std::vector<std::string>>& tools) {
  if (!tools) return "";
  json::array a;
  for (const auto& t : *tools) a.emplace_back(t);
  return json::serialize(a);
}

std::optional<std::vector<std::string>> tools_from(const std::optional<std::string>& text) {
  if (!text) return std::nullopt;
  boost::system::error_code ec;
  auto v = json::parse(*text, ec);
  std::vector<std::string> out;
  if (!ec && v.is_array())
    for (const auto& t : v.as_array())
      if (t.is_string()) out.emplace_back(t.as_string());
  return out;
}

}  // namespace

std::vector<store::Migration> Agents::migrations() {
  return {{"agents", 1, R"sql(
CREATE TABLE agents (
  project_id TEXT NOT NULL,
  id TEXT NOT NULL,
  name TEXT NOT NULL,
  scopes INTEGER,
  allowed_tools TEXT,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (project_id, id)
) WITHOUT ROWID;
)sql"}};
}

Status Agents::load() {
  std::promise<Status> p;
  auto f = p.get_future();
  store_.read([this, &p](store::Database& db) {
    auto& q = db.stmt("SELECT project_id, id, name, scopes, allowed_tools, created_at FROM agents");
    std::unordered_map<std::string, AgentInfo> m;
    while (q.step()) {
      AgentInfo a{q.text(0), q.text(1), q.text(2), std::nullopt, tools_from(q.text_opt(4)), q.int64(5)};
      if (!q.is_null(3)) a.scopes = static_cast<uint32_t>(q.int64(3));
      m[key(a.project_id, a.id)] = std::move(a);
    }
    Status st = q.status();
    q.reset();
    if (st.ok()) {
      std::lock_guard lk(mu_);
      by_key_ = std::move(m);
    }
    p.set_value(st);
  });
  return f.get();
}

boost::asio::awaitable<Result<AgentInfo>> Agents::put(AgentInfo a) {
  a.created_at = clock_.now_seconds();
  std::function<Status(store::Database&)> fn = [a](store::Database& db) {
    auto& st = db.stmt("INSERT OR REPLACE INTO agents(project_id, id, name, scopes, allowed_tools, created_at) VALUES (?1,?2,?3,?4,?5,?6)");
    st.bind(1, a.project_id).bind(2, a.id).bind(3, a.name);
    if (a.scopes) st.bind(4, static_cast<int64_t>(*a.scopes)); else st.bind_null(4);
    if (a.allowed_tools) st.bind(5, tools_text(a.allowed_tools)); else st.bind_null(5);
    return st.bind(6, a.created_at).run();
  };
  fn = store::announced("cfg:agents", std::move(fn));
  Status st = co_await store::write_async(store_, std::move(fn));
  if (!st.ok()) co_return st;
  std::lock_guard lk(mu_);
  by_key_[key(a.project_id, a.id)] = a;
  co_return a;
}

boost::asio::awaitable<Status> Agents::remove(std::string project, std::string id) {
  if (!find(project, id)) co_return Status(Code::not_found, "Agent with id '" + id + "' not found.");
  std::function<Status(store::Database&)> fn = [project, id](store::Database& db) {
    auto& st = db.stmt("DELETE FROM agents WHERE project_id=?1 AND id=?2");
    return st.bind(1, project).bind(2, id).run();
  };
  fn = store::announced("cfg:agents", std::move(fn));
  Status st = co_await store::write_async(store_, std::move(fn));
  if (!st.ok()) co_return st;
  std::lock_guard lk(mu_);
  by_key_.erase(key(project, id));
  co_return Status();
}

std::vector<AgentInfo> Agents::list(const std::string& project) const {
  std::lock_guard lk(mu_);
  std::vector<AgentInfo> out;
  for (const auto& [k, a] : by_key_)
    if (a.project_id == project) out.push_back(a);
  std::sort(out.begin(), out.end(), [](const AgentInfo& x, const AgentInfo& y) { return x.id < y.id; });
  return out;
}

std::optional<AgentInfo> Agents::find(const std::string& project, const std::string& id) const {
  std::lock_guard lk(mu_);
  auto it = by_key_.find(key(project, id));
  if (it == by_key_.end()) return std::nullopt;
  return it->second;
}

}  // namespace cn::identity
