// The command line: `serve`, `keys create`, `audit verify`, `eval run` and `migrate`, their
// flags, and the order in which flags, environment and the configuration file apply.
#include <CLI/CLI.hpp>

#include <iostream>

#include "app/commands.hpp"
#include "app/config.hpp"
#include "app/serve.hpp"

using namespace cn;

namespace {
constexpr const char* kStoreHelp =
    "the store: postgres://USER@HOST:PORT/DB for PostgreSQL (many nodes may share it); default: SQLite in the data "
    "directory";
}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"Continuum: a stateful runtime for AI agents"};
  cli.require_subcommand(1);
  app::Config cfg;
  std::string config_file;
  std::optional<std::string> listen, data, log_level, store_url;
  auto* serve_cmd = cli.add_subcommand("serve", "Run the server");
  serve_cmd->add_option("--config", config_file, "TOML configuration file");
  serve_cmd->add_option("--listen", listen, "HOST:PORT to listen on (default 127.0.0.1:8080)");
  serve_cmd->add_option("--data", data, "data directory (default ./data)");
  serve_cmd->add_option("--store", store_url, kStoreHelp);
  serve_cmd->add_option("--log-level", log_level, "debug, info, warn, error");
  bool log_json = false;
  serve_cmd->add_flag("--log-json", log_json, "write log lines as JSON objects (ts, level, trace_id, msg)");
  std::optional<std::string> agents_dir;
  serve_cmd->add_option("--agents", agents_dir, "directory of agent manifests (YAML or JSON) read at start-up");
  auto* version_cmd = cli.add_subcommand("version", "Print the version");
  auto* keys_cmd = cli.add_subcommand("keys", "Manage API keys");
  keys_cmd->require_subcommand(1);
  auto* key_create = keys_cmd->add_subcommand("create", "Create an API key and print it once");
  app::KeyFlags kf;
  key_create->add_option("--project", kf.project, "project the key belongs to (created when new)");
  key_create->add_option("--name", kf.name, "a label for the key");
  key_create->add_option("--scopes", kf.scopes,
                         "comma-separated: responses, conversations, memory:read, memory:write, vault:write, admin "
                         "(default: all but admin)");
  key_create->add_flag("--act-as-user", kf.act_as_user, "may name any end user of the project");
  key_create->add_flag("--admin", kf.admin, "a global admin key: manages tenants, projects and every key");
  key_create->add_option("--expires-in", kf.expires_in, "seconds until the key expires (default: never)");
  key_create->add_option("--data", data, "data directory (default ./data)");
  key_create->add_option("--store", store_url, kStoreHelp);
  auto* audit_cmd = cli.add_subcommand("audit", "Inspect the audit log");
  audit_cmd->require_subcommand(1);
  auto* audit_verify = audit_cmd->add_subcommand("verify", "Check the audit log's hash chain for tampering");
  audit_verify->add_option("--data", data, "data directory (default ./data)");
  audit_verify->add_option("--store", store_url, kStoreHelp);
  auto* migrate_cmd = cli.add_subcommand("migrate", "Copy a SQLite data directory's store into PostgreSQL, verified");
  app::MigrateFlags mf;
  migrate_cmd->add_option("--from", mf.from, "sqlite:DIR (a data directory)")->required();
  migrate_cmd->add_option("--to", mf.to, "postgres://USER@HOST:PORT/DB (its tables must be empty)")->required();
  auto* eval_cmd = cli.add_subcommand("eval", "Run evaluations against a running server");
  eval_cmd->require_subcommand(1);
  auto* eval_run = eval_cmd->add_subcommand("run", "Run an eval as an agent version; exit 1 below --min-score");
  app::EvalFlags ef;
  if (const char* k = std::getenv("CONTINUUM_API_KEY")) ef.key = k;
  if (const char* u = std::getenv("CONTINUUM_URL")) ef.url = u;
  eval_run->add_option("--eval", ef.eval, "the eval's id")->required();
  eval_run->add_option("--agent", ef.agent, "NAME@ALIAS or NAME@vN")->required();
  eval_run->add_option("--min-score", ef.min_score, "the share of items that must pass (default 1)");
  eval_run->add_option("--url", ef.url, "the server (default http://127.0.0.1:8080, or CONTINUUM_URL)");
  eval_run->add_option("--key", ef.key, "an API key (default CONTINUUM_API_KEY)");
  eval_run->add_option("--data", ef.data, "a run's data_source as a JSON file (default: the alias's promotion gate's)");
  eval_run->add_option("--timeout", ef.timeout_seconds, "seconds to wait for the run (default 600)");
  CLI11_PARSE(cli, argc, argv);
  if (eval_run->parsed()) return app::eval_run(ef);
  if (migrate_cmd->parsed()) return app::migrate_store(mf);
  if (version_cmd->parsed()) {
    std::cout << "continuum " << app::kVersion << "\n";
    return 0;
  }
  if (!config_file.empty()) {
    if (Status st = app::load_toml(config_file, cfg); !st.ok()) {
      std::cerr << st.message() << "\n";
      return 2;
    }
  }
  app::apply_env(cfg);
  if (store_url) cfg.store = *store_url;
  if (audit_verify->parsed()) {
    if (data) cfg.data_dir = *data;
    return app::verify_audit(cfg);
  }
  if (key_create->parsed()) {
    if (data) cfg.data_dir = *data;
    return app::create_key(cfg, kf);
  }
  if (listen) cfg.listen = *listen;
  if (data) cfg.data_dir = *data;
  if (log_level) cfg.log_level = *log_level;
  if (log_json) cfg.log_json = true;
  if (agents_dir) cfg.agents_dir = *agents_dir;
  return serve(cfg);
}
