// Configuration: defaults, the TOML file, the environment and flags, with range checks.
#include "app/config.hpp"
#include "base/ids.hpp"

#include <algorithm>
#include <cctype>

#include <toml++/toml.h>

#include <cstdlib>

namespace cn::app {

Status load_toml(const std::string& path, Config& cfg) {
  toml::table t;
  try {
    t = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    return Status(Code::invalid_argument, "config " + path + ": " + std::string(e.description()));
  }
  auto str = [&](std::string_view k, std::string& out) {
    if (auto v = t.at_path(k).value<std::string>()) out = *v;
  };
  auto i64 = [&](std::string_view k, auto& out) {
    if (auto v = t.at_path(k).value<int64_t>()) out = static_cast<std::remove_reference_t<decltype(out)>>(*v);
  };
  str("listen", cfg.listen);
  str("data", cfg.data_dir);
  str("store", cfg.store);
  i64("cluster.heartbeat_ms", cfg.cluster_heartbeat_ms);
  i64("cluster.lease_ms", cfg.cluster_lease_ms);
  if (cfg.cluster_heartbeat_ms < 50 || cfg.cluster_lease_ms < 2 * cfg.cluster_heartbeat_ms)
    return Status(Code::invalid_argument, "config " + path + ": cluster.heartbeat_ms must be at least 50, and cluster.lease_ms at least twice it");
  str("log.level", cfg.log_level);
  if (auto v = t.at_path("log.json").value<bool>()) cfg.log_json = *v;
  i64("threads", cfg.threads);
  str("tls.cert_file", cfg.tls_cert_file);
  str("tls.key_file", cfg.tls_key_file);
  i64("limits.max_body_bytes", cfg.max_body_bytes);
  i64("limits.max_header_bytes", cfg.max_header_bytes);
  i64("limits.idle_timeout_ms", cfg.idle_timeout_ms);
  i64("limits.request_timeout_ms", cfg.request_timeout_ms);
  i64("limits.websocket_idle_timeout_ms", cfg.websocket_idle_timeout_ms);
  i64("limits.websocket_max_message_bytes", cfg.websocket_max_message_bytes);
  i64("limits.websocket_max_queued_bytes", cfg.websocket_max_queued_bytes);
  i64("limits.websocket_max_lane_bytes", cfg.websocket_max_lane_bytes);
  if (cfg.websocket_idle_timeout_ms < 1000 || cfg.websocket_max_message_bytes < 1024 || cfg.websocket_max_lane_bytes < 1024 ||
      cfg.websocket_max_queued_bytes < cfg.websocket_max_lane_bytes)
    return Status(Code::invalid_argument, "config " + path + ": websocket limits: the idle timeout is at least 1000 ms, the sizes at least 1024 bytes, and the queue at least one lane's bytes");
  i64("limits.max_active_runs", cfg.max_active_runs);
  i64("limits.max_waiting_per_line", cfg.max_waiting_per_line);
  i64("limits.run_deadline_ms", cfg.run_deadline_ms);
  i64("limits.tool_timeout_ms", cfg.tool_timeout_ms);
  if (cfg.tool_timeout_ms < 1 || cfg.tool_timeout_ms > 3'600'000)
    return Status(Code::invalid_argument, "config " + path + ": limits.tool_timeout_ms must be between 1 and 3600000");
  i64("limits.shutdown_grace_ms", cfg.shutdown_grace_ms);
  i64("limits.key_requests_per_minute", cfg.key_requests_per_minute);
  i64("limits.user_requests_per_minute", cfg.user_requests_per_minute);
  i64("limits.project_tokens_per_day", cfg.project_tokens_per_day);
  if (cfg.key_requests_per_minute < 0 || cfg.user_requests_per_minute < 0 || cfg.project_tokens_per_day < 0)
    return Status(Code::invalid_argument, "config " + path + ": rate limits must not be negative");
  i64("storage.retention_seconds", cfg.retention_seconds);
  i64("storage.chain_cache_nodes", cfg.chain_cache_nodes);
  i64("storage.chain_cache_bytes", cfg.chain_cache_bytes);
  i64("storage.run_events_bytes", cfg.run_events_bytes);
  i64("storage.conversation_cache_bytes", cfg.conversation_cache_bytes);
  i64("storage.cache_idle_seconds", cfg.cache_idle_seconds);
  if (cfg.cache_idle_seconds < 0)
    return Status(Code::invalid_argument, "config " + path + ": storage.cache_idle_seconds must not be negative");
  i64("storage.max_db_bytes", cfg.max_db_bytes);
  i64("storage.disk_warn_bytes", cfg.disk_warn_bytes);
  i64("limits.max_connections", cfg.max_connections);
  i64("limits.max_inflight_bytes", cfg.max_inflight_bytes);
  i64("limits.max_rss_bytes", cfg.max_rss_bytes);
  i64("limits.max_loop_lag_ms", cfg.max_loop_lag_ms);
  i64("limits.target_loop_lag_ms", cfg.target_loop_lag_ms);
  if (auto v = t.at_path("limits.max_model_latency_ratio").value<double>()) {
    if (*v != 0 && *v < 1.5)
      return Status(Code::invalid_argument, "config " + path + ": limits.max_model_latency_ratio must be 0 (off) or at least 1.5");
    cfg.max_model_latency_ratio = *v;
  }
  if (cfg.max_loop_lag_ms < 0 || cfg.target_loop_lag_ms < 0 || cfg.max_db_bytes < 0)
    return Status(Code::invalid_argument, "config " + path + ": limits.max_loop_lag_ms, limits.target_loop_lag_ms and storage.max_db_bytes must not be negative");
  if (auto v = t.at_path("upstream.url").value<std::string>()) cfg.upstream_url = *v;
  if (auto v = t.at_path("upstream.api_key").value<std::string>()) cfg.upstream_api_key = *v;
  str("upstream.ca_file", cfg.upstream_ca_file);
  if (auto v = t.at_path("mcp.allow_private_urls").value<bool>()) cfg.mcp_allow_private_urls = *v;
  if (auto v = t.at_path("webhooks.allow_private_urls").value<bool>()) cfg.webhooks_allow_private_urls = *v;
  str("mcp.ca_file", cfg.mcp_ca_file);
  if (auto* arr = t.at_path("mcp.stdio").as_array()) {
    for (auto& e : *arr) {
      auto* tbl = e.as_table();
      if (!tbl) return Status(Code::invalid_argument, "config " + path + ": [[mcp.stdio]] entries must be tables");
      Config::StdioMcp m;
      auto strs = [&](const char* key, std::vector<std::string>& out) -> bool {
        auto* a = (*tbl)[key].as_array();
        if (!a) return (*tbl)[key].node() == nullptr;
        for (auto& v : *a) {
          auto sv = v.value<std::string>();
          if (!sv) return false;
          out.push_back(*sv);
        }
        return true;
      };
      m.label = (*tbl)["label"].value_or(std::string());
      m.command = (*tbl)["command"].value_or(std::string());
      if (!valid_id_syntax(m.label, 64) || m.command.empty())
        return Status(Code::invalid_argument, "config " + path + ": [[mcp.stdio]] needs a label (letters, digits, '_', '-') and a command");
      if (!strs("args", m.args) || !strs("projects", m.projects) || !strs("idempotent_tools", m.idempotent_tools))
        return Status(Code::invalid_argument, "config " + path + ": [[mcp.stdio]] " + m.label + ": args, projects and idempotent_tools are lists of strings");
      if (auto* env = (*tbl)["env"].as_table())
        for (auto& [k, v] : *env)
          if (auto sv = v.value<std::string>()) m.env.emplace_back(std::string(k.str()), *sv);
      cfg.mcp_stdio.push_back(std::move(m));
    }
  }
  if (auto v = t.at_path("sandbox.enabled").value<bool>()) cfg.sandbox_enabled = *v;
  if (auto v = t.at_path("sandbox.network").value<bool>()) cfg.sandbox_network = *v;
  if (auto v = t.at_path("sandbox.warm_pool").value<int64_t>()) {
    if (*v < 0 || *v > 64) return Status(Code::invalid_argument, "config " + path + ": sandbox.warm_pool must be between 0 and 64");
    cfg.sandbox_warm_pool = static_cast<int>(*v);
  }
  if (auto* arr = t.at_path("sandbox.network_projects").as_array()) {
    for (auto& e : *arr) {
      auto s = e.value<std::string>();
      if (!s) return Status(Code::invalid_argument, "config " + path + ": sandbox.network_projects must be a list of project ids");
      cfg.sandbox_network_projects.push_back(*s);
    }
  }
  for (auto [k, dst] : {std::pair{"sandbox.cpu_seconds", &cfg.sandbox_cpu_seconds}, {"sandbox.memory_mib", &cfg.sandbox_memory_mib},
                        {"sandbox.max_processes", &cfg.sandbox_max_processes}, {"sandbox.wall_ms", &cfg.sandbox_wall_ms},
                        {"sandbox.max_output_kib", &cfg.sandbox_max_output_kib}}) {
    if (auto v = t.at_path(k).value<int64_t>()) {
      if (*v < 1 || *v > 1'000'000) return Status(Code::invalid_argument, "config " + path + ": " + k + " must be between 1 and 1000000");
      *dst = static_cast<int>(*v);
    }
  }
  i64("upstream.timeout_ms", cfg.upstream_timeout_ms);
  i64("upstream.attempts", cfg.upstream_attempts);
  i64("models.default_context_window", cfg.default_context_window);
  str("memory.extraction_model", cfg.memory_extraction_model);
  str("memory.extraction_prompt", cfg.memory_extraction_prompt);
  str("memory.consolidation_prompt", cfg.memory_consolidation_prompt);
  str("embeddings.model", cfg.embeddings_model);
  str("embeddings.url", cfg.embeddings_url);
  str("embeddings.api_key", cfg.embeddings_api_key);
  if (auto v = t.at_path("memory.facts").value<bool>()) cfg.memory_facts = *v;
  if (auto v = t.at_path("memory.preferences").value<bool>()) cfg.memory_preferences = *v;
  if (auto v = t.at_path("memory.summary").value<bool>()) cfg.memory_summary = *v;
  i64("memory.max_concurrent_jobs", cfg.memory_max_jobs);
  str("memory.facts_scope", cfg.memory_facts_scope);
  str("memory.preferences_scope", cfg.memory_preferences_scope);
  str("memory.summary_scope", cfg.memory_summary_scope);
  for (const auto& [key, scope] : {std::pair{"memory.facts_scope", cfg.memory_facts_scope},
                                   std::pair{"memory.preferences_scope", cfg.memory_preferences_scope},
                                   std::pair{"memory.summary_scope", cfg.memory_summary_scope}})
    if (scope != "user" && scope != "agent" && scope != "session")
      return Status(Code::invalid_argument, "config " + path + ": " + key + " must be \"user\", \"agent\" or \"session\"");
  i64("memory.injection_top_k", cfg.memory_injection_top_k);
  i64("memory.injection_token_budget", cfg.memory_injection_token_budget);
  i64("memory.index.hnsw_threshold", cfg.memory_hnsw_threshold);
  i64("memory.index.m", cfg.memory_hnsw_m);
  i64("memory.index.ef_construction", cfg.memory_hnsw_ef_construction);
  i64("memory.index.ef_search", cfg.memory_hnsw_ef_search);
  i64("memory.index.build_threads", cfg.memory_index_build_threads);
  i64("memory.index.budget_mib", cfg.memory_index_budget_mib);
  i64("memory.index.save_interval_s", cfg.memory_index_save_interval_s);
  if (auto v = t.at_path("memory.index.warm_at_start").value<bool>()) cfg.memory_warm_indexes = *v;
  struct Range {
    const char* key;
    int value, min, max;
  };
  for (const Range& r : {Range{"memory.max_concurrent_jobs", cfg.memory_max_jobs, 1, 64},
                         Range{"memory.injection_top_k", cfg.memory_injection_top_k, 0, 50},
                         Range{"memory.injection_token_budget", cfg.memory_injection_token_budget, 0, 100'000},
                         Range{"memory.index.hnsw_threshold", cfg.memory_hnsw_threshold, 0, 10'000'000},
                         Range{"memory.index.m", cfg.memory_hnsw_m, 4, 64},
                         Range{"memory.index.ef_construction", cfg.memory_hnsw_ef_construction, 10, 2000},
                         Range{"memory.index.ef_search", cfg.memory_hnsw_ef_search, 10, 5000},
                         Range{"memory.index.build_threads", cfg.memory_index_build_threads, 1, 256},
                         Range{"memory.index.budget_mib", cfg.memory_index_budget_mib, 16, 1 << 30},
                         Range{"memory.index.save_interval_s", cfg.memory_index_save_interval_s, 0, 86'400 * 7}}) {
    if (r.value < r.min || r.value > r.max)
      return Status(Code::invalid_argument, "config " + path + ": " + r.key + " must be between " +
                                                std::to_string(r.min) + " and " + std::to_string(r.max));
  }
  str("vault.master_key_file", cfg.master_key_file);
  str("oidc.issuer", cfg.oidc_issuer);
  str("oidc.audience", cfg.oidc_audience);
  str("oidc.jwks", cfg.oidc_jwks);
  str("oidc.user_claim", cfg.oidc_user_claim);
  str("oidc.project_claim", cfg.oidc_project_claim);
  str("oidc.project", cfg.oidc_project);
  str("oidc.ca_file", cfg.oidc_ca_file);
  str("oauth.redirect_uri", cfg.oauth_redirect_uri);
  str("agents.dir", cfg.agents_dir);
  str("telemetry.otlp_endpoint", cfg.otlp_endpoint);
  str("telemetry.service_name", cfg.service_name);
  i64("telemetry.otlp_interval_ms", cfg.otlp_interval_ms);
  if (auto* headers = t.at_path("telemetry.otlp_headers").as_table())
    for (auto& [k, v] : *headers) {
      auto sv = v.value<std::string>();
      if (!sv) return Status(Code::invalid_argument, "config " + path + ": telemetry.otlp_headers values must be strings");
      cfg.otlp_headers.emplace_back(std::string(k.str()), *sv);
    }
  i64("oidc.leeway_s", cfg.oidc_leeway_s);
  i64("oidc.jwks_ttl_s", cfg.oidc_jwks_ttl_s);
  i64("oidc.jwks_min_refresh_ms", cfg.oidc_jwks_min_refresh_ms);
  if (auto* providers = t.at_path("oauth.providers").as_table()) {
    for (auto& [name, v] : *providers) {
      auto* tbl = v.as_table();
      if (!tbl) return Status(Code::invalid_argument, "config " + path + ": oauth.providers." + std::string(name.str()) + " must be a table");
      auto& out = cfg.oauth_providers[std::string(name.str())];
      for (auto& [k, val] : *tbl)
        if (auto sv = val.value<std::string>()) out[std::string(k.str())] = *sv;
    }
  }
  if (auto* prices = t.at_path("pricing").as_table()) {
    for (auto& [model, v] : *prices) {
      auto* tbl = v.as_table();
      if (!tbl) return Status(Code::invalid_argument, "config " + path + ": pricing." + std::string(model.str()) + " must be a table");
      for (auto& [k, val] : *tbl) {
        auto n = val.value<double>();
        if (!n || *n < 0 || (k.str() != "input" && k.str() != "output" && k.str() != "cached_input"))
          return Status(Code::invalid_argument, "config " + path + ": pricing." + std::string(model.str()) +
                                                    " holds input, output and cached_input: non-negative numbers (per million tokens)");
        cfg.pricing[std::string(model.str())][std::string(k.str())] = *n;
      }
    }
  }
  str("models.encodings_dir", cfg.encodings_dir);
  if (auto* enc = t.at_path("models.encodings").as_table()) {
    for (auto& [k, v] : *enc) {
      auto name = v.value<std::string>();
      if (!name || name->empty() || name->find('/') != std::string::npos)
        return Status(Code::invalid_argument, "config " + path + ": models.encodings maps model names to encoding names (\"o200k_base\")");
      cfg.encodings[std::string(k.str())] = *name;
    }
  }
  if (auto* models = t.at_path("models.context_windows").as_table()) {
    for (auto& [k, v] : *models)
      if (auto n = v.value<int64_t>()) cfg.context_windows[std::string(k.str())] = *n;
  }
  return {};
}

void apply_env(Config& cfg) {
  if (const char* v = std::getenv("CONTINUUM_API_KEY"); v && *v) cfg.bootstrap_key = v;
  if (const char* v = std::getenv("CONTINUUM_UPSTREAM_URL"); v && *v) cfg.upstream_url = v;
  if (const char* v = std::getenv("CONTINUUM_STORE"); v && *v) cfg.store = v;
  if (const char* v = std::getenv("CONTINUUM_UPSTREAM_API_KEY"); v && *v) cfg.upstream_api_key = v;
  if (const char* v = std::getenv("CONTINUUM_UPSTREAM_CA_FILE"); v && *v) cfg.upstream_ca_file = v;
  if (const char* v = std::getenv("CONTINUUM_MCP_ALLOW_PRIVATE_URLS"); v && *v) cfg.mcp_allow_private_urls = std::string(v) == "1" || std::string(v) == "true";
  if (const char* v = std::getenv("CONTINUUM_WEBHOOKS_ALLOW_PRIVATE_URLS"); v && *v)
    cfg.webhooks_allow_private_urls = std::string(v) == "1" || std::string(v) == "true";
  if (const char* v = std::getenv("CONTINUUM_MCP_CA_FILE"); v && *v) cfg.mcp_ca_file = v;
  if (const char* v = std::getenv("CONTINUUM_OAUTH_REDIRECT_URI"); v && *v) cfg.oauth_redirect_uri = v;
  if (const char* v = std::getenv("CONTINUUM_AGENTS_DIR"); v && *v) cfg.agents_dir = v;
  if (const char* v = std::getenv("CONTINUUM_ENCODINGS_DIR"); v && *v) cfg.encodings_dir = v;
  if (const char* v = std::getenv("CONTINUUM_LOG_JSON"); v && *v) cfg.log_json = std::string(v) == "1" || std::string(v) == "true";
  if (const char* v = std::getenv("CONTINUUM_SANDBOX_WARM_POOL"); v && *v) cfg.sandbox_warm_pool = std::clamp(std::atoi(v), 0, 64);
  if (const char* v = std::getenv("CONTINUUM_EMBEDDINGS_MODEL"); v && *v) cfg.embeddings_model = v;
  if (const char* v = std::getenv("CONTINUUM_EMBEDDINGS_URL"); v && *v) cfg.embeddings_url = v;
  if (const char* v = std::getenv("CONTINUUM_EMBEDDINGS_API_KEY"); v && *v) cfg.embeddings_api_key = v;
  if (const char* v = std::getenv("CONTINUUM_TLS_CERT_FILE"); v && *v) cfg.tls_cert_file = v;
  if (const char* v = std::getenv("CONTINUUM_TLS_KEY_FILE"); v && *v) cfg.tls_key_file = v;
  if (const char* v = std::getenv("CONTINUUM_MASTER_KEY"); v && *v) cfg.master_key = v;
  if (const char* v = std::getenv("CONTINUUM_MASTER_KEY_FILE"); v && *v) cfg.master_key_file = v;
  if (const char* v = std::getenv("CONTINUUM_MASTER_KEY_PREVIOUS"); v && *v) {
    std::string all = v;
    size_t start = 0;
    while (start <= all.size()) {
      size_t end = all.find(',', start);
      if (end == std::string::npos) end = all.size();
      if (end > start) cfg.previous_master_keys.push_back(all.substr(start, end - start));
      start = end + 1;
    }
  }
  if (const char* v = std::getenv("CONTINUUM_OIDC_ISSUER"); v && *v) cfg.oidc_issuer = v;
  if (const char* v = std::getenv("CONTINUUM_OIDC_AUDIENCE"); v && *v) cfg.oidc_audience = v;
  if (const char* v = std::getenv("CONTINUUM_OIDC_JWKS"); v && *v) cfg.oidc_jwks = v;
  if (const char* v = std::getenv("CONTINUUM_OIDC_USER_CLAIM"); v && *v) cfg.oidc_user_claim = v;
  if (const char* v = std::getenv("CONTINUUM_OIDC_PROJECT_CLAIM"); v && *v) cfg.oidc_project_claim = v;
  if (const char* v = std::getenv("CONTINUUM_OIDC_PROJECT"); v && *v) cfg.oidc_project = v;
  if (const char* v = std::getenv("CONTINUUM_OIDC_CA_FILE"); v && *v) cfg.oidc_ca_file = v;
  if (const char* v = std::getenv("CONTINUUM_OIDC_JWKS_MIN_REFRESH_MS"); v && *v) cfg.oidc_jwks_min_refresh_ms = std::atoi(v);
  apply_otel_env(cfg);
}

// OpenTelemetry's standard variables for the trace exporter.
void apply_otel_env(Config& cfg) {
  if (const char* v = std::getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"); v && *v) {
    cfg.otlp_endpoint = v;
  } else if (const char* b = std::getenv("OTEL_EXPORTER_OTLP_ENDPOINT"); b && *b) {
    std::string base = b;
    while (!base.empty() && base.back() == '/') base.pop_back();
    cfg.otlp_endpoint = base + "/v1/traces";
  }
  if (const char* v = std::getenv("OTEL_SERVICE_NAME"); v && *v) cfg.service_name = v;
  if (const char* v = std::getenv("OTEL_BSP_SCHEDULE_DELAY"); v && *v) cfg.otlp_interval_ms = std::clamp(std::atoi(v), 10, 600'000);
  const char* h = std::getenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS");
  if (!h || !*h) h = std::getenv("OTEL_EXPORTER_OTLP_HEADERS");
  if (h && *h) {
    // key=value pairs, comma-separated, values percent-encoded.
    auto decode = [](std::string_view s) {
      std::string out;
      for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
            std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
          out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
          i += 2;
        } else {
          out += s[i];
        }
      }
      return out;
    };
    auto trim = [](std::string_view s) {
      while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
      while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
      return s;
    };
    std::string_view all = h;
    while (!all.empty()) {
      size_t comma = all.find(',');
      std::string_view pair = all.substr(0, comma);
      all = comma == std::string_view::npos ? std::string_view() : all.substr(comma + 1);
      size_t eq = pair.find('=');
      if (eq == std::string_view::npos) continue;
      cfg.otlp_headers.emplace_back(decode(trim(pair.substr(0, eq))), decode(trim(pair.substr(eq + 1))));
    }
  }
}

}  // namespace cn::app
