// Database: one SQLite connection with cached statements, its pragmas, and migrations.
#include "store/database.hpp"

#include <cerrno>
#include <cstdlib>

#include "base/log.hpp"

namespace cn::store {

bool is_storage_full(const Status& st) { return st.api_code() == "storage_full"; }

Status storage_full_status() {
  Status st(Code::unavailable,
            "The server's storage is full: nothing can be written until space is freed (reads are served).", "",
            "storage_full");
  st.with_http_status(503).with_retry_after(kStorageFullRetrySeconds);
  return st;
}

namespace {

// SQLite's failure as a Status: a full disk (or the database at its size cap) is storage_full,
// whatever statement met it; anything else is internal, with SQLite's text.
Status sqlite_failure(sqlite3* db, int rc, std::string_view prefix) {
  int primary = rc & 0xff;
  if (primary == SQLITE_FULL || (primary == SQLITE_IOERR && sqlite3_system_errno(db) == ENOSPC))
    return storage_full_status();
  return Status(Code::internal, std::string(prefix) + sqlite3_errmsg(db));
}

}  // namespace

Statement& Statement::bind(int i, std::string_view v) {
  sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}
Statement& Statement::bind_blob(int i, std::string_view bytes) {
  sqlite3_bind_blob(s_, i, bytes.data(), static_cast<int>(bytes.size()), SQLITE_TRANSIENT);
  return *this;
}
Statement& Statement::bind(int i, int64_t v) {
  sqlite3_bind_int64(s_, i, v);
  return *this;
}
Statement& Statement::bind_null(int i) {
  sqlite3_bind_null(s_, i);
  return *this;
}

bool Statement::step() {
  int rc = sqlite3_step(s_);
  if (rc == SQLITE_ROW) return true;
  if (rc != SQLITE_DONE) status_ = sqlite_failure(sqlite3_db_handle(s_), rc, "sqlite: ");
  return false;
}

Status Statement::run() {
  while (step()) {
  }
  Status st = status_;
  reset();
  return st;
}

void Statement::reset() {
  sqlite3_reset(s_);
  sqlite3_clear_bindings(s_);
  status_ = Status();
}

std::string Statement::text(int col) const {
  auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, col));
  if (!p) return {};
  return std::string(p, static_cast<size_t>(sqlite3_column_bytes(s_, col)));
}

std::optional<std::string> Statement::text_opt(int col) const {
  if (is_null(col)) return std::nullopt;
  return text(col);
}

namespace {
constexpr const char* kReaderTuning = "PRAGMA mmap_size=1073741824; PRAGMA cache_size=-32768;";
}  // namespace

void Database::finish_statements() {
  for (sqlite3_stmt* s = sqlite3_next_stmt(db_, nullptr); s; s = sqlite3_next_stmt(db_, s))
    if (sqlite3_stmt_busy(s)) sqlite3_reset(s);
}

void Database::release_memory() {
  // Values bound to cached statements (copies, possibly large) stay until the statement is used
  // again; so do the bytes of a row a statement stopped at.
  for (auto& [sql, st] : cache_) st->reset();
  sqlite3_db_release_memory(db_);
  // A new map size makes SQLite unmap the file and map it again: the pages read through the
  // old map leave the process's resident set (the kernel keeps them in its page cache).
  if (mode_ == Mode::read_only && sqlite3_get_autocommit(db_)) {
    (void)exec("PRAGMA mmap_size=0");
    (void)exec(kReaderTuning);
  }
}

Result<std::unique_ptr<Database>> Database::open(const std::string& path, Mode mode, int64_t max_bytes) {
  sqlite3* db = nullptr;
  int flags = SQLITE_OPEN_NOMUTEX |
              (mode == Mode::read_only ? SQLITE_OPEN_READONLY
                                       : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return Status(Code::unavailable, "cannot open database " + path + ": " + msg);
  }
  std::unique_ptr<Database> d(new Database(db, mode));
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
  const char* pragmas = mode == Mode::read_only ? "PRAGMA foreign_keys=ON;"
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

Database::~Database() {
  cache_.clear();  // statements must be finalized before the connection closes
  if (int rc = sqlite3_close(db_); rc != SQLITE_OK) spdlog::warn("closing the database: {}", sqlite3_errstr(rc));
}

Status Database::exec(std::string_view sql) {
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

Result<Statement*> Database::prepare(std::string_view sql) {
  std::string key(sql);
  auto it = cache_.find(key);
  if (it != cache_.end()) {
    it->second->reset();
    return it->second.get();
  }
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v3(db_, key.c_str(), static_cast<int>(key.size()), SQLITE_PREPARE_PERSISTENT,
                         &s, nullptr) != SQLITE_OK) {
    return Status(Code::internal, std::string("sqlite prepare: ") + sqlite3_errmsg(db_));
  }
  auto* raw = new Statement(s);
  cache_.emplace(std::move(key), std::unique_ptr<Statement>(raw));
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
    if (Status st = exec("BEGIN IMMEDIATE"); !st.ok()) return st;
    Status st = exec(m.sql);
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
