// The CLI's commands other than `serve`: `keys create` and `audit verify`, which open the data
// directory's store themselves (a running server learns of keys made here at its next start),
// and `eval run`, which talks to a running server over HTTP.
//
// Thread-safety: run once, from main.
#pragma once

#include <cstdint>
#include <string>

#include "app/config.hpp"
#include "identity/keys.hpp"

namespace cn::app {

// `continuum keys create`'s flags.
struct KeyFlags {
  std::string project = identity::kDefaultProject, name = "cli", scopes;
  bool act_as_user = false, admin = false;
  int64_t expires_in = 0;
};

// Adds a key to the store and prints it once. Exit status: 0, 1 (store), 2 (bad flags).
int create_key(const Config& cfg, const KeyFlags& kf);
// Walks the audit log's hash chain. Exit status: 0 when whole, 1 when broken, 2 without a store.
int verify_audit(const Config& cfg);

// `continuum migrate`'s flags (migrate_cli.cpp).
struct MigrateFlags {
  std::string from;  // sqlite:DIR
  std::string to;    // postgres://...
};
// Copies every table of a SQLite data directory's store into a new PostgreSQL database (its
// schema made by the same migrations), then checks each table's row count and checksum on both
// sides. Exit status: 0 when verified, 1 on a failure or a mismatch, 2 on bad flags.
int migrate_store(const MigrateFlags& flags);

// `continuum eval run`'s flags (eval_cli.cpp).
struct EvalFlags {
  std::string eval, agent;  // agent: NAME@ALIAS or NAME@vN
  double min_score = 1.0;   // the share of items that must pass
  std::string url = "http://127.0.0.1:8080", key, data;
  int timeout_seconds = 600;
};
// Runs the eval as the agent on the server at `url` and prints the result as JSON. Exit status: 0
// at or above min_score, 1 below it, 2 on an error.
int eval_run(const EvalFlags& flags);

}  // namespace cn::app
