// The store contract: what every component may rely on from a store, run against both backends
// (SQLite always; PostgreSQL when CONTINUUM_TEST_PG names a cluster, as `make test` does). Each
// PostgreSQL case gets a database of its own.
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <filesystem>
#include <future>

#include "store/dialect.hpp"
#include "store/executor.hpp"

namespace cn::store {

namespace {

std::string pg_base() {
  const char* v = std::getenv("CONTINUUM_TEST_PG");
  return v ? v : "";
}

// Runs one statement on the cluster's maintenance database.
bool pg_admin(const std::string& sql) {
  PGconn* c = PQconnectdb(pg_base().c_str());
  bool ok = PQstatus(c) == CONNECTION_OK;
  if (ok) {
    PGresult* r = PQexec(c, sql.c_str());
    ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
  }
  PQfinish(c);
  return ok;
}

}  // namespace

class StoreContract : public ::testing::TestWithParam<Dialect> {
 protected:
  void SetUp() override {
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    for (auto& c : name) c = std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(c)) : '_';
    name = "cn_contract_" + std::to_string(::getpid()) + "_" + name;
    if (GetParam() == Dialect::postgres) {
      if (pg_base().empty()) GTEST_SKIP() << "CONTINUUM_TEST_PG is not set";
      db_name_ = name.substr(0, 60);
      ASSERT_TRUE(pg_admin("DROP DATABASE IF EXISTS " + db_name_) && pg_admin("CREATE DATABASE " + db_name_));
      std::string base = pg_base();
      opts_.url = base.substr(0, base.rfind('/') + 1) + db_name_;
    } else {
      dir_ = std::filesystem::temp_directory_path() / name;
      std::filesystem::remove_all(dir_);
      std::filesystem::create_directories(dir_);
      opts_.path = (dir_ / "db").string();
    }
  }
  void TearDown() override {
    if (!db_name_.empty()) (void)pg_admin("DROP DATABASE IF EXISTS " + db_name_ + " WITH (FORCE)");
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  static std::vector<Migration> migrations() {
    Migration kv{"t", 1, "CREATE TABLE kv(k TEXT PRIMARY KEY, v TEXT NOT NULL)"};
    Migration typed{"t", 2,
                    "CREATE TABLE typed(id INTEGER PRIMARY KEY, n INTEGER, s TEXT, b BLOB, at INTEGER NOT NULL DEFAULT (unixepoch()));"
                    "CREATE TABLE pairs(a TEXT NOT NULL, b TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (a, b)) WITHOUT ROWID"};
    // A change with a form of its own on PostgreSQL: the table records which one ran.
    Migration dialect{"t", 3, "CREATE TABLE which(d TEXT); INSERT INTO which VALUES ('sqlite')"};
    dialect.pg_sql = "CREATE TABLE which(d TEXT); INSERT INTO which VALUES ('postgres')";
    Migration fn{"t", 4, "CREATE TABLE filled(x INTEGER)"};
    fn.fn = [](Database& db) { return db.stmt("INSERT INTO filled VALUES (?1)").bind(1, 7).run(); };
    return {kv, typed, dialect, fn};
  }
  std::unique_ptr<Executor> start(int readers = 2) {
    ExecutorOptions o = opts_;
    o.readers = readers;
    auto ex = Executor::start(o, migrations());
    EXPECT_TRUE(ex.ok()) << ex.status().to_string();
    return ex.ok() ? std::move(*ex) : nullptr;
  }
  static Status write(Executor& ex, std::function<Status(Database&)> fn) {
    std::promise<Status> p;
    ex.submit(std::move(fn), [&p](Status st) { p.set_value(st); });
    return p.get_future().get();
  }
  template <typename T>
  static T read(Executor& ex, std::function<T(Database&)> fn) {
    std::promise<T> p;
    ex.read([&](Database& db) { p.set_value(fn(db)); });
    return p.get_future().get();
  }
  static Status put(Database& db, const std::string& k, const std::string& v) {
    return db.stmt("INSERT INTO kv(k, v) VALUES (?1, ?2)").bind(1, k).bind(2, v).run();
  }

  ExecutorOptions opts_;
  std::filesystem::path dir_;
  std::string db_name_;
};

TEST_P(StoreContract, GroupsConcurrentWritesIntoFewCommits) {
  auto ex = start();
  ASSERT_TRUE(ex);
  constexpr int kWrites = 2000;
  std::vector<std::promise<Status>> ps(kWrites);
  for (int i = 0; i < kWrites; ++i)
    ex->submit([i](Database& db) { return put(db, "k" + std::to_string(i), "v"); }, [&ps, i](Status st) { ps[i].set_value(st); });
  for (auto& p : ps) EXPECT_TRUE(p.get_future().get().ok());
  EXPECT_EQ(ex->stats().writes, static_cast<uint64_t>(kWrites));
  EXPECT_LT(ex->stats().commits, static_cast<uint64_t>(kWrites));  // grouped, not one commit per write
}

TEST_P(StoreContract, AFailedWriteRollsBackAloneAndTheOthersCommit) {
  auto ex = start();
  ASSERT_TRUE(ex);
  std::promise<Status> a, b, c;
  ex->submit([](Database& db) { return put(db, "x", "1"); }, [&](Status s) { a.set_value(s); });
  ex->submit(
      [](Database& db) {
        (void)put(db, "y", "2");
        return put(db, "x", "dup");  // primary key violation: this write fails
      },
      [&](Status s) { b.set_value(s); });
  ex->submit([](Database& db) { return put(db, "z", "3"); }, [&](Status s) { c.set_value(s); });
  EXPECT_TRUE(a.get_future().get().ok());
  EXPECT_FALSE(b.get_future().get().ok());
  EXPECT_TRUE(c.get_future().get().ok());
  auto keys = read<std::vector<std::string>>(*ex, [](Database& db) {
    std::vector<std::string> out;
    auto& q = db.stmt("SELECT k FROM kv ORDER BY k");
    while (q.step()) out.push_back(q.text(0));
    q.reset();
    return out;
  });
  EXPECT_EQ(keys, (std::vector<std::string>{"x", "z"}));  // "y" rolled back with its write
}

TEST_P(StoreContract, MigrationsApplyOnceInTheirDialectAndCommittedDataSurvivesReopen) {
  {
    auto ex = start();
    ASSERT_TRUE(ex);
    ASSERT_TRUE(write(*ex, [](Database& db) { return put(db, "a", "b"); }).ok());
  }
  auto ex = start();  // the migrations are not applied again
  ASSERT_TRUE(ex);
  auto got = read<std::string>(*ex, [](Database& db) {
    std::string out;
    auto& q = db.stmt("SELECT v FROM kv WHERE k='a'");
    out += q.step() ? q.text(0) : "";
    q.reset();
    auto& w = db.stmt("SELECT d FROM which");
    while (w.step()) out += "," + w.text(0);
    w.reset();
    auto& f = db.stmt("SELECT count(*), sum(x) FROM filled");
    if (f.step()) out += "," + std::to_string(f.int64(0)) + "," + std::to_string(f.int64(1));
    f.reset();
    return out;
  });
  EXPECT_EQ(got, std::string("b,") + (GetParam() == Dialect::postgres ? "postgres" : "sqlite") + ",1,7");
}

TEST_P(StoreContract, ValuesRoundTripWithTheirTypes) {
  auto ex = start();
  ASSERT_TRUE(ex);
  const std::string bytes("\x00\x01\xff\x7f binary\x00", 12);
  const std::string text = "naïve — 日本語 'quoted' \"double\" ?1 $1";
  ASSERT_TRUE(write(*ex, [&](Database& db) {
                return db.stmt("INSERT INTO typed(n, s, b) VALUES (?1, ?2, ?3)")
                    .bind(1, INT64_MIN)
                    .bind(2, text)
                    .bind_blob(3, bytes)
                    .run();
              }).ok());
  ASSERT_TRUE(write(*ex, [&](Database& db) {
                return db.stmt("INSERT INTO typed(n, s, b) VALUES (?1, ?2, ?3)").bind(1, INT64_MAX).bind_null(2).bind_null(3).run();
              }).ok());
  struct Row {
    int64_t id, n;
    std::optional<std::string> s;
    std::string b;
    bool b_null;
    int64_t at;
  };
  auto rows = read<std::vector<Row>>(*ex, [](Database& db) {
    std::vector<Row> out;
    auto& q = db.stmt("SELECT id, n, s, b, at FROM typed ORDER BY id");
    while (q.step()) out.push_back({q.int64(0), q.int64(1), q.text_opt(2), std::string(q.blob(3)), q.is_null(3), q.int64(4)});
    q.reset();
    return out;
  });
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].id, 1);  // an INTEGER PRIMARY KEY left out is assigned, from 1
  EXPECT_EQ(rows[1].id, 2);
  EXPECT_EQ(rows[0].n, INT64_MIN);
  EXPECT_EQ(rows[1].n, INT64_MAX);
  EXPECT_EQ(rows[0].s, text);
  EXPECT_EQ(rows[1].s, std::nullopt);
  EXPECT_EQ(rows[0].b, bytes);
  EXPECT_TRUE(rows[1].b_null);
  EXPECT_NEAR(static_cast<double>(rows[0].at), static_cast<double>(std::time(nullptr)), 5.0);  // unixepoch()
}

TEST_P(StoreContract, UpsertsReturningChangesAndOptionalParameters) {
  auto ex = start();
  ASSERT_TRUE(ex);
  int64_t replaced = -1, ignored = -1, updated = -1;
  int64_t returned = 0;
  ASSERT_TRUE(write(*ex, [&](Database& db) -> Status {
                auto& rep = db.stmt("INSERT OR REPLACE INTO pairs(a, b, n) VALUES (?1, ?2, ?3)");
                if (Status s = rep.bind(1, "x").bind(2, "y").bind(3, 1).run(); !s.ok()) return s;
                if (Status s = rep.bind(1, "x").bind(2, "y").bind(3, 2).run(); !s.ok()) return s;  // replaces
                replaced = db.changes();
                auto& ign = db.stmt("INSERT OR IGNORE INTO pairs(a, b, n) VALUES (?1, ?2, ?3)");
                if (Status s = ign.bind(1, "x").bind(2, "y").bind(3, 3).run(); !s.ok()) return s;  // ignored
                ignored = db.changes();
                auto& up = db.stmt("INSERT INTO pairs(a, b, n) VALUES (?1, ?2, 1) ON CONFLICT(a, b) DO UPDATE SET n = pairs.n + excluded.n");
                if (Status s = up.bind(1, "x").bind(2, "y").run(); !s.ok()) return s;
                if (Status s = db.stmt("UPDATE pairs SET n = n * 10 WHERE a LIKE ?1").bind(1, "X%").run(); !s.ok()) return s;
                updated = db.changes();  // LIKE ignores ASCII case on both backends
                auto& ins = db.stmt("INSERT INTO typed(n) VALUES (?1) RETURNING id");
                returned = ins.bind(1, 5).step() ? ins.int64(0) : 0;
                Status s = ins.status();
                ins.reset();
                return s;
              }).ok());
  EXPECT_EQ(replaced, 1);
  EXPECT_EQ(ignored, 0);
  EXPECT_EQ(updated, 1);
  EXPECT_EQ(returned, 1);
  auto n = read<int64_t>(*ex, [](Database& db) {
    auto& q = db.stmt("SELECT n FROM pairs WHERE a=?1 AND (?2 IS NULL OR b=?2)");
    int64_t v = q.bind(1, "x").bind_null(2).step() ? q.int64(0) : -1;
    q.reset();
    auto& m = db.stmt("SELECT count(*) FROM pairs WHERE a=?1 AND (?2 IS NULL OR b=?2)");
    int64_t none = m.bind(1, "x").bind(2, "nope").step() ? m.int64(0) : -1;
    m.reset();
    return none == 0 ? v : -2;
  });
  EXPECT_EQ(n, 30);  // replaced to 2, ignored, +1, x10
}

TEST_P(StoreContract, ALookupThatStopsAtItsFirstRowDoesNotPinItsSnapshot) {
  auto ex = start(1);  // every read on the same connection
  ASSERT_TRUE(ex);
  ASSERT_TRUE(write(*ex, [](Database& db) { return put(db, "a", std::string(100'000, 'v')); }).ok());
  EXPECT_TRUE(read<bool>(*ex, [](Database& db) { return db.stmt("SELECT v FROM kv WHERE k >= ?1").bind(1, "a").step(); }));
  ASSERT_TRUE(write(*ex, [](Database& db) { return put(db, "b", "w"); }).ok());
  EXPECT_EQ(read<int64_t>(*ex, [](Database& db) {
              auto& q = db.stmt("SELECT count(*) FROM kv");
              return q.step() ? q.int64(0) : -1;
            }),
            2);
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreContract, ::testing::Values(Dialect::sqlite, Dialect::postgres),
                         [](const auto& info) { return info.param == Dialect::sqlite ? "sqlite" : "postgres"; });

// The translation itself, on statements shaped like the store's.
TEST(Dialect, TranslatesSqliteStatementsToPostgres) {
  auto pk = [](const std::string& t) { return t == "kv" ? std::vector<std::string>{"k"} : std::vector<std::string>{}; };
  EXPECT_EQ(to_postgres("SELECT v FROM kv WHERE k=?1 AND n>?2", pk), "SELECT v FROM kv WHERE k=$1 AND n>$2");
  EXPECT_EQ(to_postgres("SELECT '?1' FROM kv WHERE k=?1", pk), "SELECT '?1' FROM kv WHERE k=$1");
  EXPECT_EQ(to_postgres("INSERT OR REPLACE INTO kv(k, v) VALUES (?1, ?2)", pk),
            "INSERT INTO kv(k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v=EXCLUDED.v");
  EXPECT_EQ(to_postgres("INSERT OR IGNORE INTO kv(k, v) VALUES (?1, ?2) RETURNING k", pk),
            "INSERT INTO kv(k, v) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING k");
  EXPECT_EQ(to_postgres("CREATE TABLE t(id INTEGER PRIMARY KEY, b BLOB, r REAL) WITHOUT ROWID", pk),
            "CREATE TABLE t(id BIGSERIAL PRIMARY KEY, b BYTEA, r DOUBLE PRECISION) ");
  EXPECT_EQ(to_postgres("SELECT 1 WHERE (?3 IS NULL OR u=?3)", pk), "SELECT 1 WHERE (CAST($3 AS TEXT) IS NULL OR u=$3)");
  EXPECT_EQ(to_postgres("PRAGMA foreign_keys=ON; BEGIN IMMEDIATE", pk), "BEGIN");
  EXPECT_EQ(to_postgres("SELECT 1 WHERE name LIKE 'a%'", pk), "SELECT 1 WHERE name ILIKE 'a%'");
}

}  // namespace cn::store
