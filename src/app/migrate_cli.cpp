// `continuum migrate --from sqlite:DIR --to postgres://...`: copies a data directory's SQLite
// store into a new PostgreSQL database (one no node has used), table by table, then verifies the copy: each table's
// row count and an order-independent checksum of its rows, read back from both sides.
//
// The schema on PostgreSQL is made by the same migrations a node runs; SQLite's FTS5 index is
// not copied but rebuilt as PostgreSQL's postings table. Key files stay in the data directory:
// nodes on PostgreSQL are started with that directory (or a copy of its key files) as --data.
#include <sodium.h>

#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>

#include "app/commands.hpp"
#include "app/data_dir.hpp"
#include "store/database.hpp"

namespace cn::app {

namespace {

struct Column {
  std::string name;
  bool bytes = false;  // bytea on PostgreSQL
};

struct Sum {
  int64_t rows = 0;
  uint64_t checksum = 0;
};

// A row's value as one canonical string per column: NULL marked apart, bytes as hex.
std::string canonical(store::Statement& q, const std::vector<Column>& cols) {
  std::string row;
  for (size_t i = 0; i < cols.size(); ++i) {
    int c = static_cast<int>(i);
    if (q.is_null(c)) {
      row += '\x01';
    } else if (cols[i].bytes) {
      std::string_view b = q.blob(c);
      std::string hex(b.size() * 2 + 1, '\0');
      sodium_bin2hex(hex.data(), hex.size(), reinterpret_cast<const unsigned char*>(b.data()), b.size());
      hex.pop_back();
      row += hex;
    } else {
      row += q.text(c);
    }
    row += '\x02';
  }
  return row;
}

uint64_t row_hash(const std::string& row) {
  unsigned char h[crypto_generichash_BYTES];
  crypto_generichash(h, sizeof h, reinterpret_cast<const unsigned char*>(row.data()), row.size(), nullptr, 0);
  uint64_t v;
  std::memcpy(&v, h, sizeof v);
  return v;
}

std::string select_sql(const std::string& table, const std::vector<Column>& cols) {
  std::string sql = "SELECT ";
  for (size_t i = 0; i < cols.size(); ++i) sql += (i ? ", " : "") + cols[i].name;
  return sql + " FROM " + table;
}

Result<Sum> summarize(store::Database& db, const std::string& table, const std::vector<Column>& cols) {
  auto q = db.prepare(select_sql(table, cols));
  if (!q.ok()) return q.status();
  Sum s;
  while ((*q)->step()) {
    ++s.rows;
    s.checksum += row_hash(canonical(**q, cols));
  }
  if (!(*q)->status().ok()) return (*q)->status();
  (*q)->reset();
  return s;
}

// The tables to copy: every table of the source but SQLite's own, the FTS5 index (rebuilt) and
// the bookkeeping ones.
Result<std::vector<std::string>> source_tables(store::Database& src) {
  auto& q = src.stmt(
      "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'memory_fts%'"
      " AND name NOT IN ('schema_migrations', 'store_probe') ORDER BY name");
  std::vector<std::string> out;
  while (q.step()) out.push_back(q.text(0));
  if (!q.status().ok()) return q.status();
  q.reset();
  return out;
}

// The destination's columns of `table` (those the source also has), and which hold bytes.
Result<std::vector<Column>> columns(store::Database& src, store::Database& dst, const std::string& table) {
  std::map<std::string, bool> theirs;
  auto& d = dst.stmt(
      "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = current_schema()"
      " AND table_name=?1");
  d.bind(1, table);
  while (d.step()) theirs[d.text(0)] = d.text(1) == "bytea";
  if (!d.status().ok()) return d.status();
  d.reset();
  if (theirs.empty()) return Status(Code::failed_precondition, "table " + table + " does not exist on PostgreSQL");
  auto q = src.prepare("SELECT name FROM pragma_table_info(?1)");
  if (!q.ok()) return q.status();
  (*q)->bind(1, table);
  std::vector<Column> out;
  while ((*q)->step()) {
    std::string name = (*q)->text(0);
    auto it = theirs.find(name);
    if (it == theirs.end()) return Status(Code::failed_precondition, "column " + table + "." + name + " does not exist on PostgreSQL");
    out.push_back({name, it->second});
  }
  (*q)->reset();
  return out;
}

Status copy_table(store::Database& src, store::Database& dst, const std::string& table, const std::vector<Column>& cols,
                  int64_t* copied) {
  std::string ins = "INSERT INTO " + table + "(";
  std::string vals;
  for (size_t i = 0; i < cols.size(); ++i) {
    ins += (i ? ", " : "") + cols[i].name;
    vals += (i ? ", ?" : "?") + std::to_string(i + 1);
  }
  ins += ") VALUES (" + vals + ")";
  auto w = dst.prepare(ins);
  if (!w.ok()) return w.status();
  auto r = src.prepare(select_sql(table, cols));
  if (!r.ok()) return r.status();
  auto& q = **r;
  while (q.step()) {
    auto& s = **w;
    for (size_t i = 0; i < cols.size(); ++i) {
      int c = static_cast<int>(i);
      if (q.is_null(c)) s.bind_null(c + 1);
      else if (cols[i].bytes) s.bind_blob(c + 1, q.blob(c));
      else s.bind(c + 1, q.text(c));
    }
    if (Status st = s.run(); !st.ok()) return Status(st.code(), table + ": " + st.message());
    ++*copied;
  }
  return q.status();
}

// `tables` ordered so that a table comes after those its foreign keys reference.
Result<std::vector<std::string>> parents_first(store::Database& dst, const std::vector<std::string>& tables) {
  std::map<std::string, std::set<std::string>> parents;
  auto& q = dst.stmt(
      "SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint"
      " WHERE contype = 'f' AND connamespace = current_schema()::regnamespace");
  while (q.step())
    if (q.text(0) != q.text(1)) parents[q.text(0)].insert(q.text(1));
  if (!q.status().ok()) return q.status();
  q.reset();
  std::vector<std::string> out;
  std::set<std::string> placed, wanted(tables.begin(), tables.end());
  while (out.size() < tables.size()) {
    size_t before = out.size();
    for (const auto& t : tables) {
      if (placed.count(t)) continue;
      bool ready = true;
      for (const auto& p : parents[t]) ready = ready && (placed.count(p) || !wanted.count(p));
      if (ready) {
        out.push_back(t);
        placed.insert(t);
      }
    }
    if (out.size() == before) return Status(Code::failed_precondition, "the tables' foreign keys form a cycle");
  }
  return out;
}

int fail(const std::string& msg) {
  std::cerr << "migrate: " << msg << "\n";
  return 1;
}

}  // namespace

int migrate_store(const MigrateFlags& flags) {
  if (!flags.from.starts_with("sqlite:") || !store::Database::is_postgres_url(flags.to)) {
    std::cerr << "migrate: --from sqlite:DIR --to postgres://USER@HOST:PORT/DB\n";
    return 2;
  }
  auto path = std::filesystem::path(flags.from.substr(7)) / "continuum.db";
  if (!std::filesystem::exists(path)) {
    std::cerr << "migrate: no database at " << path.string() << "\n";
    return 2;
  }
  if (sodium_init() < 0) return fail("libsodium failed to start");
  auto src = store::Database::open(path.string(), store::Database::Mode::read_only);
  if (!src.ok()) return fail(src.status().message());
  auto dst = store::Database::connect(flags.to, store::Database::Mode::read_write);
  if (!dst.ok()) return fail(dst.status().message());
  // Only into a new database: one a node has used holds its own rows.
  {
    auto& q = (*dst)->stmt("SELECT to_regclass('schema_migrations') IS NOT NULL");
    bool used = q.step() && q.int64(0);
    q.reset();
    if (used) return fail("the PostgreSQL database already holds a Continuum store; migrate into a new, empty database");
  }
  if (Status st = (*dst)->migrate(all_migrations()); !st.ok()) return fail(st.message());
  auto tables = source_tables(**src);
  if (!tables.ok()) return fail(tables.status().message());

  auto order = parents_first(**dst, *tables);
  if (!order.ok()) return fail(order.status().message());
  // Everything is copied in one transaction: a failure leaves the destination as it was. The rows
  // the migrations seed (the default tenant and project) are the source's to give.
  if (Status st = (*dst)->begin(); !st.ok()) return fail(st.message());
  std::string truncate = "TRUNCATE ";
  for (size_t i = 0; i < order->size(); ++i) truncate += (i ? ", " : "") + (*order)[i];
  if (Status st = (*dst)->exec(truncate); !st.ok()) return fail(st.message());
  std::map<std::string, std::vector<Column>> cols;
  for (const auto& t : *order) {
    auto c = columns(**src, **dst, t);
    if (!c.ok()) return fail(c.status().message());
    int64_t copied = 0;
    if (Status st = copy_table(**src, **dst, t, *c, &copied); !st.ok()) return fail(st.message());
    cols[t] = std::move(*c);
  }
  // Serial columns continue after the highest copied value.
  if (Status st = (*dst)->exec(
          "DO $$ DECLARE r record; BEGIN FOR r IN SELECT table_name, column_name FROM information_schema.columns"
          " WHERE table_schema = current_schema() AND column_default LIKE 'nextval%' LOOP"
          " EXECUTE format('SELECT setval(pg_get_serial_sequence(%L, %L), GREATEST(1, (SELECT coalesce(max(%I), 0) FROM %I)))',"
          " r.table_name, r.column_name, r.column_name, r.table_name); END LOOP; END $$");
      !st.ok())
    return fail(st.message());
  // The lexical index: the words of every active memory record.
  if (Status st = (*dst)->exec(
          "INSERT INTO memory_terms(term, seq) SELECT DISTINCT w, seq FROM memory_records,"
          " regexp_split_to_table(lower(text), '[^[:alnum:]]+') AS w WHERE status = 'active' AND w <> ''"
          " ON CONFLICT DO NOTHING");
      !st.ok())
    return fail(st.message());
  if (Status st = (*dst)->exec("COMMIT"); !st.ok()) return fail(st.message());

  // Verification reads both sides again, after the commit.
  bool same = true;
  int64_t total = 0;
  std::cout << "table\trows\tchecksum\n";
  for (const auto& t : *tables) {
    auto a = summarize(**src, t, cols[t]);
    auto b = summarize(**dst, t, cols[t]);
    if (!a.ok()) return fail(a.status().message());
    if (!b.ok()) return fail(b.status().message());
    bool ok = a->rows == b->rows && a->checksum == b->checksum;
    same = same && ok;
    total += b->rows;
    char sum[17];
    std::snprintf(sum, sizeof sum, "%016llx", static_cast<unsigned long long>(b->checksum));
    std::cout << t << "\t" << b->rows << "\t" << sum;
    if (!ok) std::cout << "\tMISMATCH (source: " << a->rows << " rows)";
    std::cout << "\n";
  }
  if (!same) return fail("the copy does not match its source");
  std::cout << "verified: " << tables->size() << " tables, " << total << " rows\n";
  return 0;
}

}  // namespace cn::app
