// Tenants and the projects they contain (tables created by the identity migrations in keys.cpp).
#include <future>

#include "base/ids.hpp"
#include "identity/keys.hpp"
#include "store/async.hpp"

namespace cn::identity {

using store::read_async;
using store::write_async;

namespace {

Status check_name(const std::string& name) {
  if (name.empty() || name.size() > 256)
    return invalid_param("name", "Invalid 'name': expected 1 to 256 characters.");
  return {};
}

}  // namespace

awaitable<Result<TenantInfo>> Tenants::create_tenant(std::string name) {
  if (Status s = check_name(name); !s.ok()) co_return s;
  TenantInfo t{new_id("tenant"), name, clock_.now_seconds()};
  std::function<Status(store::Database&)> fn = [t](store::Database& db) {
    auto& st = db.stmt("INSERT INTO tenants(id, name, created_at) VALUES (?1,?2,?3)");
    return st.bind(1, t.id).bind(2, t.name).bind(3, t.created_at).run();
  };
  Status st = co_await write_async(store_, std::move(fn));
  if (!st.ok()) co_return st;
  co_return t;
}

awaitable<Result<std::vector<TenantInfo>>> Tenants::tenants() {
  using R = Result<std::vector<TenantInfo>>;
  std::function<R(store::Database&)> fn = [](store::Database& db) -> R {
    auto& q = db.stmt("SELECT id, name, created_at FROM tenants ORDER BY created_at, id");
    std::vector<TenantInfo> out;
    while (q.step()) out.push_back({q.text(0), q.text(1), q.int64(2)});
    Status st = q.status();
    q.reset();
    if (!st.ok()) return st;
    return out;
  };
  co_return co_await read_async<R>(store_, std::move(fn));
}

awaitable<Result<ProjectInfo>> Tenants::create_project(std::string tenant_id, std::string name, std::string id) {
  if (Status s = check_name(name); !s.ok()) co_return s;
  if (id.empty()) id = new_id("proj");
  else if (!valid_id_syntax(id))
    co_return invalid_param("id", "Invalid 'id': expected letters, digits, '_' or '-' (at most 128).");
  ProjectInfo p{id, tenant_id, name, clock_.now_seconds()};
  std::function<Status(store::Database&)> fn = [p](store::Database& db) {
    auto& t = db.stmt("SELECT 1 FROM tenants WHERE id=?1");
    t.bind(1, p.tenant_id);
    bool found = t.step();
    Status qs = t.status();
    t.reset();
    if (!qs.ok()) return qs;
    if (!found) return Status(Code::not_found, "Tenant with id '" + p.tenant_id + "' not found.", "tenant_id");
    auto& e = db.stmt("SELECT 1 FROM projects WHERE id=?1");
    e.bind(1, p.id);
    bool exists = e.step();
    e.reset();
    if (exists) return Status(Code::already_exists, "Project with id '" + p.id + "' already exists.", "id");
    auto& st = db.stmt("INSERT INTO projects(id, tenant_id, name, created_at) VALUES (?1,?2,?3,?4)");
    return st.bind(1, p.id).bind(2, p.tenant_id).bind(3, p.name).bind(4, p.created_at).run();
  };
  Status st = co_await write_async(store_, std::move(fn));
  if (!st.ok()) co_return st;
  co_return p;
}

awaitable<Result<std::vector<ProjectInfo>>> Tenants::projects(std::string tenant_id) {
  using R = Result<std::vector<ProjectInfo>>;
  std::function<R(store::Database&)> fn = [tenant_id](store::Database& db) -> R {
    auto& q = tenant_id.empty()
                  ? db.stmt("SELECT id, tenant_id, name, created_at FROM projects ORDER BY created_at, id")
                  : db.stmt("SELECT id, tenant_id, name, created_at FROM projects WHERE tenant_id=?1 ORDER BY created_at, id");
    if (!tenant_id.empty()) q.bind(1, tenant_id);
    std::vector<ProjectInfo> out;
    while (q.step()) out.push_back({q.text(0), q.text(1), q.text(2), q.int64(3)});
    Status st = q.status();
    q.reset();
    if (!st.ok()) return st;
    return out;
  };
  co_return co_await read_async<R>(store_, std::move(fn));
}

awaitable<Result<ProjectInfo>> Tenants::project(std::string id) {
  using R = Result<ProjectInfo>;
  std::function<R(store::Database&)> fn = [id](store::Database& db) -> R {
    auto& q = db.stmt("SELECT id, tenant_id, name, created_at FROM projects WHERE id=?1");
    q.bind(1, id);
    if (!q.step()) {
      Status st = q.status();
      q.reset();
      return st.ok() ? Status(Code::not_found, "Project with id '" + id + "' not found.") : st;
    }
    ProjectInfo p{q.text(0), q.text(1), q.text(2), q.int64(3)};
    q.reset();
    return p;
  };
  co_return co_await read_async<R>(store_, std::move(fn));
}

Status Tenants::ensure_project_blocking(const std::string& id) {
  std::promise<Status> p;
  auto f = p.get_future();
  int64_t now = clock_.now_seconds();
  store_.submit(
      [id, now](store::Database& db) {
        auto& st = db.stmt("INSERT OR IGNORE INTO projects(id, tenant_id, name, created_at) VALUES (?1,?2,?1,?3)");
        return st.bind(1, id).bind(2, kDefaultTenant).bind(3, now).run();
      },
      [&p](Status s) { p.set_value(std::move(s)); });
  return f.get();
}

}  // namespace cn::identity
