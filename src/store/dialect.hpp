// Statement SQL is written in SQLite's dialect; this turns it into PostgreSQL's.
//
// The translation is lexical (outside quoted literals and identifiers) and covers what the
// store's statements use:
// - parameters ?N (and bare ?) become $N; one tested with IS [NOT] NULL is cast to TEXT there
//   (PostgreSQL cannot infer its type from that test alone; such parameters are all text);
// - BEGIN IMMEDIATE becomes BEGIN; PRAGMA statements are dropped (translate to "");
// - INSERT OR IGNORE becomes INSERT ... ON CONFLICT DO NOTHING, and INSERT OR REPLACE an upsert
//   on the table's primary key (which `primary_key` supplies);
// - column types: INTEGER is BIGINT (SQLite's integers are 64-bit), REAL DOUBLE PRECISION,
//   BLOB BYTEA; an INTEGER PRIMARY KEY (SQLite's rowid alias, filled in when omitted) is a
//   BIGSERIAL; WITHOUT ROWID goes;
// - LIKE is ILIKE (SQLite's LIKE ignores ASCII case).
// Functions SQLite has and PostgreSQL lacks (unixepoch(), json_extract()) are defined in the
// database instead (kPostgresCompat), with now_ms(): the database's clock in milliseconds.
// Pure functions; thread-safe.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace cn::store {

// The primary key columns of `table`, for INSERT OR REPLACE (empty when it has none).
using PrimaryKeyFn = std::function<std::vector<std::string>(const std::string& table)>;

std::string to_postgres(std::string_view sqlite_sql, const PrimaryKeyFn& primary_key);

// Functions the translated SQL relies on, created (or replaced) when a node migrates.
extern const char* const kPostgresCompat;

}  // namespace cn::store
