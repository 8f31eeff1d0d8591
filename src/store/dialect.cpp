// SQLite SQL to PostgreSQL SQL: a small lexer that rewrites tokens outside quotes.
#include "store/dialect.hpp"

#include <cctype>

namespace cn::store {

const char* const kPostgresCompat = R"sql(
CREATE OR REPLACE FUNCTION unixepoch() RETURNS bigint LANGUAGE sql STABLE
  AS $$ SELECT extract(epoch from now())::bigint $$;
CREATE OR REPLACE FUNCTION now_ms() RETURNS bigint LANGUAGE sql VOLATILE
  AS $$ SELECT (extract(epoch from clock_timestamp()) * 1000)::bigint $$;
CREATE OR REPLACE FUNCTION json_extract(doc text, path text) RETURNS text LANGUAGE sql IMMUTABLE
  AS $$ SELECT CASE WHEN left(path, 2) = '$.' THEN (doc::jsonb) #>> string_to_array(substr(path, 3), '.') END $$;
)sql";

namespace {

bool word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

struct Token {
  enum Kind { word, param, quoted, other, space } kind;
  std::string text;
};

// Splits SQL into words, parameters, quoted runs ('..', "..", $$..$$), spaces and the rest.
std::vector<Token> lex(std::string_view s) {
  std::vector<Token> out;
  size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    size_t j = i + 1;
    if (c == '\'' || c == '"') {
      while (j < s.size()) {
        if (s[j] == c) {
          if (j + 1 < s.size() && s[j + 1] == c) {
            j += 2;
            continue;
          }
          ++j;
          break;
        }
        ++j;
      }
      out.push_back({Token::quoted, std::string(s.substr(i, j - i))});
    } else if (c == '$' && i + 1 < s.size() && s[i + 1] == '$') {
      size_t end = s.find("$$", i + 2);
      j = end == std::string_view::npos ? s.size() : end + 2;
      out.push_back({Token::quoted, std::string(s.substr(i, j - i))});
    } else if (c == '?') {
      while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
      out.push_back({Token::param, std::string(s.substr(i, j - i))});
    } else if (word_char(c)) {
      while (j < s.size() && word_char(s[j])) ++j;
      out.push_back({Token::word, std::string(s.substr(i, j - i))});
    } else if (std::isspace(static_cast<unsigned char>(c))) {
      while (j < s.size() && std::isspace(static_cast<unsigned char>(s[j]))) ++j;
      out.push_back({Token::space, std::string(s.substr(i, j - i))});
    } else {
      out.push_back({Token::other, std::string(1, c)});
    }
    i = j;
  }
  return out;
}

std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// One statement (no top-level ';').
std::string translate_one(const std::vector<Token>& t, const PrimaryKeyFn& primary_key) {
  // The index of the next non-space token after i, or t.size().
  auto next = [&](size_t i) {
    ++i;
    while (i < t.size() && t[i].kind == Token::space) ++i;
    return i;
  };
  auto is = [&](size_t i, const char* w) { return i < t.size() && t[i].kind == Token::word && upper(t[i].text) == w; };

  size_t first = t.empty() || t[0].kind != Token::space ? 0 : next(0);
  if (is(first, "PRAGMA")) return "";
  bool ddl = is(first, "CREATE") || is(first, "ALTER");

  enum { none, ignore, replace } conflict = none;
  std::string table;
  std::string out;
  int bare = 0;
  size_t returning_at = std::string::npos;  // where RETURNING starts in `out`
  std::vector<std::string> columns;          // of an INSERT OR REPLACE
  bool in_columns = false;
  for (size_t i = 0; i < t.size(); ++i) {
    const Token& k = t[i];
    if (k.kind == Token::param) {
      std::string p = "$" + (k.text.size() > 1 ? k.text.substr(1) : std::to_string(++bare));
      // A parameter tested for NULL gets a type there, or PostgreSQL cannot infer one.
      if (is(next(i), "IS") && (is(next(next(i)), "NULL") || (is(next(next(i)), "NOT") && is(next(next(next(i))), "NULL"))))
        p = "CAST(" + p + " AS TEXT)";
      out += p;
      continue;
    }
    if (k.kind != Token::word) {
      if (in_columns && k.text == ")") in_columns = false;
      out += k.text;
      continue;
    }
    std::string u = upper(k.text);
    if (u == "BEGIN" && is(next(i), "IMMEDIATE")) {
      out += "BEGIN";
      i = next(i);
      continue;
    }
    if (u == "INSERT" && is(next(i), "OR")) {
      size_t how = next(next(i));
      conflict = is(how, "REPLACE") ? replace : ignore;
      out += "INSERT";
      i = how;
      // The table name follows INTO; an upsert needs it and its column list.
      size_t into = next(i);
      if (is(into, "INTO")) {
        size_t name = next(into);
        if (name < t.size()) table = t[name].text;
      }
      continue;
    }
    if (conflict == replace && !table.empty() && k.text == table && columns.empty()) {
      out += k.text;
      size_t open = next(i);
      if (open < t.size() && t[open].text == "(") in_columns = true;
      continue;
    }
    if (in_columns) {
      columns.push_back(k.text);
      out += k.text;
      continue;
    }
    if (u == "RETURNING") returning_at = out.size();
    if (u == "WITHOUT" && is(next(i), "ROWID")) {
      i = next(i);
      continue;
    }
    if (u == "LIKE") {
      out += "ILIKE";
      continue;
    }
    if (ddl && u == "INTEGER" && is(next(i), "PRIMARY") && is(next(next(i)), "KEY")) {
      out += "BIGSERIAL PRIMARY KEY";
      i = next(next(i));
      if (is(next(i), "AUTOINCREMENT")) i = next(i);
      continue;
    }
    if (u == "AUTOINCREMENT") continue;
    if (u == "INTEGER") {
      out += "BIGINT";
      continue;
    }
    if (u == "REAL") {
      out += "DOUBLE PRECISION";
      continue;
    }
    if (u == "BLOB") {
      out += "BYTEA";
      continue;
    }
    out += k.text;
  }
  if (conflict == none) return out;
  std::string clause;
  if (conflict == ignore) {
    clause = " ON CONFLICT DO NOTHING";
  } else {
    std::vector<std::string> pk = primary_key(table);
    if (pk.empty()) return out;  // no key to conflict on: a plain insert
    clause = " ON CONFLICT (";
    for (size_t i = 0; i < pk.size(); ++i) clause += (i ? ", " : "") + pk[i];
    clause += ") DO ";
    std::string set;
    for (const auto& c : columns) {
      bool key = false;
      for (const auto& p : pk) key = key || p == c;
      if (!key) set += (set.empty() ? "" : ", ") + c + "=EXCLUDED." + c;
    }
    clause += set.empty() ? "NOTHING" : "UPDATE SET " + set;
  }
  // Trailing spaces stay after the clause.
  size_t at = returning_at != std::string::npos ? returning_at : out.find_last_not_of(" \t\r\n") + 1;
  out.insert(at, returning_at != std::string::npos ? clause.substr(1) + " " : clause);
  return out;
}

}  // namespace

std::string to_postgres(std::string_view sql, const PrimaryKeyFn& primary_key) {
  std::vector<Token> tokens = lex(sql);
  std::string out;
  std::vector<Token> one;
  for (auto& tk : tokens) {
    if (tk.kind == Token::other && tk.text == ";") {
      std::string s = translate_one(one, primary_key);
      if (size_t b = s.find_first_not_of(" \t\r\n"); b != std::string::npos) out += (out.empty() ? s.substr(b) : s) + ";";
      one.clear();
      continue;
    }
    one.push_back(std::move(tk));
  }
  std::string s = translate_one(one, primary_key);
  if (size_t b = s.find_first_not_of(" \t\r\n"); b != std::string::npos) out += out.empty() ? s.substr(b) : s;
  return out;
}

}  // namespace cn::store
