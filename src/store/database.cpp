// What both backends share: the storage-full status, statement helpers, and the migration runner.
#include "store/database.hpp"

#include <cstdlib>

#include "base/log.hpp"
#include "store/dialect.hpp"

namespace cn::store {

bool is_storage_full(const Status& st) { return st.api_code() == "storage_full"; }

Status storage_full_status() {
  Status st(Code::unavailable,
            "The server's storage is full: nothing can be written until space is freed (reads are served).", "",
            "storage_full");
  st.with_http_status(503).with_retry_after(kStorageFullRetrySeconds);
  return st;
}

Status Statement::run() {
  while (step()) {
  }
  Status st = status_;
  reset();
  return st;
}

bool Database::is_postgres_url(std::string_view url) {
  return url.starts_with("postgres://") || url.starts_with("postgresql://");
}

Status Database::notify(std::string_view payload) {
  if (dialect() != Dialect::postgres) return {};
  return stmt("SELECT pg_notify('continuum', ?1)").bind(1, payload).run();
}

Result<Statement*> Database::prepare(std::string_view sql) {
  std::string key(sql);
  if (auto it = cache_.find(key); it != cache_.end()) {
    it->second->reset();
    return it->second.get();
  }
  auto made = create_statement(key);
  if (!made.ok()) return made.status();
  Statement* raw = made->get();
  cache_.emplace(std::move(key), std::move(*made));
  return raw;
}

Statement& Database::stmt(std::string_view sql) {
  auto r = prepare(sql);
  if (!r.ok()) {
    spdlog::critical("bad SQL: {} ({})", r.status().message(), sql);
    std::abort();
  }
  return **r;
}

Status Database::migrate(const std::vector<Migration>& migrations) {
  bool pg = dialect() == Dialect::postgres;
  // Nodes starting together against one PostgreSQL database take turns; the lock is the
  // session's, released when this function returns (or the connection drops).
  if (pg)
    if (Status st = exec("SELECT pg_advisory_lock(748201)"); !st.ok()) return st;
  struct Unlock {
    Database* db;
    ~Unlock() {
      if (db) (void)db->exec("SELECT pg_advisory_unlock(748201)");
    }
  } unlock{pg ? this : nullptr};
  if (pg)
    if (Status st = exec(kPostgresCompat); !st.ok()) return st;
  if (Status st = exec("CREATE TABLE IF NOT EXISTS schema_migrations ("
                       " component TEXT NOT NULL, version INTEGER NOT NULL,"
                       " applied_at INTEGER NOT NULL DEFAULT (unixepoch()),"
                       " PRIMARY KEY (component, version))");
      !st.ok())
    return st;
  for (const auto& m : migrations) {
    auto& q = stmt("SELECT 1 FROM schema_migrations WHERE component=?1 AND version=?2");
    q.bind(1, m.component).bind(2, m.version);
    bool done = q.step();
    q.reset();
    if (done) continue;
    if (Status st = begin(); !st.ok()) return st;
    Status st = exec(pg && m.pg_sql ? *m.pg_sql : m.sql);
    if (st.ok() && m.fn) st = m.fn(*this);
    if (st.ok()) {
      auto& ins = stmt("INSERT INTO schema_migrations(component, version) VALUES (?1, ?2)");
      st = ins.bind(1, m.component).bind(2, m.version).run();
    }
    if (!st.ok()) {
      (void)exec("ROLLBACK");
      if (is_storage_full(st)) return st;
      return Status(Code::internal, "migration " + m.component + "/" + std::to_string(m.version) +
                                        " failed: " + st.message());
    }
    if (Status c = exec("COMMIT"); !c.ok()) return c;
    spdlog::info("applied migration {}/{}", m.component, m.version);
  }
  return {};
}

}  // namespace cn::store
