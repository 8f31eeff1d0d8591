// The persistence seam: one SQLite connection, prepared statements, and the migration runner.
//
// A Database is confined to one thread at a time (the store executor's writer or one of its
// readers); nothing here is thread-safe. Errors are values: every call that can fail returns a
// Status whose message carries SQLite's text.
#pragma once

#include <sqlite3.h>

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

class Statement {
 public:
  explicit Statement(sqlite3_stmt* s) : s_(s) {}
  ~Statement() { sqlite3_finalize(s_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  // Binders take 1-based positions, as SQLite does. Text is copied (SQLITE_TRANSIENT).
  Statement& bind(int i, std::string_view v);
  Statement& bind(int i, const char* v) { return bind(i, std::string_view(v)); }
  Statement& bind(int i, const std::string& v) { return bind(i, std::string_view(v)); }
  Statement& bind(int i, int64_t v);
  Statement& bind(int i, int v) { return bind(i, static_cast<int64_t>(v)); }
  Statement& bind_null(int i);
  // Binds bytes as a BLOB (bind() of a string_view binds TEXT).
  Statement& bind_blob(int i, std::string_view bytes);
  Statement& bind_opt(int i, const std::optional<std::string>& v) {
    return v ? bind(i, *v) : bind_null(i);
  }

  // Advances: true when a row is available, false when done. A failure sets `status()`.
  bool step();
  // Runs to completion (for writes). Resets afterwards so the statement can be reused.
  Status run();
  void reset();

  std::string text(int col) const;
  std::optional<std::string> text_opt(int col) const;
  int64_t int64(int col) const { return sqlite3_column_int64(s_, col); }
  // The bytes of a BLOB column, valid until the next step() or reset().
  std::string_view blob(int col) const {
    auto* p = static_cast<const char*>(sqlite3_column_blob(s_, col));
    return p ? std::string_view(p, static_cast<size_t>(sqlite3_column_bytes(s_, col))) : std::string_view();
  }
  bool is_null(int col) const { return sqlite3_column_type(s_, col) == SQLITE_NULL; }
  const Status& status() const { return status_; }

 private:
  sqlite3_stmt* s_;
  Status status_;
};

// A component's numbered schema change. Versions are per component and applied in order, each
// in its own transaction: `sql` first, then `fn` (when set) for changes SQL cannot express, such
// as re-encoding rows.
class Database;

// A write that failed because the disk (or the database's size cap) is full has this Status:
// unavailable, api code "storage_full", HTTP 503 with Retry-After. Every statement and exec
// maps SQLite's SQLITE_FULL (and an I/O error with ENOSPC) to it, so every path reports the
// same error.
constexpr int kStorageFullRetrySeconds = 5;
Status storage_full_status();
bool is_storage_full(const Status& st);

struct Migration {
  std::string component;
  int version;
  std::string sql;
  std::function<Status(Database&)> fn = {};
};

class Database {
 public:
  enum class Mode { read_write, read_only };
  // Opens (creating when read_write) the database at `path` in WAL mode with
  // synchronous=FULL, foreign keys on and a busy timeout. `max_bytes` > 0 caps the database
  // file's size (SQLite's max_page_count): writes beyond it fail as on a full disk.
  static Result<std::unique_ptr<Database>> open(const std::string& path, Mode mode, int64_t max_bytes = 0);
  ~Database();

  Status exec(std::string_view sql);
  // A statement cached by its SQL text for the connection's lifetime; reset before it is handed
  // out. The reference stays valid until the Database is destroyed.
  Result<Statement*> prepare(std::string_view sql);
  // Like prepare(), but a failure to prepare is a programming error (bad SQL) and aborts.
  Statement& stmt(std::string_view sql);

  // Applies every migration not yet recorded in `schema_migrations`, each in its own
  // transaction. Fails, applying nothing more, on the first error.
  Status migrate(const std::vector<Migration>& migrations);

  int64_t changes() const { return sqlite3_changes64(db_); }
  sqlite3* raw() { return db_; }

  // Resets every statement left part-way (a lookup that read its first row and stopped): until
  // it is reset, such a statement holds its read transaction open, and with it the snapshot
  // every later read on this connection would see. The executor calls it after each job.
  void finish_statements();

  // Gives the memory this connection holds for pages back: its page cache's unused pages, and
  // (for a reader) the pages resident in its memory map, which is unmapped and mapped again
  // empty. Call between transactions, on the thread that uses the connection.
  void release_memory();

 private:
  explicit Database(sqlite3* db, Mode mode) : db_(db), mode_(mode) {}
  sqlite3* db_;
  Mode mode_;
  std::unordered_map<std::string, std::unique_ptr<Statement>> cache_;
};

}  // namespace cn::store
