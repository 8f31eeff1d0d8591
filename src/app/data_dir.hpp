// What a server's data directory holds besides requests' data: the migrations of every store
// table (in the order they apply), and 32-byte keys kept in files beside the database.
//
// Thread-safety: free functions, called at start-up and by the CLI commands.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "app/config.hpp"
#include "base/status.hpp"
#include "store/executor.hpp"

namespace cn::app {

// Every component's migrations, in the order they apply.
std::vector<store::Migration> all_migrations();
// Where the configuration puts the store: SQLite's file in the data directory, or PostgreSQL.
store::ExecutorOptions store_options(const Config& cfg);
// This node's id among many on PostgreSQL: read from the file, or made (node_...) and written
// there on first start.
Result<std::string> node_id_file(const std::filesystem::path& path);
// A 32-byte key kept in a file (64 hex digits, or base64), made on first use with mode 0600.
Result<std::string> key_file(const std::filesystem::path& path);
// The secret that keys the stored API-key hashes, kept out of the database so that a copy of it
// alone does not let anyone test key guesses.
Result<std::string> hash_secret(const std::string& data_dir);

}  // namespace cn::app
