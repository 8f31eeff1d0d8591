// What a server's data directory holds besides requests' data: the migrations of every store
// table (in the order they apply), and 32-byte keys kept in files beside the database.
//
// Thread-safety: free functions, called at start-up and by the CLI commands.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "base/status.hpp"
#include "store/executor.hpp"

namespace cn::app {

// Every component's migrations, in the order they apply.
std::vector<store::Migration> all_migrations();
// A 32-byte key kept in a file (64 hex digits, or base64), made on first use with mode 0600.
Result<std::string> key_file(const std::filesystem::path& path);
// The secret that keys the stored API-key hashes, kept out of the database so that a copy of it
// alone does not let anyone test key guesses.
Result<std::string> hash_secret(const std::string& data_dir);

}  // namespace cn::app
