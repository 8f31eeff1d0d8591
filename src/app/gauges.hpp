// The server's gauges on /metrics: runs and caches (the runtime), the store, connections (the
// HTTP server), load (the admission governor) and online evaluation. Each is read when /metrics is scraped.
#pragma once

namespace cn {
namespace telemetry {
class Metrics;
}
namespace runtime {
class Runtime;
}
namespace store {
class Executor;
}
namespace http {
class Server;
}
namespace admission {
class Governor;
}
namespace evals {
class OnlineEvals;
}
}  // namespace cn

namespace cn::app {

// Registers the gauges; every argument must outlive `metrics`' last scrape.
void register_gauges(telemetry::Metrics& metrics, runtime::Runtime& rt, store::Executor& store, http::Server& server,
                     admission::Governor& governor);
// Online evaluation's gauges: each agent version's pass rate and graded runs, and skipped samples.
void register_online_gauges(telemetry::Metrics& metrics, evals::OnlineEvals& online);

}  // namespace cn::app
