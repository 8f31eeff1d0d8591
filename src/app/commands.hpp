// The CLI's commands other than `serve`: `keys create` and `audit verify`. Each opens the data
// directory's store itself; a running server learns of keys made here at its next start.
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

}  // namespace cn::app
