// The CLI's `keys create` and `audit verify` (see commands.hpp).
#include "app/commands.hpp"

#include <ctime>
#include <filesystem>
#include <iostream>

#include "app/data_dir.hpp"
#include "base/ids.hpp"
#include "identity/audit.hpp"

namespace cn::app {

// `continuum keys create`: adds a key to the data directory's store and prints it once. A
// running server learns of keys at start-up.
int create_key(const Config& cfg, const KeyFlags& kf) {
  const std::string& project = kf.project;
  identity::NewKey n;
  n.project_id = project;
  n.name = kf.name;
  n.act_as_user = kf.act_as_user;
  n.global_admin = kf.admin;
  if (!kf.scopes.empty()) {
    auto bits = identity::parse_scopes(kf.scopes);
    if (!bits.ok()) {
      std::cerr << "--scopes: " << bits.status().message() << "\n";
      return 2;
    }
    n.scopes = *bits;
  }
  if (kf.admin) n.scopes = identity::kAllScopes;
  if (kf.expires_in > 0) n.expires_at = static_cast<int64_t>(std::time(nullptr)) + kf.expires_in;
  if (!valid_id_syntax(project)) {
    std::cerr << "--project must contain only letters, digits, '_' and '-'\n";
    return 2;
  }
  std::filesystem::create_directories(cfg.data_dir);
  std::vector<store::Migration> migrations = all_migrations();
  store::ExecutorOptions so = store_options(cfg);
  so.readers = 1;
  auto store = store::Executor::start(so, migrations);
  if (!store.ok()) {
    std::cerr << store.status().message() << "\n";
    return 1;
  }
  auto secret = hash_secret(cfg.data_dir);
  if (!secret.ok()) {
    std::cerr << secret.status().message() << "\n";
    return 1;
  }
  identity::Tenants tenants(**store);
  if (Status st = tenants.ensure_project_blocking(project); !st.ok()) {
    std::cerr << st.message() << "\n";
    return 1;
  }
  identity::Keys keys(**store, *secret);
  auto k = keys.create_blocking(n);
  if (!k.ok()) {
    std::cerr << k.status().message() << "\n";
    return 1;
  }
  identity::Audit audit(**store);
  (void)audit.record_blocking(identity::AuditEntry{0, 0, project, "cli", "key.create", k->info.id,
                                                   "{\"via\":\"cli\",\"act_as_user\":" +
                                                       std::string(k->info.act_as_user ? "true" : "false") +
                                                       ",\"admin\":" + (k->info.global_admin ? "true" : "false") + "}",
                                                   ""});
  std::cout << k->plaintext << std::endl;
  return 0;
}

// `continuum audit verify`: walks the audit log's hash chain. Exit 0 when whole, 1 when broken.
int verify_audit(const Config& cfg) {
  auto path = std::filesystem::path(cfg.data_dir) / "continuum.db";
  bool pg = store::Database::is_postgres_url(cfg.store);
  if (!pg && !std::filesystem::exists(path)) {
    std::cerr << "no database in " << cfg.data_dir << "\n";
    return 2;
  }
  auto db = pg ? store::Database::connect(cfg.store, store::Database::Mode::read_only)
               : store::Database::open(path.string(), store::Database::Mode::read_only);
  if (!db.ok()) {
    std::cerr << db.status().message() << "\n";
    return 2;
  }
  auto n = identity::Audit::verify(**db);
  if (!n.ok()) {
    std::cerr << n.status().message() << "\n";
    return 1;
  }
  std::cout << "audit chain intact: " << *n << " entries\n";
  return 0;
}

}  // namespace cn::app
