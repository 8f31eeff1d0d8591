// API keys: keyed hashes, the in-memory table that authenticates requests, the bootstrap key, and
// the lifecycle (create, list, rotate, revoke) over the api_keys table.
#include "identity/keys.hpp"

#include <sodium.h>

#include <future>

#include "base/ids.hpp"
#include "store/async.hpp"

namespace cn::identity {

using store::read_async;
using store::write_async;

namespace {

constexpr const char* kKeyCols =
    "id, tenant_id, project_id, name, prefix, last4, scopes, act_as_user, global_admin, created_at,"
    " expires_at, revoked_at, rotated_from, hash, hash_alg";

std::optional<int64_t> int_opt(store::Statement& q, int col) {
  if (q.is_null(col)) return std::nullopt;
  return q.int64(col);
}

KeyInfo info_from(store::Statement& q) {
  KeyInfo k;
  k.id = q.text(0);
  k.tenant_id = q.text(1);
  k.project_id = q.text(2);
  k.name = q.text(3);
  k.prefix = q.text(4);
  k.last4 = q.text(5);
  k.scopes = static_cast<uint32_t>(q.int64(6));
  k.act_as_user = q.int64(7) != 0;
  k.global_admin = q.int64(8) != 0;
  k.created_at = q.int64(9);
  k.expires_at = int_opt(q, 10);
  k.revoked_at = int_opt(q, 11);
  k.rotated_from = q.text_opt(12);
  return k;
}

Status not_found_key(const std::string& id) {
  return Status(Code::not_found, "API key with id '" + id + "' not found.");
}

// Runs `fn` on the writer and blocks until its commit; for start-up and the CLI only.
Status write_blocking(store::Executor& ex, std::function<Status(store::Database&)> fn) {
  std::promise<Status> p;
  auto f = p.get_future();
  ex.submit(std::move(fn), [&p](Status s) { p.set_value(std::move(s)); });
  return f.get();
}

Status insert_row(store::Database& db, const KeyInfo& k, const std::string& hash, const char* alg) {
  auto& st = db.stmt(
      "INSERT INTO api_keys(id, tenant_id, project_id, name, prefix, last4, scopes, act_as_user, global_admin,"
      " created_at, expires_at, rotated_from, hash, hash_alg) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14)");
  st.bind(1, k.id).bind(2, k.tenant_id).bind(3, k.project_id).bind(4, k.name).bind(5, k.prefix).bind(6, k.last4);
  st.bind(7, static_cast<int64_t>(k.scopes)).bind(8, k.act_as_user ? 1 : 0).bind(9, k.global_admin ? 1 : 0);
  st.bind(10, k.created_at);
  if (k.expires_at) st.bind(11, *k.expires_at); else st.bind_null(11);
  st.bind_opt(12, k.rotated_from).bind(13, hash).bind(14, alg);
  return st.run();
}

}  // namespace

std::vector<store::Migration> Keys::migrations() {
  return {{"identity", 1, R"sql(
CREATE TABLE api_keys (
  id TEXT PRIMARY KEY,
  project_id TEXT NOT NULL,
  name TEXT NOT NULL,
  hash TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL DEFAULT (unixepoch()),
  revoked INTEGER NOT NULL DEFAULT 0
);
)sql"},
          // Tenants and projects become objects; keys gain scopes, act_as_user, expiry, rotation
          // and keyed hashes. Keys made before keep every right they had.
          {"identity", 2, R"sql(
CREATE TABLE tenants (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE TABLE projects (
  id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL REFERENCES tenants(id),
  name TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX projects_tenant ON projects(tenant_id);
INSERT INTO tenants(id, name, created_at) VALUES ('tenant_default', 'Default', unixepoch());
INSERT INTO projects(id, tenant_id, name, created_at) VALUES ('proj_default', 'tenant_default', 'Default', unixepoch());
INSERT OR IGNORE INTO projects(id, tenant_id, name, created_at)
  SELECT DISTINCT project_id, 'tenant_default', project_id, unixepoch() FROM api_keys;
ALTER TABLE api_keys ADD COLUMN tenant_id TEXT NOT NULL DEFAULT 'tenant_default';
ALTER TABLE api_keys ADD COLUMN prefix TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN last4 TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN scopes INTEGER NOT NULL DEFAULT 63;
ALTER TABLE api_keys ADD COLUMN act_as_user INTEGER NOT NULL DEFAULT 1;
ALTER TABLE api_keys ADD COLUMN global_admin INTEGER NOT NULL DEFAULT 0;
ALTER TABLE api_keys ADD COLUMN expires_at INTEGER;
ALTER TABLE api_keys ADD COLUMN revoked_at INTEGER;
ALTER TABLE api_keys ADD COLUMN rotated_from TEXT;
ALTER TABLE api_keys ADD COLUMN hash_alg TEXT NOT NULL DEFAULT 'sha256';
UPDATE api_keys SET revoked_at = unixepoch() WHERE revoked != 0;
UPDATE api_keys SET global_admin = 1 WHERE name LIKE 'bootstrap%';
CREATE INDEX api_keys_project ON api_keys(project_id);
)sql"}};
}

Keys::Keys(store::Executor& store, std::string hash_secret, Clock& clock)
    : store_(store), secret_(std::move(hash_secret)), clock_(clock) {}

std::string Keys::keyed_hash(std::string_view token) const {
  unsigned char out[32];
  crypto_generichash(out, sizeof out, reinterpret_cast<const unsigned char*>(token.data()), token.size(),
                     reinterpret_cast<const unsigned char*>(secret_.data()), secret_.size());
  static constexpr char hex[] = "0123456789abcdef";
  std::string s;
  s.reserve(64);
  for (unsigned char c : out) {
    s += hex[c >> 4];
    s += hex[c & 15];
  }
  return s;
}

Status Keys::apply_rows(store::Database& db) {
  auto& q = db.stmt(std::string("SELECT ") + kKeyCols + " FROM api_keys WHERE revoked_at IS NULL");
  std::unordered_map<std::string, Live> keyed, legacy;
  while (q.step()) {
    KeyInfo k = info_from(q);
    std::string hash = q.text(13);
    (q.text(14) == "sha256" ? legacy : keyed)[hash] = Live{std::move(k)};
  }
  Status st = q.status();
  q.reset();
  if (!st.ok()) return st;
  std::lock_guard lk(mu_);
  by_hash_ = std::move(keyed);
  by_sha256_ = std::move(legacy);
  return {};
}

Status Keys::load() {
  std::promise<Status> p;
  auto f = p.get_future();
  store_.read([this, &p](store::Database& db) { p.set_value(apply_rows(db)); });
  return f.get();
}

awaitable<void> Keys::refresh() {
  {
    std::lock_guard lk(mu_);
    int64_t now = clock_.now_millis();
    if (now - last_refresh_ms_ < 1000) co_return;
    last_refresh_ms_ = now;
  }
  std::function<Status(store::Database&)> fn = [this](store::Database& db) { return apply_rows(db); };
  (void)co_await read_async<Status>(store_, std::move(fn));
}

awaitable<void> Keys::reload() {
  std::function<Status(store::Database&)> fn = [this](store::Database& db) { return apply_rows(db); };
  (void)co_await read_async<Status>(store_, std::move(fn));
}

void Keys::remember(const KeyInfo& info, const std::string& hash, bool legacy) {
  std::lock_guard lk(mu_);
  (legacy ? by_sha256_ : by_hash_)[hash] = Live{info};
}

Result<CreatedKey> Keys::make(const NewKey& n) {
  if (n.name.size() > 256) return invalid_param("name", "Invalid 'name': expected at most 256 characters.");
  CreatedKey c;
  c.plaintext = "ck_" + random_token(48);
  KeyInfo& k = c.info;
  k.id = new_id("key");
  k.tenant_id = kDefaultTenant;  // set from the project by the caller's insert
  k.project_id = n.project_id;
  k.name = n.name;
  k.prefix = c.plaintext.substr(0, 7);
  k.last4 = c.plaintext.substr(c.plaintext.size() - 4);
  k.scopes = n.scopes;
  k.act_as_user = n.act_as_user;
  k.global_admin = n.global_admin;
  k.created_at = clock_.now_seconds();
  k.expires_at = n.expires_at;
  k.rotated_from = n.rotated_from;
  return c;
}

namespace {

// Inserts a new key row after resolving its project's tenant (the project must exist).
Status insert_in_project(store::Database& db, KeyInfo& k, const std::string& hash) {
  auto& p = db.stmt("SELECT tenant_id FROM projects WHERE id=?1");
  p.bind(1, k.project_id);
  bool found = p.step();
  if (found) k.tenant_id = p.text(0);
  Status st = p.status();
  p.reset();
  if (!st.ok()) return st;
  if (!found) return Status(Code::not_found, "Project with id '" + k.project_id + "' not found.", "project_id");
  return insert_row(db, k, hash, "blake2b");
}

}  // namespace

Result<CreatedKey> Keys::create_blocking(const NewKey& n) {
  auto c = make(n);
  if (!c.ok()) return c.status();
  std::string hash = keyed_hash(c->plaintext);
  auto info = std::make_shared<KeyInfo>(c->info);
  Status st = write_blocking(store_, [info, hash](store::Database& db) { return insert_in_project(db, *info, hash); });
  if (!st.ok()) return st;
  c->info = *info;
  remember(c->info, hash, false);
  return c;
}

awaitable<Result<CreatedKey>> Keys::create(NewKey n) {
  auto c = make(n);
  if (!c.ok()) co_return c.status();
  std::string hash = keyed_hash(c->plaintext);
  auto info = std::make_shared<KeyInfo>(c->info);
  std::function<Status(store::Database&)> fn = [info, hash](store::Database& db) {
    return insert_in_project(db, *info, hash);
  };
  Status st = co_await write_async(store_, std::move(fn));
  if (!st.ok()) co_return st;
  c->info = *info;
  remember(c->info, hash, false);
  co_return c;
}

Result<std::optional<std::string>> Keys::bootstrap(const std::optional<std::string>& env_key) {
  if (env_key) {
    if (env_key->size() < 8) return Status(Code::invalid_argument, "CONTINUUM_API_KEY must be at least 8 characters");
    if (authenticate(*env_key)) return std::optional<std::string>();
    KeyInfo k;
    k.id = new_id("key");
    k.tenant_id = kDefaultTenant;
    k.project_id = kDefaultProject;
    k.name = "bootstrap (environment)";
    k.prefix = env_key->substr(0, std::min<size_t>(7, env_key->size()));
    k.last4 = env_key->substr(env_key->size() - 4);
    k.scopes = kAllScopes;
    k.act_as_user = true;
    k.global_admin = true;
    k.created_at = clock_.now_seconds();
    std::string hash = keyed_hash(*env_key);
    Status st = write_blocking(store_, [k, hash](store::Database& db) { return insert_row(db, k, hash, "blake2b"); });
    if (!st.ok()) return st;
    remember(k, hash, false);
    return std::optional<std::string>();
  }
  if (size() > 0) return std::optional<std::string>();
  NewKey n;
  n.name = "bootstrap (generated)";
  n.scopes = kAllScopes;
  n.act_as_user = true;
  n.global_admin = true;
  auto c = create_blocking(n);
  if (!c.ok()) return c.status();
  return std::optional<std::string>(c->plaintext);
}

std::optional<Principal> Keys::authenticate(std::string_view token) const {
  if (token.empty() || token.size() > 512) return std::nullopt;
  std::string h = keyed_hash(token);
  std::lock_guard lk(mu_);
  const Live* live = nullptr;
  if (auto it = by_hash_.find(h); it != by_hash_.end()) live = &it->second;
  if (!live && !by_sha256_.empty()) {
    if (auto it = by_sha256_.find(sha256_hex(token)); it != by_sha256_.end()) live = &it->second;
  }
  if (!live) return std::nullopt;
  const KeyInfo& k = live->info;
  if (k.expires_at && clock_.now_seconds() >= *k.expires_at) return std::nullopt;
  Principal p;
  p.kind = Principal::Kind::key;
  p.tenant_id = k.tenant_id;
  p.project_id = k.project_id;
  p.credential_id = k.id;
  p.scopes = k.scopes;
  p.act_as_user = k.act_as_user;
  p.global_admin = k.global_admin;
  return p;
}

size_t Keys::size() const {
  std::lock_guard lk(mu_);
  return by_hash_.size() + by_sha256_.size();
}

awaitable<Result<std::vector<KeyInfo>>> Keys::list(std::string project) {
  using R = Result<std::vector<KeyInfo>>;
  std::function<R(store::Database&)> fn = [project](store::Database& db) -> R {
    auto& q = project.empty()
                  ? db.stmt(std::string("SELECT ") + kKeyCols + " FROM api_keys ORDER BY created_at DESC, id DESC")
                  : db.stmt(std::string("SELECT ") + kKeyCols +
                            " FROM api_keys WHERE project_id=?1 ORDER BY created_at DESC, id DESC");
    if (!project.empty()) q.bind(1, project);
    std::vector<KeyInfo> out;
    while (q.step()) out.push_back(info_from(q));
    Status st = q.status();
    q.reset();
    if (!st.ok()) return st;
    return out;
  };
  co_return co_await read_async<R>(store_, std::move(fn));
}

awaitable<Result<KeyInfo>> Keys::get(std::string project, std::string id) {
  using R = Result<KeyInfo>;
  std::function<R(store::Database&)> fn = [project, id](store::Database& db) -> R {
    auto& q = db.stmt(std::string("SELECT ") + kKeyCols + " FROM api_keys WHERE id=?1");
    q.bind(1, id);
    if (!q.step()) {
      Status st = q.status();
      q.reset();
      return st.ok() ? not_found_key(id) : st;
    }
    KeyInfo k = info_from(q);
    q.reset();
    if (!project.empty() && k.project_id != project) return not_found_key(id);
    return k;
  };
  co_return co_await read_async<R>(store_, std::move(fn));
}

awaitable<Result<KeyInfo>> Keys::revoke(std::string project, std::string id) {
  auto k = co_await get(project, id);
  if (!k.ok()) co_return k;
  if (k->revoked_at) co_return k;
  int64_t now = clock_.now_seconds();
  std::function<Status(store::Database&)> fn = [id, now](store::Database& db) {
    auto& st = db.stmt("UPDATE api_keys SET revoked_at=?2, revoked=1 WHERE id=?1 AND revoked_at IS NULL");
    if (Status s = st.bind(1, id).bind(2, now).run(); !s.ok()) return s;
    return db.notify("keys:");  // other nodes read the table again at once
  };
  Status st = co_await write_async(store_, std::move(fn));
  if (!st.ok()) co_return st;
  {
    std::lock_guard lk(mu_);
    std::erase_if(by_hash_, [&](const auto& e) { return e.second.info.id == id; });
    std::erase_if(by_sha256_, [&](const auto& e) { return e.second.info.id == id; });
  }
  k->revoked_at = now;
  co_return k;
}

awaitable<Result<CreatedKey>> Keys::rotate(std::string project, std::string id, int64_t overlap_seconds) {
  auto old = co_await get(project, id);
  if (!old.ok()) co_return old.status();
  if (old->revoked_at) co_return Status(Code::failed_precondition, "API key '" + id + "' is revoked.", "", "key_revoked");
  NewKey n;
  n.project_id = old->project_id;
  n.name = old->name;
  n.scopes = old->scopes;
  n.act_as_user = old->act_as_user;
  n.global_admin = old->global_admin;
  n.expires_at = old->expires_at;
  n.rotated_from = id;
  auto c = make(n);
  if (!c.ok()) co_return c.status();
  std::string hash = keyed_hash(c->plaintext);
  int64_t old_expiry = clock_.now_seconds() + overlap_seconds;
  if (old->expires_at) old_expiry = std::min(old_expiry, *old->expires_at);
  auto info = std::make_shared<KeyInfo>(c->info);
  std::function<Status(store::Database&)> fn = [info, hash, id, old_expiry](store::Database& db) {
    if (Status s = insert_in_project(db, *info, hash); !s.ok()) return s;
    auto& st = db.stmt("UPDATE api_keys SET expires_at=?2 WHERE id=?1");
    if (Status s = st.bind(1, id).bind(2, old_expiry).run(); !s.ok()) return s;
    return db.notify("keys:");
  };
  Status st = co_await write_async(store_, std::move(fn));
  if (!st.ok()) co_return st;
  c->info = *info;
  remember(c->info, hash, false);
  {
    std::lock_guard lk(mu_);
    for (auto* m : {&by_hash_, &by_sha256_})
      for (auto& [h, live] : *m)
        if (live.info.id == id) live.info.expires_at = old_expiry;
  }
  co_return c;
}

}  // namespace cn::identity
