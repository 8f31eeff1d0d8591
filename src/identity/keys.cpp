// API keys: stored as SHA-256 hashes, loaded into memory, the bootstrap key, key creation.
#include "identity/keys.hpp"

#include <future>

#include "base/ids.hpp"
#include "base/log.hpp"

namespace cn::identity {

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
)sql"}};
}

Status Keys::load() {
  std::promise<Status> p;
  auto f = p.get_future();
  store_.read([this, &p](store::Database& db) {
    auto& q = db.stmt("SELECT id, project_id, hash FROM api_keys WHERE revoked=0");
    std::unordered_map<std::string, Principal> m;
    while (q.step()) m[q.text(2)] = Principal{q.text(1), q.text(0)};
    Status st = q.status();
    q.reset();
    if (st.ok()) {
      std::lock_guard lk(mu_);
      by_hash_ = std::move(m);
    }
    p.set_value(st);
  });
  return f.get();
}

Status Keys::insert(const std::string& id, const std::string& project, const std::string& name,
                    const std::string& hash) {
  std::promise<Status> p;
  auto f = p.get_future();
  store_.submit(
      [=](store::Database& db) {
        auto& st = db.stmt("INSERT OR IGNORE INTO api_keys(id, project_id, name, hash) VALUES (?1,?2,?3,?4)");
        return st.bind(1, id).bind(2, project).bind(3, name).bind(4, hash).run();
      },
      [&p](Status s) { p.set_value(std::move(s)); });
  Status st = f.get();
  if (st.ok()) {
    std::lock_guard lk(mu_);
    by_hash_.emplace(hash, Principal{project, id});
  }
  return st;
}

Result<std::string> Keys::create(const std::string& project, const std::string& name) {
  std::string key = "ck_" + random_token(48);
  if (Status st = insert(new_id("key"), project, name, sha256_hex(key)); !st.ok()) return st;
  return key;
}

Result<std::optional<std::string>> Keys::bootstrap(const std::optional<std::string>& env_key) {
  if (env_key) {
    if (env_key->size() < 8) {
      return Status(Code::invalid_argument, "CONTINUUM_API_KEY must be at least 8 characters");
    }
    std::string hash = sha256_hex(*env_key);
    {
      std::lock_guard lk(mu_);
      if (by_hash_.count(hash)) return std::optional<std::string>();
    }
    if (Status st = insert(new_id("key"), kDefaultProject, "bootstrap (environment)", hash); !st.ok())
      return st;
    return std::optional<std::string>();
  }
  if (size() > 0) return std::optional<std::string>();
  auto k = create(kDefaultProject, "bootstrap (generated)");
  if (!k.ok()) return k.status();
  return std::optional<std::string>(*k);
}

std::optional<Principal> Keys::authenticate(std::string_view token) const {
  if (token.empty() || token.size() > 512) return std::nullopt;
  std::string h = sha256_hex(token);
  std::lock_guard lk(mu_);
  auto it = by_hash_.find(h);
  if (it == by_hash_.end()) return std::nullopt;
  return it->second;
}

size_t Keys::size() const {
  std::lock_guard lk(mu_);
  return by_hash_.size();
}

}  // namespace cn::identity
