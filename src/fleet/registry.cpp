// AgentRegistry (see registry.hpp): versions and aliases in the store and in memory.
#include "fleet/registry.hpp"

#include <boost/json.hpp>

#include <future>

#include "base/ids.hpp"
#include "store/async.hpp"

namespace cn::fleet {

namespace json = boost::json;

namespace {

Status unknown_agent(const std::string& name) {
  return Status(Code::not_found, "No agent named '" + name + "' exists in this project.", "model", "agent_not_found");
}

}  // namespace

std::vector<store::Migration> AgentRegistry::migrations() {
  return {{"fleet", 1, R"sql(
CREATE TABLE agent_versions (
  project_id TEXT NOT NULL,
  name TEXT NOT NULL,
  version INTEGER NOT NULL,
  document TEXT NOT NULL,
  source TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (project_id, name, version)
) WITHOUT ROWID;
CREATE TABLE agent_aliases (
  project_id TEXT NOT NULL,
  name TEXT NOT NULL,
  alias TEXT NOT NULL,
  version INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (project_id, name, alias)
) WITHOUT ROWID;
)sql"}};
}

Status AgentRegistry::load() {
  std::promise<Status> done;
  auto f = done.get_future();
  store_.read([this, &done](store::Database& db) {
    std::map<std::pair<std::string, std::string>, Entry> m;
    auto& q = db.stmt("SELECT project_id, name, version, document, source, created_at FROM agent_versions");
    while (q.step()) {
      boost::system::error_code ec;
      auto doc = json::parse(q.text(3), ec);
      if (ec || !doc.is_object()) continue;
      auto def = parse_definition(doc.as_object());
      if (!def.ok()) continue;
      auto v = std::make_shared<AgentVersion>(
          AgentVersion{q.text(0), q.text(1), q.int64(2), std::move(*def), q.text(3), q.text(4), q.int64(5)});
      auto& e = m[{v->project_id, v->name}];
      e.reserved = std::max(e.reserved, v->version);
      e.versions[v->version] = std::move(v);
    }
    Status st = q.status();
    q.reset();
    auto& a = db.stmt("SELECT project_id, name, alias, version FROM agent_aliases");
    while (st.ok() && a.step())
      if (auto it = m.find({a.text(0), a.text(1)}); it != m.end()) it->second.aliases[a.text(2)] = a.int64(3);
    if (st.ok()) st = a.status();
    a.reset();
    if (st.ok()) {
      std::lock_guard lk(mu_);
      agents_ = std::move(m);
    }
    done.set_value(st);
  });
  return f.get();
}

Result<std::shared_ptr<AgentVersion>> AgentRegistry::prepare(std::string project, const json::object& doc, std::string source,
                                                              std::shared_ptr<const AgentVersion>* same) {
  auto def = parse_definition(doc);
  if (!def.ok()) return def.status();
  auto v = std::make_shared<AgentVersion>();
  v->project_id = std::move(project);
  v->name = def->name;
  v->document = json::serialize(definition_json(*def));
  v->def = std::move(*def);
  v->source = std::move(source);
  v->created_at = clock_.now_seconds();
  std::lock_guard lk(mu_);
  auto& e = agents_[{v->project_id, v->name}];
  if (!e.versions.empty() && e.versions.rbegin()->second->document == v->document) {
    *same = e.versions.rbegin()->second;
    return std::shared_ptr<AgentVersion>();
  }
  v->version = ++e.reserved;
  return v;
}

store::Executor::WriteFn AgentRegistry::insert_fn(std::shared_ptr<const AgentVersion> row) {
  return [row](store::Database& db) {
    return db.stmt("INSERT INTO agent_versions(project_id, name, version, document, source, created_at) VALUES (?1,?2,?3,?4,?5,?6)")
        .bind(1, row->project_id).bind(2, row->name).bind(3, row->version).bind(4, row->document).bind(5, row->source)
        .bind(6, row->created_at).run();
  };
}

void AgentRegistry::install(std::shared_ptr<const AgentVersion> row) {
  std::lock_guard lk(mu_);
  agents_[{row->project_id, row->name}].versions[row->version] = std::move(row);
}

boost::asio::awaitable<Result<std::shared_ptr<const AgentVersion>>> AgentRegistry::put(std::string project, json::object doc,
                                                                                       std::string source, bool* created) {
  if (created) *created = false;
  std::shared_ptr<const AgentVersion> same;
  auto v = prepare(std::move(project), doc, std::move(source), &same);
  if (!v.ok()) co_return v.status();
  if (!*v) co_return same;
  std::shared_ptr<const AgentVersion> row = *v;
  store::Executor::WriteFn fn = insert_fn(row);
  fn = store::announced("cfg:agent_defs", std::move(fn));
  Status st = co_await store::write_async(store_, std::move(fn));
  if (!st.ok()) co_return st;
  install(row);
  if (created) *created = true;
  co_return row;
}

namespace {

Status write_blocking(store::Executor& store, store::Executor::WriteFn fn) {
  std::promise<Status> done;
  auto f = done.get_future();
  fn = store::announced("cfg:agent_defs", std::move(fn));
  store.submit(std::move(fn), [&done](Status st) { done.set_value(std::move(st)); });
  return f.get();
}

}  // namespace

Result<std::shared_ptr<const AgentVersion>> AgentRegistry::put_blocking(std::string project, json::object doc, std::string source,
                                                                        bool* created) {
  if (created) *created = false;
  std::shared_ptr<const AgentVersion> same;
  auto v = prepare(std::move(project), doc, std::move(source), &same);
  if (!v.ok()) return v.status();
  if (!*v) return same;
  std::shared_ptr<const AgentVersion> row = *v;
  if (Status st = write_blocking(store_, insert_fn(row)); !st.ok()) return st;
  install(row);
  if (created) *created = true;
  return row;
}

Status AgentRegistry::check_alias(const std::string& project, const std::string& name, const std::string& alias, int64_t version) const {
  if (!valid_id_syntax(alias, 64) || alias == "latest" || (alias.size() > 1 && alias[0] == 'v' && std::isdigit(static_cast<unsigned char>(alias[1]))))
    return invalid_param("alias", "Invalid alias: expected 1 to 64 letters, digits, '_' or '-', not 'latest' or 'v<number>'.");
  std::lock_guard lk(mu_);
  auto it = agents_.find({project, name});
  if (it == agents_.end() || it->second.versions.empty()) return unknown_agent(name);
  if (!it->second.versions.count(version))
    return Status(Code::not_found, "Agent '" + name + "' has no version " + std::to_string(version) + ".", "version");
  return {};
}

store::Executor::WriteFn AgentRegistry::alias_fn(std::string project, std::string name, std::string alias, int64_t version, int64_t now) {
  return [project, name, alias, version, now](store::Database& db) {
    return db.stmt("INSERT OR REPLACE INTO agent_aliases(project_id, name, alias, version, updated_at) VALUES (?1,?2,?3,?4,?5)")
        .bind(1, project).bind(2, name).bind(3, alias).bind(4, version).bind(5, now).run();
  };
}

boost::asio::awaitable<Status> AgentRegistry::set_alias(std::string project, std::string name, std::string alias, int64_t version) {
  if (Status st = check_alias(project, name, alias, version); !st.ok()) co_return st;
  store::Executor::WriteFn fn = alias_fn(project, name, alias, version, clock_.now_seconds());
  fn = store::announced("cfg:agent_defs", std::move(fn));
  Status st = co_await store::write_async(store_, std::move(fn));
  if (!st.ok()) co_return st;
  std::lock_guard lk(mu_);
  if (auto it = agents_.find({project, name}); it != agents_.end()) it->second.aliases[alias] = version;
  co_return Status();
}

Status AgentRegistry::set_alias_blocking(std::string project, std::string name, std::string alias, int64_t version) {
  if (Status st = check_alias(project, name, alias, version); !st.ok()) return st;
  if (Status st = write_blocking(store_, alias_fn(project, name, alias, version, clock_.now_seconds())); !st.ok()) return st;
  std::lock_guard lk(mu_);
  if (auto it = agents_.find({project, name}); it != agents_.end()) it->second.aliases[alias] = version;
  return {};
}

boost::asio::awaitable<Status> AgentRegistry::remove_alias(std::string project, std::string name, std::string alias) {
  {
    std::lock_guard lk(mu_);
    auto it = agents_.find({project, name});
    if (it == agents_.end() || !it->second.aliases.count(alias))
      co_return Status(Code::not_found, "Agent '" + name + "' has no alias '" + alias + "'.", "alias");
  }
  std::function<Status(store::Database&)> fn = [project, name, alias](store::Database& db) {
    return db.stmt("DELETE FROM agent_aliases WHERE project_id=?1 AND name=?2 AND alias=?3").bind(1, project).bind(2, name).bind(3, alias).run();
  };
  fn = store::announced("cfg:agent_defs", std::move(fn));
  Status st = co_await store::write_async(store_, std::move(fn));
  if (!st.ok()) co_return st;
  std::lock_guard lk(mu_);
  if (auto it = agents_.find({project, name}); it != agents_.end()) it->second.aliases.erase(alias);
  co_return Status();
}

boost::asio::awaitable<Status> AgentRegistry::remove(std::string project, std::string name) {
  {
    std::lock_guard lk(mu_);
    auto it = agents_.find({project, name});
    if (it == agents_.end() || it->second.versions.empty()) co_return unknown_agent(name);
  }
  std::function<Status(store::Database&)> fn = [project, name](store::Database& db) {
    if (Status s = db.stmt("DELETE FROM agent_aliases WHERE project_id=?1 AND name=?2").bind(1, project).bind(2, name).run(); !s.ok()) return s;
    return db.stmt("DELETE FROM agent_versions WHERE project_id=?1 AND name=?2").bind(1, project).bind(2, name).run();
  };
  fn = store::announced("cfg:agent_defs", std::move(fn));
  Status st = co_await store::write_async(store_, std::move(fn));
  if (!st.ok()) co_return st;
  std::lock_guard lk(mu_);
  agents_.erase({project, name});
  co_return Status();
}

std::vector<AgentSummary> AgentRegistry::list(const std::string& project) const {
  std::lock_guard lk(mu_);
  std::vector<AgentSummary> out;
  for (auto it = agents_.lower_bound({project, ""}); it != agents_.end() && it->first.first == project; ++it)
    if (!it->second.versions.empty())
      out.push_back(AgentSummary{it->second.versions.rbegin()->second, it->second.aliases, static_cast<int64_t>(it->second.versions.size())});
  return out;
}

std::optional<AgentSummary> AgentRegistry::summary(const std::string& project, const std::string& name) const {
  std::lock_guard lk(mu_);
  auto it = agents_.find({project, name});
  if (it == agents_.end() || it->second.versions.empty()) return std::nullopt;
  return AgentSummary{it->second.versions.rbegin()->second, it->second.aliases, static_cast<int64_t>(it->second.versions.size())};
}

std::vector<std::shared_ptr<const AgentVersion>> AgentRegistry::versions(const std::string& project, const std::string& name) const {
  std::lock_guard lk(mu_);
  std::vector<std::shared_ptr<const AgentVersion>> out;
  if (auto it = agents_.find({project, name}); it != agents_.end())
    for (const auto& [n, v] : it->second.versions) out.push_back(v);
  return out;
}

Result<std::shared_ptr<const AgentVersion>> AgentRegistry::resolve(const std::string& project, std::string_view ref) const {
  std::string name(ref.substr(0, ref.find('@')));
  std::string tag = ref.find('@') == std::string_view::npos ? "latest" : std::string(ref.substr(ref.find('@') + 1));
  std::lock_guard lk(mu_);
  auto it = agents_.find({project, name});
  if (it == agents_.end() || it->second.versions.empty()) return unknown_agent(name);
  const Entry& e = it->second;
  if (tag == "latest") return e.versions.rbegin()->second;
  if (tag.size() > 1 && tag[0] == 'v' && std::all_of(tag.begin() + 1, tag.end(), ::isdigit)) {
    int64_t n = std::strtoll(tag.c_str() + 1, nullptr, 10);
    if (auto v = e.versions.find(n); v != e.versions.end()) return v->second;
    return Status(Code::not_found, "Agent '" + name + "' has no version " + tag.substr(1) + ".", "model", "agent_not_found");
  }
  auto a = e.aliases.find(tag);
  if (a == e.aliases.end()) return Status(Code::not_found, "Agent '" + name + "' has no alias '" + tag + "'.", "model", "agent_not_found");
  auto v = e.versions.find(a->second);
  if (v == e.versions.end()) return Status(Code::not_found, "Agent '" + name + "' alias '" + tag + "' names a missing version.", "model");
  return v->second;
}

json::object agent_json(const AgentVersion& v, const std::map<std::string, int64_t>& aliases) {
  json::object a;
  for (const auto& [k, n] : aliases) a[k] = n;
  json::object o{{"object", "agent"}, {"name", v.name}, {"version", v.version}, {"created_at", v.created_at},
                 {"source", v.source}, {"aliases", std::move(a)}};
  boost::system::error_code ec;
  auto doc = json::parse(v.document, ec);
  o["definition"] = ec ? json::value(json::object{}) : std::move(doc);
  return o;
}

}  // namespace cn::fleet
