// What a server's data directory holds besides requests' data: the migrations of every store
// table, and the key files kept beside the database (see data_dir.hpp).
#include "app/data_dir.hpp"

#include <sodium.h>

#include <fstream>

#include "base/ids.hpp"

#include "cluster/membership.hpp"
#include "fleet/registry.hpp"
#include "fleet/schedules.hpp"
#include "evals/evals.hpp"
#include "evals/online.hpp"
#include "identity/agents.hpp"
#include "identity/audit.hpp"
#include "identity/keys.hpp"
#include "identity/oauth.hpp"
#include "identity/vault.hpp"
#include "memory/memory.hpp"
#include "policy/policies.hpp"
#include "runtime/runtime.hpp"
#include "telemetry/usage.hpp"
#include "tools/servers.hpp"
#include "webhooks/webhooks.hpp"

namespace cn::app {

std::vector<store::Migration> all_migrations() {
  std::vector<store::Migration> m = identity::Keys::migrations();
  for (auto& x : identity::Audit::migrations()) m.push_back(x);
  for (auto& x : identity::Vault::migrations()) m.push_back(x);
  for (auto& x : identity::OAuth::migrations()) m.push_back(x);
  for (auto& x : identity::Agents::migrations()) m.push_back(x);
  for (auto& x : runtime::Runtime::migrations()) m.push_back(x);
  for (auto& x : memory::Memory::migrations()) m.push_back(x);
  for (auto& x : policy::Policies::migrations()) m.push_back(x);
  for (auto& x : tools::ToolServers::migrations()) m.push_back(x);
  for (auto& x : fleet::AgentRegistry::migrations()) m.push_back(x);
  for (auto& x : telemetry::UsageLedger::migrations()) m.push_back(x);
  for (auto& x : webhooks::Webhooks::migrations()) m.push_back(x);
  for (auto& x : fleet::Schedules::migrations()) m.push_back(x);
  for (auto& x : evals::Evals::migrations()) m.push_back(x);
  for (auto& x : evals::OnlineEvals::migrations()) m.push_back(x);
  for (auto& x : cluster::Membership::migrations()) m.push_back(x);
  return m;
}

store::ExecutorOptions store_options(const Config& cfg) {
  store::ExecutorOptions so;
  if (store::Database::is_postgres_url(cfg.store)) so.url = cfg.store;
  else so.path = (std::filesystem::path(cfg.data_dir) / "continuum.db").string();
  so.max_db_bytes = cfg.max_db_bytes;
  return so;
}

Result<std::string> node_id_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) {
    std::ifstream f(path);
    std::string id;
    std::getline(f, id);
    if (id.rfind("node_", 0) != 0 || id.size() > 64) return Status(Code::invalid_argument, path.string() + ": not a node id");
    return id;
  }
  std::string id = new_id("node");
  auto tmp = path;
  tmp += ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << id << "\n";
    if (!f) return Status(Code::internal, "cannot write " + tmp.string());
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) return Status(Code::internal, "cannot create " + path.string() + ": " + ec.message());
  return id;
}

// A 32-byte key kept in a file (64 hex digits, or base64), made on first use with mode 0600.
Result<std::string> key_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) {
    std::ifstream f(path, std::ios::binary);
    std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    auto k = identity::Vault::parse_master_key(s);
    if (!k.ok()) return Status(Code::invalid_argument, path.string() + ": " + k.status().message());
    return k;
  }
  std::string key(32, '\0');
  randombytes_buf(key.data(), key.size());
  std::string hex(65, '\0');
  sodium_bin2hex(hex.data(), hex.size(), reinterpret_cast<const unsigned char*>(key.data()), key.size());
  hex.resize(64);
  auto tmp = path;
  tmp += ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f << hex << "\n";
    if (!f) return Status(Code::internal, "cannot write " + tmp.string());
  }
  std::filesystem::permissions(tmp, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write, ec);
  std::filesystem::rename(tmp, path, ec);
  if (ec) return Status(Code::internal, "cannot create " + path.string() + ": " + ec.message());
  return key;
}

// The secret that keys the stored API-key hashes, kept out of the database so that a copy of it
// alone does not let anyone test key guesses.
Result<std::string> hash_secret(const std::string& data_dir) {
  return key_file(std::filesystem::path(data_dir) / "key-hash.secret");
}

}  // namespace cn::app
