// The SQLite backend: one connection with cached statements, its pragmas, and SQLite's failures
// as Status values. The embedded default.
#include <sqlite3.h>

#include <cerrno>

#include "base/log.hpp"
#include "store/database.hpp"

namespace cn::store {

namespace {

// SQLite's failure as a Status: a full disk (or the database at its size cap) is storage_full,
// whatever statement met it; anything else is internal, with SQLite's text.
Status sqlite_failure(sqlite3* db, int rc, std::string_view prefix) {
  int primary = rc & 0xff;
  if (primary == SQLITE_FULL || (primary == SQLITE_IOERR && sqlite3_system_errno(db) == ENOSPC))
    return storage_full_status();
  return Status(Code::internal, std::string(prefix) + sqlite3_errmsg(db));
}

constexpr const char* kReaderTuning = "PRAGMA mmap_size=1073741824; PRAGMA cache_size=-32768;";

class SqliteStatement final : public Statement {
 public:
  explicit SqliteStatement(sqlite3_stmt* s) : s_(s) {}
  ~SqliteStatement() override { sqlite3_finalize(s_); }

  Statement& bind(int i, std::string_view v) override {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Statement& bind(int i, int64_t v) override {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  Statement& bind_null(int i) override {
    sqlite3_bind_null(s_, i);
    return *this;
  }
  Statement& bind_blob(int i, std::string_view bytes) override {
    sqlite3_bind_blob(s_, i, bytes.data(), static_cast<int>(bytes.size()), SQLITE_TRANSIENT);
    return *this;
  }
  bool step() override {
    int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc != SQLITE_DONE) status_ = sqlite_failure(sqlite3_db_handle(s_), rc, "sqlite: ");
    return false;
  }
  void reset() override {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
    status_ = Status();
  }
  std::string text(int col) const override {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, col));
    if (!p) return {};
    return std::string(p, static_cast<size_t>(sqlite3_column_bytes(s_, col)));
  }
  int64_t int64(int col) const override { return sqlite3_column_int64(s_, col); }
  std::string_view blob(int col) const override {
    auto* p = static_cast<const char*>(sqlite3_column_blob(s_, col));
    return p ? std::string_view(p, static_cast<size_t>(sqlite3_column_bytes(s_, col))) : std::string_view();
  }
  bool is_null(int col) const override { return sqlite3_column_type(s_, col) == SQLITE_NULL; }

 private:
  sqlite3_stmt* s_;
};

class SqliteDatabase final : public Database {
 public:
  SqliteDatabase(sqlite3* db, Mode mode) : db_(db), mode_(mode) {}
  ~SqliteDatabase() override {
    clear_statements();  // statements must be finalized before the connection closes
    if (int rc = sqlite3_close(db_); rc != SQLITE_OK) spdlog::warn("closing the database: {}", sqlite3_errstr(rc));
  }

  Dialect dialect() const override { return Dialect::sqlite; }

  Status exec(std::string_view sql) override {
    char* err = nullptr;
    std::string s(sql);
    if (int rc = sqlite3_exec(db_, s.c_str(), nullptr, nullptr, &err); rc != SQLITE_OK) {
      std::string msg = err ? err : "unknown error";
      sqlite3_free(err);
      Status st = sqlite_failure(db_, rc, "sqlite: ");
      return is_storage_full(st) ? st : Status(Code::internal, "sqlite: " + msg);
    }
    return {};
  }


  int64_t changes() const override { return sqlite3_changes64(db_); }
  bool in_transaction() const override { return !sqlite3_get_autocommit(db_); }
  Status begin() override { return exec("BEGIN IMMEDIATE"); }

  void finish_statements() override {
    for (sqlite3_stmt* s = sqlite3_next_stmt(db_, nullptr); s; s = sqlite3_next_stmt(db_, s))
      if (sqlite3_stmt_busy(s)) sqlite3_reset(s);
  }

  void release_memory() override {
    // Values bound to cached statements (copies, possibly large) stay until the statement is
    // used again; so do the bytes of a row a statement stopped at.
    for (auto& [sql, st] : cache_) st->reset();
    sqlite3_db_release_memory(db_);
    // A new map size makes SQLite unmap the file and map it again: the pages read through the
    // old map leave the process's resident set (the kernel keeps them in its page cache).
    if (mode_ == Mode::read_only && sqlite3_get_autocommit(db_)) {
      (void)exec("PRAGMA mmap_size=0");
      (void)exec(kReaderTuning);
    }
  }

  bool probe_writable() override {
    // 64 KiB in and out again: it needs free pages (or disk space for the WAL) to commit, and
    // leaves the pages it took on the free list for the next write.
    Status st = exec(
        "BEGIN IMMEDIATE; CREATE TABLE IF NOT EXISTS store_probe(b BLOB);"
        " INSERT INTO store_probe VALUES (zeroblob(65536)); DELETE FROM store_probe; COMMIT");
    if (!st.ok()) (void)exec("ROLLBACK");
    return st.ok();
  }

  Status vacuum_step() override { return exec("PRAGMA incremental_vacuum"); }

 protected:
  Result<std::unique_ptr<Statement>> create_statement(const std::string& sql) override {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &s, nullptr) !=
        SQLITE_OK)
      return Status(Code::internal, std::string("sqlite prepare: ") + sqlite3_errmsg(db_));
    return std::unique_ptr<Statement>(new SqliteStatement(s));
  }

 private:
  sqlite3* db_;
  Mode mode_;
};

}  // namespace

Result<std::unique_ptr<Database>> Database::open(const std::string& path, Mode mode, int64_t max_bytes) {
  sqlite3* db = nullptr;
  int flags = SQLITE_OPEN_NOMUTEX |
              (mode == Mode::read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return Status(Code::unavailable, "cannot open database " + path + ": " + msg);
  }
  std::unique_ptr<Database> d(new SqliteDatabase(db, mode));
  sqlite3_busy_timeout(db, 5000);
  // Readers go through a memory map (no copy per page from the OS cache) and keep 32 MiB of
  // pages; both matter for point lookups in large tables. The writer appends at the right edge
  // of its B-trees: 8 MiB of cache holds their interior pages, and it reads with pread (pages
  // it touched through a map would stay resident in the process after the write).
  const char* tuning = mode == Mode::read_only ? kReaderTuning : "PRAGMA mmap_size=0; PRAGMA cache_size=-8192;";
  if (Status st = d->exec(tuning); !st.ok()) return st;
  if (mode == Mode::read_write) {
    // A database already in WAL mode is left as it is: setting the mode again may need to write,
    // and a server restarting on a full disk must still open (read-only) to serve reads.
    auto& q = d->stmt("PRAGMA journal_mode");
    std::string current = q.step() ? q.text(0) : std::string();
    Status st = q.status();
    q.reset();
    if (!st.ok()) return st;
    // auto_vacuum takes effect only on a new database (before its first table): it lets
    // retention give space back with incremental_vacuum.
    if (current != "wal")
      if (Status s = d->exec("PRAGMA auto_vacuum=INCREMENTAL; PRAGMA journal_mode=WAL;"); !s.ok()) return s;
  }
  const char* pragmas = mode == Mode::read_only
                            ? "PRAGMA foreign_keys=ON;"
                            : "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA wal_autocheckpoint=4000;";
  if (Status st = d->exec(pragmas); !st.ok()) return st;
  if (max_bytes > 0 && mode == Mode::read_write) {
    // The cap counts pages of the database file (not the WAL): beyond it a write fails with
    // SQLITE_FULL, exactly as on a full disk.
    int64_t pages = std::max<int64_t>(1, max_bytes / 4096);
    if (Status st = d->exec("PRAGMA max_page_count=" + std::to_string(pages)); !st.ok()) return st;
  }
  return d;
}

}  // namespace cn::store
