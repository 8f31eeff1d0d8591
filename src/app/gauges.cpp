// Gauges of the runtime, the store, the HTTP server and the admission governor (see gauges.hpp).
#include "app/gauges.hpp"

#include "admission/governor.hpp"
#include "base/log_sink.hpp"
#include "evals/online.hpp"
#include "http/server.hpp"
#include "runtime/runtime.hpp"
#include "store/executor.hpp"
#include "telemetry/metrics.hpp"

namespace cn::app {

void register_gauges(telemetry::Metrics& metrics, runtime::Runtime& rt, store::Executor& store, http::Server& server,
                     admission::Governor& governor) {
  auto runtime_gauge = [&](const char* name, const char* help, auto field) {
    metrics.gauge(name, help, [&rt, field] { return static_cast<double>(rt.stats().*field); });
  };
  runtime_gauge("continuum_active_runs", "Runs queued or running", &runtime::RuntimeStats::active_runs);
  runtime_gauge("continuum_chain_cache_nodes", "Turns held in the hot chain cache", &runtime::RuntimeStats::cached_nodes);
  runtime_gauge("continuum_chain_cache_bytes", "Bytes of chain nodes alive (the cache's and those turns hold)",
                &runtime::RuntimeStats::chain_bytes);
  runtime_gauge("continuum_run_events_bytes", "Bytes of finished runs' events kept for replay",
                &runtime::RuntimeStats::run_events_bytes);
  runtime_gauge("continuum_conversation_cache_bytes", "Bytes of conversations' items held in memory",
                &runtime::RuntimeStats::conversation_bytes);

  metrics.gauge("continuum_store_group_commits", "Group commits made by the store's writer since start",
                [&store] { return static_cast<double>(store.stats().commits); });
  metrics.gauge("continuum_storage_full", "1 while the store is full and the server read-only",
                [&store] { return store.full() ? 1.0 : 0.0; });

  metrics.gauge("continuum_open_connections", "Client connections open",
                [&server] { return static_cast<double>(server.open_connections()); });
  metrics.gauge("continuum_log_lines_dropped", "Log lines dropped since start because stderr's reader was not keeping up",
                [] { return static_cast<double>(NonBlockingSink::dropped()); });
  metrics.gauge("continuum_accept_pauses", "Times accepting paused for want of file descriptors since start",
                [&server] { return static_cast<double>(server.accept_pauses()); });

  auto load_gauge = [&](const char* name, const char* help, auto read) {
    metrics.gauge(name, help, [&governor, read] { return static_cast<double>(read(governor.stats())); });
  };
  load_gauge("continuum_resident_memory_bytes", "Anonymous resident memory of the process (RSS less file-backed pages)",
             [](const admission::GovernorStats& s) { return s.rss_bytes; });
  load_gauge("continuum_inflight_input_bytes", "Input bytes of the turns in progress",
             [](const admission::GovernorStats& s) { return s.inflight_bytes; });
  load_gauge("continuum_turns_shed", "Turns refused with 429 because the server was overloaded, since start",
             [](const admission::GovernorStats& s) { return s.shed; });
  load_gauge("continuum_turn_limit", "The adaptive limit on turns in progress (what the CPU and the model sustain)",
             [](const admission::GovernorStats& s) { return s.turn_limit; });
  load_gauge("continuum_model_latency_ratio",
             "Median time of model calls to their first event over their provider's baseline, last period",
             [](const admission::GovernorStats& s) { return s.model_latency_ratio; });
  load_gauge("continuum_loop_lag_seconds", "How late the I/O threads run a timer (CPU saturation)",
             [](const admission::GovernorStats& s) { return s.loop_lag_ms / 1000.0; });
}

void register_online_gauges(telemetry::Metrics& metrics, evals::OnlineEvals& online) {
  metrics.gauges("continuum_online_eval_pass_rate", "Online evaluation: the pass rate of each agent version's recent graded runs", [&online] {
    telemetry::Metrics::Series out;
    for (const auto& g : online.gauges())
      out.push_back({{{"project", g.project}, {"agent", g.agent}, {"version", std::to_string(g.version)}}, g.pass_rate});
    return out;
  });
  metrics.gauge("continuum_online_eval_skipped", "Online evaluation: samples skipped because too many gradings were waiting",
                 [&online] { return static_cast<double>(online.skipped()); });
  metrics.gauges("continuum_online_eval_graded", "Online evaluation: graded runs of each agent version", [&online] {
    telemetry::Metrics::Series out;
    for (const auto& g : online.gauges())
      out.push_back({{{"project", g.project}, {"agent", g.agent}, {"version", std::to_string(g.version)}}, static_cast<double>(g.graded)});
    return out;
  });
}

}  // namespace cn::app
