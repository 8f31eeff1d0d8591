// The persistence seam: a connection to the store (SQLite by default, PostgreSQL for many
// nodes), its cached prepared statements, and the migration runner.
//
// Statement SQL is written once, in SQLite's dialect with numbered parameters (?1, ?2 ...); the
// PostgreSQL backend translates it (store/dialect.hpp) when it first prepares it. What does not
// translate has a dialect-specific form chosen with Database::dialect().
//
// A Database is confined to one thread at a time (the store executor's writer or one of its
// readers); nothing here is thread-safe. Errors are values: every call that can fail returns a
// Status whose message carries the backend's text.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/status.hpp"

namespace cn::store {

enum class Dialect { sqlite, postgres };

// One prepared statement. Binders take 1-based positions. A statement is stepped row by row,
// then reset before it is bound again.
class Statement {
 public:
  virtual ~Statement() = default;
  Statement() = default;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  // Text is copied.
  virtual Statement& bind(int i, std::string_view v) = 0;
  Statement& bind(int i, const char* v) { return bind(i, std::string_view(v)); }
  Statement& bind(int i, const std::string& v) { return bind(i, std::string_view(v)); }
  virtual Statement& bind(int i, int64_t v) = 0;
  Statement& bind(int i, int v) { return bind(i, static_cast<int64_t>(v)); }
  virtual Statement& bind_null(int i) = 0;
  // Binds bytes as a BLOB (bytea); bind() of a string_view binds TEXT.
  virtual Statement& bind_blob(int i, std::string_view bytes) = 0;
  Statement& bind_opt(int i, const std::optional<std::string>& v) {
    return v ? bind(i, *v) : bind_null(i);
  }

  // Advances: true when a row is available, false when done. A failure sets `status()`.
  virtual bool step() = 0;
  // Runs to completion (for writes). Resets afterwards so the statement can be reused.
  Status run();
  virtual void reset() = 0;

  virtual std::string text(int col) const = 0;
  std::optional<std::string> text_opt(int col) const {
    if (is_null(col)) return std::nullopt;
    return text(col);
  }
  virtual int64_t int64(int col) const = 0;
  // The bytes of a BLOB column, valid until the next step() or reset().
  virtual std::string_view blob(int col) const = 0;
  virtual bool is_null(int col) const = 0;
  const Status& status() const { return status_; }

 protected:
  Status status_;
};

class Database;

// A write that failed because the disk (or the database's size cap) is full has this Status:
// unavailable, api code "storage_full", HTTP 503 with Retry-After. Both backends map their
// disk-full failures to it, so every path reports the same error.
constexpr int kStorageFullRetrySeconds = 5;
Status storage_full_status();
bool is_storage_full(const Status& st);

// A component's numbered schema change. Versions are per component and applied in order, each
// in its own transaction: `sql` first (or `pg_sql` on PostgreSQL, when the change needs a form
// of its own there), then `fn` (when set) for changes SQL cannot express, such as re-encoding
// rows.
struct Migration {
  std::string component;
  int version;
  std::string sql;
  std::function<Status(Database&)> fn = {};
  std::optional<std::string> pg_sql = {};
};

class Database {
 public:
  enum class Mode { read_write, read_only };
  // Opens (creating when read_write) the SQLite database at `path` in WAL mode with
  // synchronous=FULL, foreign keys on and a busy timeout. `max_bytes` > 0 caps the database
  // file's size (SQLite's max_page_count): writes beyond it fail as on a full disk.
  static Result<std::unique_ptr<Database>> open(const std::string& path, Mode mode, int64_t max_bytes = 0);
  // Connects to PostgreSQL at `url` (postgres://user@host:port/db). A read-only connection runs
  // its transactions read-only.
  static Result<std::unique_ptr<Database>> connect(const std::string& url, Mode mode);
  // True for the URLs connect() takes.
  static bool is_postgres_url(std::string_view url);

  virtual ~Database() = default;

  virtual Dialect dialect() const = 0;
  // Runs one or more statements without parameters.
  virtual Status exec(std::string_view sql) = 0;
  // A statement cached by its SQL text for the connection's lifetime; reset before it is handed
  // out. The reference stays valid until the Database is destroyed.
  Result<Statement*> prepare(std::string_view sql);
  // Like prepare(), but a failure to prepare is a programming error (bad SQL) and aborts.
  Statement& stmt(std::string_view sql);

  // Applies every migration not yet recorded in `schema_migrations`, each in its own
  // transaction. Fails, applying nothing more, on the first error. On PostgreSQL, nodes starting
  // together take turns (an advisory lock).
  Status migrate(const std::vector<Migration>& migrations);

  // Announces `payload` ("topic:rest") to every node listening on the shared store
  // (store/notifier.hpp) when the current transaction commits; nothing on SQLite (one node).
  Status notify(std::string_view payload);

  // Rows changed by the last write statement.
  virtual int64_t changes() const = 0;
  // False when the backend rolled the transaction back by itself (SQLite may, on a full disk).
  virtual bool in_transaction() const = 0;
  // Starts a write transaction (SQLite: BEGIN IMMEDIATE).
  virtual Status begin() = 0;

  // Resets every statement left part-way (a lookup that read its first row and stopped): until
  // it is reset, such a statement may hold its read transaction open. The executor calls it
  // after each job.
  virtual void finish_statements() = 0;

  // Gives the memory this connection holds for pages back. Call between transactions, on the
  // thread that uses the connection.
  virtual void release_memory() = 0;

  // One small write that needs free space to commit; true when it committed. The executor uses
  // it to learn that a full disk has space again.
  virtual bool probe_writable() = 0;

  // Reclaims free pages (SQLite's incremental vacuum); PostgreSQL's autovacuum does it there.
  virtual Status vacuum_step() = 0;

 protected:
  // A new statement for `sql` (prepare() caches it).
  virtual Result<std::unique_ptr<Statement>> create_statement(const std::string& sql) = 0;
  // Statements must go before their connection closes: backends call this in their destructor.
  void clear_statements() { cache_.clear(); }
  std::unordered_map<std::string, std::unique_ptr<Statement>> cache_;
};

// `fn`, followed in the same transaction by notify(payload) when it succeeded: a write of shared
// configuration that other nodes read again (cluster/config_follower.hpp).
inline std::function<Status(Database&)> announced(std::string payload, std::function<Status(Database&)> fn) {
  return [payload = std::move(payload), fn = std::move(fn)](Database& db) -> Status {
    if (Status st = fn(db); !st.ok()) return st;
    return db.notify(payload);
  };
}

}  // namespace cn::store
