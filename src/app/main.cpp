// The composition root: configuration, the store, providers, runtime, API and server, signals.
#include <boost/asio.hpp>

#include <sodium.h>

#include <csignal>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "api/api.hpp"
#include "app/commands.hpp"
#include "app/serve.hpp"
#include "admission/governor.hpp"
#include "app/config.hpp"
#include "app/descriptors.hpp"
#include "app/gauges.hpp"
#include "app/data_dir.hpp"
#include "base/ids.hpp"
#include "base/node.hpp"
#include "cluster/config_follower.hpp"
#include "cluster/membership.hpp"
#include "store/notifier.hpp"
#include "base/log.hpp"
#include "http/client.hpp"
#include "http/server.hpp"
#include "identity/audit.hpp"
#include "identity/authenticator.hpp"
#include "identity/keys.hpp"
#include "identity/oauth.hpp"
#include "api/team.hpp"
#include "telemetry/metrics.hpp"
#include "telemetry/otlp.hpp"
#include "telemetry/usage.hpp"
#include "webhooks/webhooks.hpp"
#include "fleet/handoff.hpp"
#include "fleet/manifests.hpp"
#include "identity/oidc.hpp"
#include "memory/memory.hpp"
#include "model/provider.hpp"
#include "runtime/runtime.hpp"
#include "tokens/counter.hpp"
#include "base/sealer.hpp"
#include "store/executor.hpp"
#include "policy/policies.hpp"
#include "tools/mcp/source.hpp"
#include "tools/sandbox/code_tool.hpp"
#include "tools/servers.hpp"
#include "tools/memory_tools.hpp"

namespace net = boost::asio;
using namespace cn;

// jemalloc's defaults for this process (MALLOC_CONF in the environment still overrides them):
// a background thread gives freed pages back to the system within about a second, also when
// the server is idle (without it, only allocation activity does). Transparent huge pages for
// the arenas were tried: they made a cold start's first touches cheaper (resume of a 1,000-turn
// chain: chain read 15 -> 10 ms) but held ~25 MiB more resident at idle and ~30 MiB more after
// load, which a server bounded in bytes cannot afford (bench/bounded.mjs, bench/results/bounded.md).
extern "C" {
const char* malloc_conf = "background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0";
}

namespace {


// A turn ledger filled in after the runtime exists (online evaluation reads through it).
struct LateLedger final : runtime::TurnLedger {
  std::atomic<runtime::TurnLedger*> to{nullptr};
  Status record(store::Database& db, const runtime::TurnRecord& r) override {
    auto* l = to.load();
    return l ? l->record(db, r) : Status();
  }
};

// A registered tool server's credential (see tools/servers.hpp). A free coroutine on purpose:
// GCC 12 miscompiles lambda coroutines with captures.
net::awaitable<Result<std::string>> fetch_credential_for_tool(identity::Vault* vault, identity::OAuth* oauth, std::string project,
                                                              identity::SecretOwner owner, std::string provider,
                                                              std::string run, std::string actor) {
  if (oauth && oauth->provider(project, provider)) {
    auto token = co_await oauth->access_token(project, owner, provider, run, actor);
    co_return token;
  }
  auto value = co_await vault->reveal(project, owner, provider, run, actor);
  co_return value;
}

// A registered MCP server's authorization server, as a provider of its project.
net::awaitable<Status> register_oauth_provider(identity::OAuth* oauth, tools::OAuthRegistration r) {
  if (!oauth) co_return Status(Code::unavailable, "The OAuth service is starting; try again.");
  identity::OAuthProvider p;
  p.name = std::move(r.provider);
  p.project = std::move(r.project);
  p.authorize_url = std::move(r.authorize_url);
  p.token_url = std::move(r.token_url);
  p.client_id = std::move(r.client_id);
  p.client_secret = std::move(r.client_secret);
  p.scopes = std::move(r.scopes);
  p.redirect_uri = std::move(r.redirect_uri);
  p.resource = std::move(r.resource);
  p.issuer = std::move(r.issuer);
  co_return co_await oauth->put_provider(std::move(p));
}

// The vault's master key and the previous ones (see app/config.hpp).
Result<std::pair<std::string, std::vector<std::string>>> master_keys(const app::Config& cfg) {
  std::string master;
  if (cfg.master_key) {
    auto k = identity::Vault::parse_master_key(*cfg.master_key);
    if (!k.ok()) return Status(Code::invalid_argument, "CONTINUUM_MASTER_KEY: " + k.status().message());
    master = *k;
  } else {
    bool generated = cfg.master_key_file.empty();
    auto path = generated ? std::filesystem::path(cfg.data_dir) / "vault-master.key" : std::filesystem::path(cfg.master_key_file);
    if (!generated && !std::filesystem::exists(path)) return Status(Code::invalid_argument, "vault master key file " + path.string() + " does not exist");
    auto k = app::key_file(path);
    if (!k.ok()) return k.status();
    master = *k;
    if (generated)
      spdlog::warn("vault: the master key is a file in the data directory ({}); set CONTINUUM_MASTER_KEY or "
                   "vault.master_key_file to keep it elsewhere", path.string());
  }
  std::vector<std::string> previous;
  for (const auto& text : cfg.previous_master_keys) {
    auto k = identity::Vault::parse_master_key(text);
    if (!k.ok()) return Status(Code::invalid_argument, "CONTINUUM_MASTER_KEY_PREVIOUS: " + k.status().message());
    previous.push_back(*k);
  }
  return std::make_pair(master, previous);
}

Result<std::map<std::string, identity::OAuthProvider>> oauth_providers(const app::Config& cfg) {
  std::map<std::string, identity::OAuthProvider> out;
  for (const auto& [name, kv] : cfg.oauth_providers) {
    auto get = [&](const char* k) {
      auto it = kv.find(k);
      return it == kv.end() ? std::string() : it->second;
    };
    identity::OAuthProvider p;
    p.name = name;
    p.authorize_url = get("authorize_url");
    p.token_url = get("token_url");
    p.client_id = get("client_id");
    p.client_secret = get("client_secret");
    if (auto env = get("client_secret_env"); !env.empty()) {
      const char* v = std::getenv(env.c_str());
      if (!v) return Status(Code::invalid_argument, "OAuth provider '" + name + "': $" + env + " is not set");
      p.client_secret = v;
    }
    p.scopes = get("scopes");
    p.redirect_uri = get("redirect_uri");
    if (auto g = get("grant"); !g.empty()) p.grant = g;
    if (Status s = identity::OAuth::validate(p); !s.ok()) return s;
    out[name] = std::move(p);
  }
  return out;
}

std::shared_ptr<identity::OidcVerifier> make_oidc(const app::Config& cfg, Status* err) {
  if (cfg.oidc_issuer.empty() && cfg.oidc_jwks.empty()) return nullptr;
  identity::OidcOptions o;
  o.issuer = cfg.oidc_issuer;
  o.audience = cfg.oidc_audience;
  o.jwks = cfg.oidc_jwks;
  o.user_claim = cfg.oidc_user_claim;
  o.project_claim = cfg.oidc_project_claim;
  o.project = cfg.oidc_project;
  o.leeway_seconds = cfg.oidc_leeway_s;
  o.jwks_ttl = std::chrono::seconds(std::max(1, cfg.oidc_jwks_ttl_s));
  o.refresh_min_interval = std::chrono::milliseconds(std::max(0, cfg.oidc_jwks_min_refresh_ms));
  std::shared_ptr<http::Client> client;
  try {
    client = std::make_shared<http::Client>(http::ClientOptions{cfg.oidc_ca_file});
  } catch (const std::exception& e) {
    *err = Status(Code::invalid_argument, "cannot load OIDC CA file " + cfg.oidc_ca_file + ": " + e.what());
    return nullptr;
  }
  auto fetch = [client](std::string url) -> net::awaitable<Result<std::string>> {
    http::ClientRequest req;
    req.method = "GET";
    req.url = std::move(url);
    req.timeout = std::chrono::seconds(10);
    auto r = co_await client->call(std::move(req));
    if (!r.ok()) co_return r.status();
    if (r->status != 200) co_return Status(Code::unavailable, "JWKS endpoint answered " + std::to_string(r->status));
    co_return std::move(r->body);
  };
  auto v = std::make_shared<identity::OidcVerifier>(o, fetch);
  *err = v->start();
  return v;
}

}  // namespace

int app::serve(app::Config cfg) {
  init_logging(cfg.log_level, cfg.log_json);
  auto colon = cfg.listen.rfind(':');
  if (colon == std::string::npos) {
    spdlog::critical("--listen must be HOST:PORT, got '{}'", cfg.listen);
    return 2;
  }
  std::string host = cfg.listen.substr(0, colon);
  int port = std::atoi(cfg.listen.c_str() + colon + 1);
  if (port < 0 || port > 65535) {
    spdlog::critical("bad port in --listen '{}'", cfg.listen);
    return 2;
  }
  // Declared first so that it is destroyed last: every socket, timer and pooled connection made
  // on it must go before it does.
  int threads = cfg.threads > 0 ? cfg.threads : std::max(1u, std::thread::hardware_concurrency());
  net::io_context io(threads);

  std::error_code fec;
  std::filesystem::create_directories(cfg.data_dir, fec);
  if (fec) {
    spdlog::critical("cannot create data directory {}: {}", cfg.data_dir, fec.message());
    return 1;
  }

  auto fds = app::raise_descriptor_limit(cfg.max_connections);
  std::vector<store::Migration> migrations = app::all_migrations();
  if (!cfg.store.empty() && !store::Database::is_postgres_url(cfg.store)) {
    spdlog::critical("--store must be a postgres:// URL (or be left out, for SQLite in the data directory)");
    return 2;
  }
  store::ExecutorOptions so = app::store_options(cfg);
  // Before anything records a run. The id is kept in the data directory, so that a node started
  // again recovers its own runs at once (and fences its previous process), as on SQLite.
  if (!so.url.empty()) {
    auto id = app::node_id_file(std::filesystem::path(cfg.data_dir) / "node-id");
    if (!id.ok()) {
      spdlog::critical("{}", id.status().message());
      return 1;
    }
    set_this_node(*id);
  }
  auto store = store::Executor::start(so, migrations);
  if (!store.ok()) {
    spdlog::critical("store: {}", store.status().message());
    return 1;
  }

  auto secret = app::hash_secret(cfg.data_dir);
  if (!secret.ok()) {
    spdlog::critical("{}", secret.status().message());
    return 1;
  }
  // The key compaction items are sealed with (base/sealer.hpp), kept beside the database.
  auto sealing_key = app::key_file(std::filesystem::path(cfg.data_dir) / "compaction.key");
  if (!sealing_key.ok()) {
    spdlog::critical("{}", sealing_key.status().message());
    return 1;
  }
  static Sealer sealer(*sealing_key);
  Sealer::install(&sealer);
  identity::Keys keys(**store, *secret);
  if (Status st = keys.load(); !st.ok()) {
    spdlog::critical("loading keys: {}", st.message());
    return 1;
  }
  identity::Tenants tenants(**store);
  Status oidc_status;
  auto oidc = make_oidc(cfg, &oidc_status);
  if (!oidc_status.ok()) {
    spdlog::critical("OIDC: {}", oidc_status.message());
    return 1;
  }
  if (oidc) spdlog::info("OIDC end-user tokens accepted from issuer {}", cfg.oidc_issuer);
  identity::Audit audit(**store);
  identity::Authenticator auth(keys, oidc, &audit);
  identity::RateLimiter limiter(identity::RateLimitOptions{cfg.key_requests_per_minute, cfg.user_requests_per_minute,
                                                           cfg.project_tokens_per_day});
  if (limiter.enabled()) auth.set_limiter(&limiter);
  identity::Agents agents(**store);
  if (Status st = agents.load(); !st.ok()) {
    spdlog::critical("loading agents: {}", st.message());
    return 1;
  }
  auth.set_agents(&agents);
  auth.set_tenants(&tenants);
  auto mkeys = master_keys(cfg);
  if (!mkeys.ok()) {
    spdlog::critical("{}", mkeys.status().message());
    return 1;
  }
  identity::Vault vault(**store, mkeys->first, mkeys->second, &audit);
  std::jthread rewrapper;
  if (!mkeys->second.empty()) {
    // Secrets wrapped by a previous master key move to the current one while the server serves.
    rewrapper = std::jthread([&vault] {
      int64_t total = 0;
      for (;;) {
        auto n = vault.rewrap(200);
        if (!n.ok() || *n == 0) break;
        total += *n;
      }
      spdlog::info("vault: {} secrets rewrapped with master key {}", total, vault.key_id());
    });
  }
  auto boot = keys.bootstrap(cfg.bootstrap_key);
  if (!boot.ok()) {
    spdlog::critical("{}", boot.status().message());
    return 1;
  }
  if (*boot) {
    // Printed once, to stdout only; only its hash is stored.
    std::cout << "\nContinuum created an admin API key (shown once; store it now):\n\n  "
              << **boot << "\n\nSet CONTINUUM_API_KEY to choose your own instead.\n"
              << std::endl;
  }

  model::Registry models;
  models.set_local(model::make_local_provider());
  models.set_default_window(cfg.default_context_window);
  for (auto& [m, w] : cfg.context_windows) models.set_context_window(m, w);
  std::shared_ptr<http::Client> client;
  try {
    client = std::make_shared<http::Client>(http::ClientOptions{cfg.upstream_ca_file});
  } catch (const std::exception& e) {
    spdlog::critical("cannot load upstream CA file {}: {}", cfg.upstream_ca_file, e.what());
    return 1;
  }
  if (cfg.upstream_url) {
    model::OpenAIOptions oo;
    oo.base_url = *cfg.upstream_url;
    oo.api_key = cfg.upstream_api_key.value_or("");
    oo.call_timeout = std::chrono::milliseconds(cfg.upstream_timeout_ms);
    oo.max_attempts = std::max(1, cfg.upstream_attempts);
    models.set_upstream(model::make_openai_provider(oo, client));
    spdlog::info("upstream model provider: {}", *cfg.upstream_url);
  } else {
    spdlog::warn("no upstream configured: the built-in model 'continuum-local' (deterministic, not an LLM) "
                 "answers every request, whatever its model name; set CONTINUUM_UPSTREAM_URL for a real model");
  }

  if (!cfg.embeddings_model.empty()) {
    model::EmbeddingsOptions eo;
    eo.model = cfg.embeddings_model;
    eo.base_url = !cfg.embeddings_url.empty() ? cfg.embeddings_url : cfg.upstream_url.value_or("");
    eo.api_key = !cfg.embeddings_api_key.empty() ? cfg.embeddings_api_key : cfg.upstream_api_key.value_or("");
    if (eo.base_url.empty()) {
      spdlog::critical("embeddings.model is set but there is no embeddings URL (embeddings.url or the upstream URL)");
      return 2;
    }
    spdlog::info("embeddings: {} at {}", eo.model, eo.base_url);
    models.set_embedder(model::make_openai_embedder(eo, client));
  } else {
    spdlog::info("embeddings: built-in local embedder");
  }

  runtime::RuntimeOptions ro;
  std::shared_ptr<tokens::Counter> token_counter;
  std::jthread encodings_loader;  // joined wherever serve() returns
  {
    std::string dir = cfg.encodings_dir.empty() ? std::string(CONTINUUM_DEFAULT_ENCODINGS_DIR) : cfg.encodings_dir;
    token_counter = std::make_shared<tokens::Counter>(dir, cfg.encodings);
    std::error_code ec;
    if (std::filesystem::exists(dir + "/o200k_base.json", ec)) spdlog::info("tokens: counted with tiktoken's encodings from {}", dir);
    else spdlog::warn("tokens: no encodings at {}; token counts are estimates (run scripts/setup.sh)", dir);
    ro.token_counter = token_counter;
    // The encodings load (~0.1 s, a few MiB) on a thread of their own, so that the first turn
    // does not wait for them and memory after start-up is memory in steady state.
    if (std::filesystem::exists(dir + "/o200k_base.json", ec))
      encodings_loader = std::jthread([c = token_counter] {
        c->encoding("o200k_base");
        c->encoding("cl100k_base");
      });
  }
  ro.max_active_runs = cfg.max_active_runs;
  ro.max_waiting_per_line = cfg.max_waiting_per_line;
  ro.run_deadline = std::chrono::milliseconds(cfg.run_deadline_ms);
  ro.tool_timeout = std::chrono::milliseconds(cfg.tool_timeout_ms);
  ro.retention_seconds = cfg.retention_seconds;
  ro.chain_cache_nodes = cfg.chain_cache_nodes;
  ro.chain_cache_bytes = cfg.chain_cache_bytes;
  ro.run_events_bytes = cfg.run_events_bytes;
  ro.conversation_cache_bytes = cfg.conversation_cache_bytes;
  admission::GovernorOptions go;
  go.max_inflight_bytes = cfg.max_inflight_bytes;
  go.max_rss_bytes = cfg.max_rss_bytes == 0 ? admission::Governor::default_rss_limit() : std::max<int64_t>(0, cfg.max_rss_bytes);
  go.max_loop_lag = std::chrono::milliseconds(cfg.max_loop_lag_ms);
  go.target_loop_lag = std::chrono::milliseconds(cfg.target_loop_lag_ms);
  go.max_model_latency_ratio = cfg.max_model_latency_ratio;
  go.max_turns = static_cast<int64_t>(cfg.max_active_runs);
  go.data_dir = cfg.data_dir;
  go.disk_warn_bytes = cfg.disk_warn_bytes;
  auto governor = std::make_shared<admission::Governor>(go, store->get());
  ro.admission = governor;
  memory::Options mo;
  mo.extraction_model = cfg.memory_extraction_model;
  mo.shared = !so.url.empty();
  mo.extraction_prompt = cfg.memory_extraction_prompt;
  mo.consolidation_prompt = cfg.memory_consolidation_prompt;
  mo.extract_facts = cfg.memory_facts;
  mo.facts_scope = cfg.memory_facts_scope;
  mo.preferences_scope = cfg.memory_preferences_scope;
  mo.summary_scope = cfg.memory_summary_scope;
  mo.extract_preferences = cfg.memory_preferences;
  mo.extract_summary = cfg.memory_summary;
  mo.max_concurrent_jobs = cfg.memory_max_jobs;
  mo.index_dir = (std::filesystem::path(cfg.data_dir) / "memory-index").string();
  mo.injection_top_k = static_cast<size_t>(cfg.memory_injection_top_k);
  mo.injection_token_budget = cfg.memory_injection_token_budget;
  mo.index.hnsw_threshold = static_cast<size_t>(cfg.memory_hnsw_threshold);
  mo.index.M = static_cast<size_t>(cfg.memory_hnsw_m);
  mo.index.ef_construction = static_cast<size_t>(cfg.memory_hnsw_ef_construction);
  mo.index.ef_search = static_cast<size_t>(cfg.memory_hnsw_ef_search);
  mo.index_build_threads = cfg.memory_index_build_threads;
  mo.index_budget_bytes = static_cast<size_t>(cfg.memory_index_budget_mib) << 20;
  mo.index_save_interval = std::chrono::seconds(cfg.memory_index_save_interval_s);
  mo.warm_indexes = cfg.memory_warm_indexes;
  memory::Memory mem(io, **store, models, mo);
  ro.tool_sources.push_back(std::make_shared<tools::MemoryToolSource>(mem));
  fleet::AgentRegistry agent_defs(**store);
  if (Status st = agent_defs.load(); !st.ok()) {
    spdlog::critical("loading agents: {}", st.message());
    return 1;
  }
  if (!cfg.agents_dir.empty()) {
    auto made = fleet::load_manifests(agent_defs, cfg.agents_dir, identity::kDefaultProject);
    if (!made.ok()) {
      spdlog::critical("{}", made.status().message());
      return 2;
    }
    spdlog::info("agents: manifests in {} read; {} new versions", cfg.agents_dir, *made);
  }
  auto metrics = std::make_shared<telemetry::Metrics>();
  ro.observer = metrics;
  std::shared_ptr<telemetry::OtlpExporter> tracer;
  if (!cfg.otlp_endpoint.empty()) {
    telemetry::OtlpOptions oo;
    oo.endpoint = cfg.otlp_endpoint;
    oo.headers = cfg.otlp_headers;
    oo.service_name = cfg.service_name;
    oo.service_version = app::kVersion;
    oo.interval = std::chrono::milliseconds(std::clamp(cfg.otlp_interval_ms, 10, 600'000));
    tracer = std::make_shared<telemetry::OtlpExporter>(*client, oo);
    ro.tracer = tracer;
    metrics->gauge("continuum_trace_spans_exported", "Spans sent to the OTLP endpoint since start",
                   [tracer] { return static_cast<double>(tracer->exported()); });
    metrics->gauge("continuum_trace_spans_dropped", "Spans dropped (queue full or export failed) since start",
                   [tracer] { return static_cast<double>(tracer->dropped()); });
    spdlog::info("traces: OTLP/HTTP JSON to {} every {} ms", cfg.otlp_endpoint, oo.interval.count());
  }
  std::map<std::string, telemetry::Price> prices;
  for (const auto& [model, kv] : cfg.pricing) {
    telemetry::Price p;
    if (auto it = kv.find("input"); it != kv.end()) p.input_per_million = it->second;
    if (auto it = kv.find("output"); it != kv.end()) p.output_per_million = it->second;
    if (auto it = kv.find("cached_input"); it != kv.end()) p.cached_input_per_million = it->second;
    prices[model] = p;
  }
  auto usage = std::make_shared<telemetry::UsageLedger>(**store, std::move(prices));
  ro.ledgers.push_back(usage);
  webhooks::Options who;
  who.allow_private = cfg.webhooks_allow_private_urls;
  auto hooks = std::make_shared<webhooks::Webhooks>(**store, vault, *client, who);
  if (Status st = hooks->load(); !st.ok()) {
    spdlog::critical("loading webhooks: {}", st.message());
    return 1;
  }
  ro.ledgers.push_back(hooks);
  auto team = std::make_shared<api::RegistryTeam>(agent_defs);
  ro.tool_sources.push_back(std::make_shared<fleet::HandoffSource>(agent_defs));
  ro.tool_sources.push_back(std::make_shared<fleet::AgentToolSource>(agent_defs, team));
  ro.team = team;
  fleet::Schedules schedules(**store, agent_defs, team);
  if (Status st = schedules.load(); !st.ok()) {
    spdlog::critical("loading schedules: {}", st.message());
    return 1;
  }
  policy::Policies policies(**store);
  if (Status st = policies.load(); !st.ok()) {
    spdlog::critical("loading policy sets: {}", st.message());
    return 1;
  }
  ro.authorizer = std::make_shared<policy::PolicyAuthorizer>(
      policies, &audit, [&agent_defs](const std::string& project, const std::string& agent, int64_t version) {
        auto v = agent_defs.resolve(project, version > 0 ? agent + "@v" + std::to_string(version) : agent);
        return v.ok() ? (*v)->def.policy_set : nullptr;
      });
  std::shared_ptr<http::Client> mcp_client;
  try {
    mcp_client = std::make_shared<http::Client>(http::ClientOptions{cfg.mcp_ca_file});
  } catch (const std::exception& e) {
    spdlog::critical("cannot load MCP CA file {}: {}", cfg.mcp_ca_file, e.what());
    return 1;
  }
  tools::mcp::SourceOptions mcp_opts;
  mcp_opts.allow_private_urls = cfg.mcp_allow_private_urls;
  for (const auto& m : cfg.mcp_stdio)
    mcp_opts.stdio.push_back(tools::mcp::StdioServer{m.label, m.command, m.args, m.env, m.projects, m.idempotent_tools});
  // A registered server's credential comes from the vault at call time: an OAuth account's access
  // token (refreshed when due) for a configured OAuth provider, else the stored value.
  auto oauth_slot = std::make_shared<identity::OAuth*>(nullptr);
  tools::CredentialFetcher fetch_credential = [&vault, oauth_slot](std::string project, std::string kind, std::string id,
                                                                    std::string provider, std::string run, std::string actor) {
    return fetch_credential_for_tool(&vault, *oauth_slot, std::move(project), identity::SecretOwner{std::move(kind), std::move(id)},
                                     std::move(provider), std::move(run), std::move(actor));
  };
  tools::ToolServerOptions tso;
  tso.allow_private = cfg.mcp_allow_private_urls;
  tso.client = mcp_client.get();
  tso.redirect_uri = cfg.oauth_redirect_uri;
  tso.register_provider = [oauth_slot](tools::OAuthRegistration r) { return register_oauth_provider(*oauth_slot, std::move(r)); };
  auto tool_servers = std::make_shared<tools::ToolServers>(**store, fetch_credential, std::move(tso));
  if (Status st = tool_servers->load(); !st.ok()) {
    spdlog::critical("loading tool servers: {}", st.message());
    return 1;
  }
  ro.tool_sources.push_back(std::make_shared<tools::mcp::McpToolSource>(*mcp_client, mcp_opts, tool_servers));
  std::shared_ptr<tools::sandbox::Sandbox> sandbox;  // null: sandboxing disabled
  if (cfg.sandbox_enabled) {
    tools::sandbox::Options so;
    so.root = (std::filesystem::path(cfg.data_dir) / "sandbox").string();
    so.allow_network = cfg.sandbox_network;
    so.limits.cpu_seconds = cfg.sandbox_cpu_seconds;
    so.limits.memory_bytes = static_cast<int64_t>(cfg.sandbox_memory_mib) << 20;
    so.limits.max_processes = cfg.sandbox_max_processes;
    so.limits.wall = std::chrono::milliseconds(cfg.sandbox_wall_ms);
    so.limits.max_output_bytes = static_cast<size_t>(cfg.sandbox_max_output_kib) << 10;
    so.warm_pool = cfg.sandbox_warm_pool;
    so.network_projects = cfg.sandbox_network_projects;
    sandbox = std::make_shared<tools::sandbox::Sandbox>(so);
    if (!sandbox->available()) spdlog::warn("code sandbox: bubblewrap is not installed; the code_interpreter tool is unavailable");
    sandbox->warm();
    ro.tool_sources.push_back(std::make_shared<tools::sandbox::CodeToolSource>(sandbox));
  }
  // Online evaluation records completed turns, but reads through the runtime: it joins the
  // ledgers through a slot filled once it exists.
  auto online_slot = std::make_shared<LateLedger>();
  ro.ledgers.push_back(online_slot);
  ro.shared_store = !so.url.empty();
  // Many nodes: announcements between them (store/notifier.hpp), listened for once every
  // component registered its handlers.
  if (ro.shared_store) ro.notifier = std::make_shared<store::Notifier>(so.url);
  runtime::Runtime rt(io, **store, models, ro, &mem);
  team->attach(&rt, limiter.enabled() ? &limiter : nullptr);
  // Many nodes on one PostgreSQL store: this node's lease, fencing, and the takeover of what dead
  // nodes left (cluster/membership.hpp).
  std::unique_ptr<cluster::Membership> membership;
  cluster::ConfigFollower follower;  // reads configuration other nodes changed (loaders added below)
  if (ro.shared_store) {
    cluster::MembershipOptions mo;
    mo.node_id = this_node();
    mo.address = cfg.listen;
    mo.heartbeat = std::chrono::milliseconds(cfg.cluster_heartbeat_ms);
    mo.lease = std::chrono::milliseconds(cfg.cluster_lease_ms);
    mo.run_owners = [&rt] { return rt.run_owners(); };
    mo.take_over = [&rt](const std::string& node) { return rt.take_over(node); };
    mo.tick = [&io, &keys] { net::co_spawn(io, keys.reload(), net::detached); };
    mo.on_fenced = [] {
      // Another node owns this node's runs now: nothing more is written, and the process ends
      // (its supervisor starts it again as a new node).
      spdlog::critical("exiting: this node lost its lease");
      spdlog::default_logger()->flush();
      std::_Exit(75);
    };
    ro.notifier->on("keys", [&io, &keys](std::string_view) { net::co_spawn(io, keys.reload(), net::detached); });
    ro.notifier->on("mem", [&mem](std::string_view) { mem.on_changed(); });
    ro.notifier->on("cfg", [&follower](std::string_view topic) { follower.changed(topic); });
    if (Status st = ro.notifier->start(); !st.ok()) {
      spdlog::critical("cluster: {}", st.message());
      return 1;
    }
    membership = std::make_unique<cluster::Membership>(**store, mo);
    if (Status st = membership->join(); !st.ok()) {
      spdlog::critical("cluster: joining failed: {}", st.message());
      return 1;
    }
  }
  if (Status st = rt.recover(); store::is_storage_full(st)) {
    // Start read-only: reads are served; the interrupted responses are marked when space returns.
    (*store)->mark_full();
    (*store)->when_writable([&io, &rt] {
      net::post(io, [&rt] {
        if (Status again = rt.recover(); !again.ok()) spdlog::error("recovery: {}", again.message());
      });
    });
  } else if (!st.ok()) {
    spdlog::critical("recovery: {}", st.message());
    return 1;
  }
  evals::Evals evals(io, **store, models, rt, {}, sandbox, &mem);
  evals.set_agent_sampler(team);
  if (Status st = evals.load(); !st.ok()) {
    spdlog::critical("resuming eval runs: {}", st.message());
    return 1;
  }
  evals::OnlineEvals online(**store, rt, evals);
  if (Status st = online.load(); !st.ok()) {
    spdlog::critical("loading online evaluations: {}", st.message());
    return 1;
  }
  online.set_notifier([hooks](const std::string& project, const std::string& agent, boost::json::object data) {
    hooks->emit(project, agent, "agent.eval.below_threshold", std::move(data));
  });
  online_slot->to = &online;
  app::register_online_gauges(*metrics, online);

  auto providers = oauth_providers(cfg);
  if (!providers.ok()) {
    spdlog::critical("{}", providers.status().message());
    return 1;
  }
  auto oauth_client = client;  // the upstream client trusts the system CAs and upstream.ca_file
  identity::OAuth oauth(**store, vault, std::move(*providers),
                        [oauth_client](std::string url, std::string form) -> net::awaitable<Result<identity::OAuth::Answer>> {
                          http::ClientRequest req;
                          req.url = std::move(url);
                          req.body = std::move(form);
                          req.headers = {{"content-type", "application/x-www-form-urlencoded"}, {"accept", "application/json"}};
                          req.timeout = std::chrono::seconds(15);
                          auto r = co_await oauth_client->call(std::move(req));
                          if (!r.ok()) co_return r.status();
                          co_return identity::OAuth::Answer{r->status, std::move(r->body)};
                        });
  if (Status st = oauth.load(); !st.ok()) {
    spdlog::critical("loading OAuth providers: {}", st.message());
    return 1;
  }
  *oauth_slot = &oauth;
  if (ro.shared_store) {
    follower.add("agent_defs", [&] { return agent_defs.load(); });
    follower.add("agents", [&] { return agents.load(); });
    follower.add("policies", [&] { return policies.load(); });
    follower.add("tool_servers", [&] { return tool_servers->load(); });
    follower.add("webhooks", [&] { return hooks->load(); });
    follower.add("oauth_providers", [&] { return oauth.load(); });
    follower.add("gates", [&] { return evals.load_gates(); });
    follower.add("schedules", [&] { return schedules.load(); });
  }

  http::ServerOptions ho;
  ho.host = host;
  ho.port = static_cast<uint16_t>(port);
  ho.max_body_bytes = cfg.max_body_bytes;
  ho.max_header_bytes = cfg.max_header_bytes;
  ho.idle_timeout = std::chrono::milliseconds(cfg.idle_timeout_ms);
  ho.request_timeout = std::chrono::milliseconds(cfg.request_timeout_ms);
  ho.ws_idle_timeout = std::chrono::milliseconds(cfg.websocket_idle_timeout_ms);
  ho.ws_max_message_bytes = cfg.websocket_max_message_bytes;
  ho.ws_max_queued_bytes = cfg.websocket_max_queued_bytes;
  ho.ws_max_lane_bytes = cfg.websocket_max_lane_bytes;
  ho.tls_cert_file = cfg.tls_cert_file;
  ho.max_connections = fds.max_connections;
  ho.tls_key_file = cfg.tls_key_file;
  if (cfg.tls_cert_file.empty() != cfg.tls_key_file.empty()) {
    spdlog::critical("TLS needs both a certificate and a key (tls.cert_file and tls.key_file)");
    return 2;
  }
  http::Router router;
  api::Options api_opts;
  api_opts.max_export_bytes = cfg.max_body_bytes;
  api_opts.governor = governor.get();
  api::install(router, api::Services{rt, auth, keys, tenants, &mem, &vault, &oauth, &policies, tool_servers.get(), &agent_defs, metrics.get(), usage.get(), hooks.get(), &schedules, &evals, &online},
               api_opts);
  {
    api::PassthroughOptions po;
    po.base_url = cfg.upstream_url.value_or("");
    po.api_key = cfg.upstream_api_key.value_or("");
    po.client = client.get();
    po.timeout = std::chrono::milliseconds(cfg.upstream_timeout_ms);
    po.models = &models;
    po.counter = token_counter.get();
    api::install_passthrough(router, auth, po);
  }
  http::Server server(io, ho, std::move(router));
  app::register_gauges(*metrics, rt, **store, server, *governor);
  if (Status st = server.start(); !st.ok()) {
    spdlog::critical("{}", st.message());
    return 1;
  }
  hooks->start(io);
  schedules.start(io);
  if (tracer) tracer->start(io);
  if (Status st = mem.start(); !st.ok()) {
    spdlog::critical("memory: {}", st.message());
    return 1;
  }
  governor->start(io);
  if (membership) membership->start();
  follower.start();  // after the last early return: its loaders use what is declared after it
  spdlog::info("budgets: chain cache {} MiB, finished runs' events {} MiB, conversations {} MiB, in-flight input {} MiB;"
               " shedding above {} MiB resident (now {} MiB) or {} ms of I/O lag; {} connections ({} of {} open files"
               " reserved){}",
               cfg.chain_cache_bytes >> 20, cfg.run_events_bytes >> 20, cfg.conversation_cache_bytes >> 20,
               cfg.max_inflight_bytes >> 20, go.max_rss_bytes >> 20, admission::Governor::resident_bytes() >> 20,
               cfg.max_loop_lag_ms, fds.max_connections, fds.reserved, fds.soft,
               cfg.max_db_bytes > 0 ? fmt::format("; database capped at {} MiB", cfg.max_db_bytes >> 20) : std::string());
  spdlog::info("continuum listening on {}://{}:{} (data: {}, {} threads)", cfg.tls_cert_file.empty() ? "http" : "https",
               host, server.port(), cfg.data_dir, threads);

  // Retention sweeper.
  if (cfg.retention_seconds > 0) {
    net::co_spawn(io, [&]() -> net::awaitable<void> {
      auto ex = co_await net::this_coro::executor;
      net::steady_timer t(ex);
      auto period = std::chrono::seconds(std::clamp<int64_t>(cfg.retention_seconds / 4, 1, 60));
      for (;;) {
        t.expires_after(period);
        auto [ec] = co_await t.async_wait(net::as_tuple(net::use_awaitable));
        if (ec) co_return;
        auto r = co_await rt.expire_now();
        if (!r.ok()) spdlog::warn("retention sweep failed: {}", r.status().message());
      }
    }, net::detached);
  }

  // Idle expiry: cached state unused for cache_idle_seconds is dropped, and the store's
  // connections give their page memory back, so a server returns to its idle footprint once the
  // load stops (the budgets bound it while the load lasts).
  if (cfg.cache_idle_seconds > 0) {
    net::co_spawn(io, [&]() -> net::awaitable<void> {
      auto ex = co_await net::this_coro::executor;
      net::steady_timer t(ex);
      const auto idle = std::chrono::seconds(cfg.cache_idle_seconds);
      for (;;) {
        t.expires_after(std::clamp<std::chrono::seconds>(idle / 4, std::chrono::seconds(1), std::chrono::seconds(15)));
        auto [ec] = co_await t.async_wait(net::as_tuple(net::use_awaitable));
        if (ec) co_return;
        auto d = rt.drop_idle(std::chrono::steady_clock::now() - idle);
        if (!d.any()) continue;
        spdlog::debug("idle: dropped {} chain nodes, {} finished runs, {} conversations", d.nodes, d.runs,
                      d.conversations);
        (*store)->release_memory();
      }
    }, net::detached);
  }

  net::signal_set signals(io, SIGINT, SIGTERM);
  net::signal_set hup(io, SIGHUP);
  std::signal(SIGPIPE, SIG_IGN);
  signals.async_wait([&](boost::system::error_code ec, int sig) {
    if (ec) return;
    spdlog::info("signal {}: shutting down (grace {} ms)", sig, cfg.shutdown_grace_ms);
    governor->draining();
    server.stop_accepting();
    net::co_spawn(io, [&]() -> net::awaitable<void> {
      evals.stop();
      online.stop();
      online_slot->to = nullptr;
      co_await rt.shutdown(std::chrono::milliseconds(cfg.shutdown_grace_ms));
      if (tracer) co_await tracer->flush_and_stop();
      mem.stop();
      hooks->stop();
      schedules.stop();
      // Let answers in flight reach their clients, then close what is left.
      auto ex = co_await net::this_coro::executor;
      net::steady_timer t(ex);
      for (int i = 0; i < 100 && server.open_connections() > 0; ++i) {
        t.expires_after(std::chrono::milliseconds(20));
        co_await t.async_wait(net::as_tuple(net::use_awaitable));
      }
      server.close_all();
      hup.cancel();
      io.stop();
    }, net::detached);
  });

  // SIGHUP: re-read the TLS certificate and key (a renewed certificate, without a restart).
  std::function<void(boost::system::error_code, int)> on_hup = [&](boost::system::error_code ec, int) {
    if (ec) return;
    if (cfg.tls_cert_file.empty()) {
      spdlog::info("SIGHUP: no TLS configured; nothing to reload");
    } else if (Status st = server.reload_tls(); st.ok()) {
      spdlog::info("SIGHUP: TLS certificate reloaded from {}", cfg.tls_cert_file);
    } else {
      spdlog::error("SIGHUP: TLS reload failed, keeping the current certificate: {}", st.message());
    }
    hup.async_wait(on_hup);
  };
  hup.async_wait(on_hup);

  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back([&] { io.run(); });
  io.run();
  for (auto& t : pool) t.join();
  follower.stop();
  if (membership) membership->leave();  // the runs drained: others may take what is left at once
  if (ro.notifier) ro.notifier->stop();
  client->clear_pool();
  if (rewrapper.joinable()) rewrapper.join();
  if (encodings_loader.joinable()) encodings_loader.join();
  (*store)->stop();
  spdlog::info("stopped; store flushed");
  return 0;
}
