// Prometheus metrics (prometheus-cpp's registry, served as text at GET /metrics): HTTP requests
// by route and status, runs by outcome and agent, model calls, tool calls by type and outcome,
// store commits, tokens, with latency histograms; and gauges read when scraped (active runs,
// chain cache, store writes) through sources registered at start-up.
//
// Label values are bounded: routes are patterns (never ids), agents are names, tool types are
// item types. Nothing per conversation, user or key.
//
// Thread-safety: every member is safe from any thread (prometheus-cpp's families lock; gauges
// are set under the scrape lock).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "runtime/observer.hpp"

namespace prometheus {
class Registry;
}

namespace cn::telemetry {

class Metrics final : public runtime::RunObserver {
 public:
  Metrics();
  ~Metrics() override;

  void http_request(std::string_view method, std::string_view route, int status, double seconds);

  // A gauge read at each scrape: name (continuum_...), help, and the function giving its value.
  void gauge(std::string name, std::string help, std::function<double()> read);
  // A family of gauges read at each scrape: `read` gives each series' labels and value.
  using Series = std::vector<std::pair<std::map<std::string, std::string>, double>>;
  void gauges(std::string name, std::string help, std::function<Series()> read);

  // The text exposition format (version 0.0.4).
  std::string scrape();

  void run_finished(std::string_view status, Seconds took, const Usage& usage, std::string_view agent) override;
  void model_call(Seconds took, bool ok) override;
  void tool_call(std::string_view type, bool ok, Seconds took) override;
  void commit(Seconds took, bool ok) override;

 private:
  struct Families;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<Families> f_;
  std::mutex scrape_mu_;
  struct Source;
  struct FamilySource;
  std::vector<Source> sources_;               // guarded by scrape_mu_
  std::vector<FamilySource> family_sources_;  // guarded by scrape_mu_
};

}  // namespace cn::telemetry
