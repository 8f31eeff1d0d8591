// The memory tables (records, the lexical index, history, jobs) and their migrations.
#include "memory/impl.hpp"

namespace cn::memory {

std::vector<store::Migration> Memory::migrations() {
  std::vector<store::Migration> m = {{"memory", 1, R"sql(
CREATE TABLE memory_records (
  seq INTEGER PRIMARY KEY,
  project_id TEXT NOT NULL,
  id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  agent_id TEXT NOT NULL,
  session_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  text TEXT NOT NULL,
  metadata TEXT NOT NULL,
  source TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  valid_from INTEGER NOT NULL,
  valid_to INTEGER,
  status TEXT NOT NULL,
  superseded_by TEXT,
  embedding BLOB
);
CREATE UNIQUE INDEX memory_records_id ON memory_records(project_id, id);
CREATE INDEX memory_records_ns ON memory_records(project_id, user_id, agent_id, status);
CREATE VIRTUAL TABLE memory_fts USING fts5(text, tokenize = 'porter unicode61');
CREATE TABLE memory_history (
  project_id TEXT NOT NULL,
  record_id TEXT NOT NULL,
  n INTEGER PRIMARY KEY,
  at INTEGER NOT NULL,
  event TEXT NOT NULL,
  text TEXT NOT NULL,
  actor TEXT NOT NULL,
  reason TEXT NOT NULL,
  related_id TEXT
);
CREATE INDEX memory_history_record ON memory_history(project_id, record_id);
CREATE TABLE memory_jobs (
  id TEXT PRIMARY KEY,
  project_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  payload TEXT NOT NULL,
  status TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  last_error TEXT NOT NULL DEFAULT '',
  next_run_at INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX memory_jobs_due ON memory_jobs(status, next_run_at);
CREATE INDEX memory_jobs_user ON memory_jobs(project_id, user_id);
)sql"},
          // Plain unicode61 words (no stemming) so that fts5vocab's terms are the query's words:
          // retrieval asks it how common each word is and leaves out the ubiquitous ones.
          {"memory", 2, R"sql(
DROP TABLE memory_fts;
CREATE VIRTUAL TABLE memory_fts USING fts5(text, tokenize = 'unicode61');
INSERT INTO memory_fts(rowid, text) SELECT seq, text FROM memory_records WHERE status = 'active';
CREATE VIRTUAL TABLE memory_fts_vocab USING fts5vocab(memory_fts, 'row');
)sql"}};
  // PostgreSQL has no FTS5: the lexical index is a table of postings, one row per (word,
  // record), whose count per word is the document count the ranking asks for.
  const std::string fts = "CREATE VIRTUAL TABLE memory_fts USING fts5(text, tokenize = 'porter unicode61');";
  std::string pg = m[0].sql;
  pg.replace(pg.find(fts), fts.size(),
             "CREATE TABLE memory_terms (term TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (term, seq));"
             " CREATE INDEX memory_terms_seq ON memory_terms(seq);");
  m[0].pg_sql = pg;
  m[1].pg_sql = "SELECT 1";
  for (auto& f : feed_migrations()) m.push_back(std::move(f));
  return m;
}

}  // namespace cn::memory
