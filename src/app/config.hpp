// Configuration: defaults, then a TOML file (--config), then environment, then flags.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/status.hpp"

namespace cn::app {

struct Config {
  std::string listen = "127.0.0.1:8080";
  std::string data_dir = "./data";
  // The store: "" for SQLite in the data directory, or a PostgreSQL URL (postgres://...) that
  // many nodes share (--store, CONTINUUM_STORE, `store`). Key files stay in the data directory.
  std::string store;
  // Many nodes on PostgreSQL (docs/scale-out.md): how often a node renews its lease, and how long
  // after its last renewal other nodes take its runs over.
  int64_t cluster_heartbeat_ms = 1000;
  int64_t cluster_lease_ms = 5000;
  std::string agents_dir;  // agent manifests read at start-up ("" = none): --agents, agents.dir
  std::string log_level = "info";
  bool log_json = false;
  int threads = 0;  // 0: one per core
  std::string tls_cert_file, tls_key_file;  // HTTPS when both are set; SIGHUP reloads them

  // Limits.
  size_t max_body_bytes = 8 * 1024 * 1024;
  size_t max_header_bytes = 16 * 1024;
  int idle_timeout_ms = 60'000;
  int request_timeout_ms = 30'000;
  // WebSocket mode (/v1/responses): a silent socket is closed after the idle time; a message
  // over the size is refused (close 1009); a lane whose unread events pass its bytes is cut, a
  // socket whose unread events (all lanes) pass the queue bytes is closed (1008).
  int websocket_idle_timeout_ms = 120'000;
  size_t websocket_max_message_bytes = 8 * 1024 * 1024;
  size_t websocket_max_queued_bytes = 16 * 1024 * 1024;
  size_t websocket_max_lane_bytes = 4 * 1024 * 1024;
  size_t max_active_runs = 1024;
  size_t max_waiting_per_line = 64;
  int run_deadline_ms = 600'000;
  int tool_timeout_ms = 60'000;
  int shutdown_grace_ms = 10'000;
  int key_requests_per_minute = 0;    // 0: no limit
  int user_requests_per_minute = 0;   // 0: no limit
  int64_t project_tokens_per_day = 0;  // 0: no quota

  // Storage.
  int64_t retention_seconds = 0;  // 0: keep forever
  size_t chain_cache_nodes = 200'000;
  // Memory and resource bounds (issue: bounded under abuse); see docs/configuration.md.
  size_t chain_cache_bytes = 64u << 20;
  size_t run_events_bytes = 32u << 20;
  size_t conversation_cache_bytes = 32u << 20;
  int64_t cache_idle_seconds = 30;     // cached state unused this long is dropped; 0: kept to its budget
  size_t max_connections = 0;          // 0: derived from the open-files limit
  size_t max_inflight_bytes = 64u << 20;
  int64_t max_rss_bytes = 0;           // 0: 3/4 of the memory the process may use; < 0: no limit
  int max_loop_lag_ms = 250;           // 0: not shed on lag
  int target_loop_lag_ms = 50;         // the adaptive limit on turns in progress steers to this; 0: off
  double max_model_latency_ratio = 3;  // and falls when model calls' first events come this much later; 0: off
  int64_t max_db_bytes = 0;            // 0: no cap on the database file
  int64_t disk_warn_bytes = 512ll << 20;

  // Models.
  std::optional<std::string> upstream_url;
  std::optional<std::string> upstream_api_key;  // never logged
  std::string upstream_ca_file;  // extra CA certificates (PEM) for an https upstream
  int upstream_timeout_ms = 300'000;
  int upstream_attempts = 3;
  int64_t default_context_window = 128'000;
  std::map<std::string, int64_t> context_windows;  // per model
  // Token counting (src/tokens/): where tiktoken's encoder files are ("" = the copy scripts/setup.sh
  // installs beside the source, CONTINUUM_TOKENIZER_DIR at build time), and encodings for models
  // the counter does not know (model name, or a prefix ending in '*', to an encoding name).
  std::string encodings_dir;
  std::map<std::string, std::string> encodings;
  // Prices per million tokens, by model ([pricing."MODEL"] input, output, cached_input).
  std::map<std::string, std::map<std::string, double>> pricing;

  // Tools: MCP servers the runs call.
  bool mcp_allow_private_urls = false;  // server_url may name loopback/private addresses
  bool webhooks_allow_private_urls = false;  // webhook URLs may name loopback/private addresses
  std::string mcp_ca_file;              // extra CA certificates (PEM) for https MCP servers
  struct StdioMcp {
    std::string label, command;
    std::vector<std::string> args, projects, idempotent_tools;
    std::vector<std::pair<std::string, std::string>> env;
  };
  std::vector<StdioMcp> mcp_stdio;      // [[mcp.stdio]]: local MCP servers the server spawns
  // The code sandbox (code_interpreter tool).
  bool sandbox_enabled = true;
  bool sandbox_network = false;
  int sandbox_cpu_seconds = 10, sandbox_memory_mib = 512, sandbox_max_processes = 64, sandbox_wall_ms = 30'000;
  int sandbox_max_output_kib = 64;
  int sandbox_warm_pool = 2;                    // Python sandboxes kept started
  std::vector<std::string> sandbox_network_projects;  // projects allowed the network

  // Long-term memory.
  std::string memory_extraction_model;  // "" = the model of the turn
  std::string memory_extraction_prompt, memory_consolidation_prompt;  // "" = built-in
  bool memory_facts = true, memory_preferences = true, memory_summary = true;
  // The namespace each strategy writes: "user", "agent" or "session".
  std::string memory_facts_scope = "user", memory_preferences_scope = "user", memory_summary_scope = "session";
  int memory_max_jobs = 2;
  int memory_injection_top_k = 5;            // records placed into a turn's context, at most
  int memory_injection_token_budget = 400;   // and their size, in estimated tokens
  // The per-user vector index: exact below the threshold, HNSW above.
  int memory_hnsw_threshold = 20'000;
  int memory_hnsw_m = 16, memory_hnsw_ef_construction = 200, memory_hnsw_ef_search = 200;
  int memory_index_build_threads = 2;
  int memory_index_budget_mib = 2048;
  int memory_index_save_interval_s = 600;  // 0 = save only after builds and at shutdown
  bool memory_warm_indexes = true;  // load or build large namespaces' indexes at start-up
  // Embeddings: an OpenAI-compatible /embeddings endpoint when a model is named; otherwise the
  // built-in local embedder. URL and key default to the upstream's.
  std::string embeddings_model, embeddings_url, embeddings_api_key;

  // OpenTelemetry traces (off unless an endpoint is set): the URL spans are POSTed to as
  // OTLP/HTTP JSON ([telemetry] otlp_endpoint, or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, or
  // OTEL_EXPORTER_OTLP_ENDPOINT + "/v1/traces"), headers sent with them (never logged), the
  // service name, and how often batches are sent.
  std::string otlp_endpoint;
  std::vector<std::pair<std::string, std::string>> otlp_headers;
  std::string service_name = "continuum";
  int otlp_interval_ms = 1000;

  std::optional<std::string> bootstrap_key;  // CONTINUUM_API_KEY; never logged

  // The vault's master key: CONTINUUM_MASTER_KEY (64 hex digits or base64 of 32 bytes), or a file
  // holding one; without either, a key file is made in the data directory. Previous keys (to
  // read and rewrap secrets after a change): CONTINUUM_MASTER_KEY_PREVIOUS, comma-separated.
  std::optional<std::string> master_key;  // never logged
  std::string master_key_file;
  std::vector<std::string> previous_master_keys;  // never logged

  // OAuth providers: [oauth.providers.NAME] tables of authorize_url, token_url, client_id,
  // client_secret (or client_secret_env: the variable that holds it), scopes, redirect_uri, grant.
  std::map<std::string, std::map<std::string, std::string>> oauth_providers;
  // Continuum's OAuth callback as the outside world reaches it
  // (https://<host>/v1/vault/oauth/callback): the redirect URI of MCP authorization clients.
  std::string oauth_redirect_uri;

  // End users' OIDC tokens (off unless an issuer is set). See identity/oidc.hpp.
  std::string oidc_issuer, oidc_audience, oidc_jwks, oidc_user_claim = "sub", oidc_project_claim;
  std::string oidc_project = "proj_default";
  std::string oidc_ca_file;  // extra CA certificates (PEM) for an https JWKS
  int oidc_leeway_s = 60;
  int oidc_jwks_ttl_s = 3600;
  int oidc_jwks_min_refresh_ms = 10'000;
};

// Reads a TOML file into `cfg` (keys as in docs/configuration.md).
Status load_toml(const std::string& path, Config& cfg);
// Applies CONTINUUM_* environment variables.
void apply_env(Config& cfg);
// Applies OpenTelemetry's OTEL_* variables (part of apply_env).
void apply_otel_env(Config& cfg);

}  // namespace cn::app
