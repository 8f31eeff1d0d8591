// The PostgreSQL backend (libpq): one connection, statements prepared once per connection from
// their translated SQL, results read in text form, and PostgreSQL's failures as Status values.
//
// Parameters are sent untyped (the server infers each from where it is used) and in text form,
// except BLOBs (binary). A lost connection is re-established before the next statement; its
// prepared statements are prepared again on first use.
#include <libpq-fe.h>

#include <cstdlib>
#include <cstring>
#include <unordered_map>

#include "base/log.hpp"
#include "store/database.hpp"
#include "store/dialect.hpp"

namespace cn::store {

namespace {

constexpr unsigned kByteaOid = 17;
constexpr unsigned kBoolOid = 16;

// A failed result as a Status: disk full (SQLSTATE 53100) is storage_full; anything else is
// internal, with the server's text.
Status pg_failure(PGconn* conn, const PGresult* r, std::string_view what) {
  const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  if (state && std::strcmp(state, "53100") == 0) return storage_full_status();
  std::string msg = r && *PQresultErrorMessage(r) ? PQresultErrorMessage(r) : PQerrorMessage(conn);
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  return Status(Code::internal, "postgres: " + std::string(what) + msg);
}

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;

class PgDatabase;

class PgStatement final : public Statement {
 public:
  PgStatement(PgDatabase& db, std::string sql, std::string name) : db_(db), sql_(std::move(sql)), name_(std::move(name)) {}

  Statement& bind(int i, std::string_view v) override { return set(i, std::string(v), false); }
  Statement& bind(int i, int64_t v) override { return set(i, std::to_string(v), false); }
  Statement& bind_null(int i) override {
    slot(i);
    values_[i - 1].reset();
    binary_[i - 1] = 0;
    return *this;
  }
  Statement& bind_blob(int i, std::string_view bytes) override { return set(i, std::string(bytes), true); }

  bool step() override;
  void reset() override {
    result_.reset();
    row_ = -1;
    values_.clear();
    binary_.clear();
    status_ = Status();
  }
  std::string text(int col) const override {
    if (!result_ || PQgetisnull(result_.get(), row_, col)) return {};
    return std::string(PQgetvalue(result_.get(), row_, col), static_cast<size_t>(PQgetlength(result_.get(), row_, col)));
  }
  int64_t int64(int col) const override {
    if (!result_ || PQgetisnull(result_.get(), row_, col)) return 0;
    const char* v = PQgetvalue(result_.get(), row_, col);
    if (PQftype(result_.get(), col) == kBoolOid) return v[0] == 't' ? 1 : 0;
    return std::strtoll(v, nullptr, 10);
  }
  std::string_view blob(int col) const override {
    if (!result_ || PQgetisnull(result_.get(), row_, col)) return {};
    const char* v = PQgetvalue(result_.get(), row_, col);
    if (PQftype(result_.get(), col) != kByteaOid) return std::string_view(v, static_cast<size_t>(PQgetlength(result_.get(), row_, col)));
    size_t n = 0;
    unsigned char* bytes = PQunescapeBytea(reinterpret_cast<const unsigned char*>(v), &n);
    blob_.assign(reinterpret_cast<const char*>(bytes), n);
    PQfreemem(bytes);
    return blob_;
  }
  bool is_null(int col) const override { return !result_ || PQgetisnull(result_.get(), row_, col); }

  // Prepared on the connection of generation `gen` (0: not yet).
  uint64_t prepared_gen = 0;
  const std::string& sql() const { return sql_; }
  const std::string& name() const { return name_; }

 private:
  void slot(int i) {
    if (static_cast<int>(values_.size()) < i) {
      values_.resize(static_cast<size_t>(i));
      binary_.resize(static_cast<size_t>(i), 0);
    }
  }
  Statement& set(int i, std::string v, bool binary) {
    slot(i);
    values_[i - 1] = std::move(v);
    binary_[i - 1] = binary ? 1 : 0;
    return *this;
  }

  PgDatabase& db_;
  std::string sql_, name_;
  std::vector<std::optional<std::string>> values_;
  std::vector<int> binary_;
  ResultPtr result_;
  int row_ = -1;
  mutable std::string blob_;
};

class PgDatabase final : public Database {
 public:
  PgDatabase(PGconn* conn, std::string url, Mode mode) : conn_(conn), url_(std::move(url)), mode_(mode) {}
  ~PgDatabase() override {
    clear_statements();
    PQfinish(conn_);
  }

  Dialect dialect() const override { return Dialect::postgres; }

  Status exec(std::string_view sql) override {
    if (Status st = ensure_connected(); !st.ok()) return st;
    std::string translated = to_postgres(sql, pk_fn());
    if (translated.empty()) return {};
    ResultPtr r(PQexec(conn_, translated.c_str()));
    auto s = PQresultStatus(r.get());
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) return pg_failure(conn_, r.get(), "");
    changes_ = std::strtoll(PQcmdTuples(r.get()), nullptr, 10);
    return {};
  }


  int64_t changes() const override { return changes_; }
  bool in_transaction() const override {
    auto t = PQtransactionStatus(conn_);
    return t == PQTRANS_INTRANS || t == PQTRANS_INERROR || t == PQTRANS_ACTIVE;
  }
  Status begin() override { return exec("BEGIN"); }
  void finish_statements() override {}
  void release_memory() override {
    for (auto& [sql, st] : cache_) st->reset();
  }

 protected:
  Result<std::unique_ptr<Statement>> create_statement(const std::string& sql) override {
    if (Status st = ensure_connected(); !st.ok()) return st;
    auto stmt = std::make_unique<PgStatement>(*this, to_postgres(sql, pk_fn()), "s" + std::to_string(++statements_));
    // Prepared now so that bad SQL fails here, as with SQLite.
    if (Status st = prepare_on_server(*stmt); !st.ok()) return st;
    return std::unique_ptr<Statement>(std::move(stmt));
  }

 public:
  bool probe_writable() override { return exec("SELECT 1").ok(); }
  Status vacuum_step() override { return {}; }

  // Runs a prepared statement; prepares it first on a new connection.
  ResultPtr run(PgStatement& s, const std::vector<std::optional<std::string>>& values, const std::vector<int>& binary,
                Status& failure) {
    if (Status st = ensure_connected(); !st.ok()) {
      failure = st;
      return nullptr;
    }
    if (s.prepared_gen != gen_)
      if (Status st = prepare_on_server(s); !st.ok()) {
        failure = st;
        return nullptr;
      }
    std::vector<const char*> ptrs(values.size());
    std::vector<int> lengths(values.size());
    for (size_t i = 0; i < values.size(); ++i) {
      ptrs[i] = values[i] ? values[i]->data() : nullptr;
      lengths[i] = values[i] ? static_cast<int>(values[i]->size()) : 0;
    }
    ResultPtr r(PQexecPrepared(conn_, s.name().c_str(), static_cast<int>(values.size()), ptrs.data(), lengths.data(),
                               binary.data(), 0));
    auto st = PQresultStatus(r.get());
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
      failure = pg_failure(conn_, r.get(), "");
      return nullptr;
    }
    changes_ = std::strtoll(PQcmdTuples(r.get()), nullptr, 10);
    return r;
  }

  Status connect_settings() {
    std::string set = "SET client_min_messages = warning; SET TIME ZONE 'UTC';";
    if (mode_ == Mode::read_only) set += " SET default_transaction_read_only = on;";
    ResultPtr r(PQexec(conn_, set.c_str()));
    if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) return pg_failure(conn_, r.get(), "");
    return {};
  }

 private:
  PrimaryKeyFn pk_fn() {
    return [this](const std::string& table) { return primary_key(table); };
  }

  std::vector<std::string> primary_key(const std::string& table) {
    if (auto it = pks_.find(table); it != pks_.end()) return it->second;
    const char* sql =
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)"
        " WHERE i.indrelid = to_regclass($1) AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)";
    const char* p[1] = {table.c_str()};
    ResultPtr r(PQexecParams(conn_, sql, 1, nullptr, p, nullptr, nullptr, 0));
    std::vector<std::string> cols;
    if (PQresultStatus(r.get()) == PGRES_TUPLES_OK)
      for (int i = 0; i < PQntuples(r.get()); ++i) cols.emplace_back(PQgetvalue(r.get(), i, 0));
    if (!cols.empty()) pks_[table] = cols;
    return cols;
  }

  Status prepare_on_server(PgStatement& s) {
    ResultPtr r(PQprepare(conn_, s.name().c_str(), s.sql().c_str(), 0, nullptr));
    if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) return pg_failure(conn_, r.get(), "prepare: ");
    s.prepared_gen = gen_;
    return {};
  }

  // A dropped connection is made again (outside a transaction: one that was open is gone, and
  // the statements that follow fail until the executor's next transaction).
  Status ensure_connected() {
    if (PQstatus(conn_) == CONNECTION_OK) return {};
    PQreset(conn_);
    if (PQstatus(conn_) != CONNECTION_OK) return Status(Code::unavailable, std::string("postgres: ") + PQerrorMessage(conn_));
    ++gen_;
    spdlog::warn("store: reconnected to PostgreSQL");
    return connect_settings();
  }

  PGconn* conn_;
  std::string url_;
  Mode mode_;
  uint64_t gen_ = 1;
  int64_t changes_ = 0;
  uint64_t statements_ = 0;  // names prepared statements
  std::unordered_map<std::string, std::vector<std::string>> pks_;
};

bool PgStatement::step() {
  if (!result_) {
    if (row_ == -2) return false;  // ran and was done
    Status failure;
    result_ = db_.run(*this, values_, binary_, failure);
    if (!result_) {
      status_ = failure;
      row_ = -2;
      return false;
    }
    row_ = -1;
  }
  if (++row_ < PQntuples(result_.get())) return true;
  result_.reset();
  row_ = -2;
  return false;
}

}  // namespace

Result<std::unique_ptr<Database>> Database::connect(const std::string& url, Mode mode) {
  PGconn* conn = PQconnectdb(url.c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string msg = PQerrorMessage(conn);
    PQfinish(conn);
    while (!msg.empty() && msg.back() == '\n') msg.pop_back();
    return Status(Code::unavailable, "cannot connect to PostgreSQL: " + msg);
  }
  auto db = std::make_unique<PgDatabase>(conn, url, mode);
  if (Status st = db->connect_settings(); !st.ok()) return st;
  return std::unique_ptr<Database>(std::move(db));
}

}  // namespace cn::store
