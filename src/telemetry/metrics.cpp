// Metrics (see metrics.hpp) over prometheus-cpp.
#include "telemetry/metrics.hpp"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

namespace cn::telemetry {

namespace pm = prometheus;

namespace {

// Seconds: 1 ms to 2 min.
const pm::Histogram::BucketBoundaries kLatency{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};
// Commits and tool calls are usually faster.
const pm::Histogram::BucketBoundaries kFast{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5, 30};

std::string status_class(int status) { return std::to_string(status / 100) + "xx"; }

}  // namespace

struct Metrics::Families {
  explicit Families(pm::Registry& r)
      : http(pm::BuildCounter().Name("continuum_http_requests_total").Help("HTTP requests answered, by route pattern, method and status class").Register(r)),
        http_latency(pm::BuildHistogram().Name("continuum_http_request_duration_seconds").Help("Time from dispatch to answer (a stream's whole life), by route").Register(r)),
        runs(pm::BuildCounter().Name("continuum_runs_total").Help("Runs ended, by status and agent").Register(r)),
        run_latency(pm::BuildHistogram().Name("continuum_run_duration_seconds").Help("A run's time from start to stored outcome, by status").Register(r)),
        tokens(pm::BuildCounter().Name("continuum_tokens_total").Help("Model tokens, by kind and agent").Register(r)),
        model(pm::BuildCounter().Name("continuum_model_calls_total").Help("Model (upstream) calls, by outcome").Register(r)),
        model_latency(pm::BuildHistogram().Name("continuum_model_call_duration_seconds").Help("One model call, streamed to its end").Register(r)),
        tools(pm::BuildCounter().Name("continuum_tool_calls_total").Help("Server-side tool calls, by item type and outcome").Register(r)),
        tool_latency(pm::BuildHistogram().Name("continuum_tool_call_duration_seconds").Help("One server-side tool call, by item type").Register(r)),
        commits(pm::BuildCounter().Name("continuum_store_commits_total").Help("Turn commits to the store, by outcome").Register(r)),
        commit_latency(pm::BuildHistogram().Name("continuum_store_commit_duration_seconds").Help("A turn's commit, queued to durable").Register(r)),
        gauges(pm::BuildGauge().Name("continuum_info").Help("Build information").Register(r)) {
    gauges.Add({{"version", "0.1.0"}}).Set(1);
  }
  pm::Family<pm::Counter>& http;
  pm::Family<pm::Histogram>& http_latency;
  pm::Family<pm::Counter>& runs;
  pm::Family<pm::Histogram>& run_latency;
  pm::Family<pm::Counter>& tokens;
  pm::Family<pm::Counter>& model;
  pm::Family<pm::Histogram>& model_latency;
  pm::Family<pm::Counter>& tools;
  pm::Family<pm::Histogram>& tool_latency;
  pm::Family<pm::Counter>& commits;
  pm::Family<pm::Histogram>& commit_latency;
  pm::Family<pm::Gauge>& gauges;
};

struct Metrics::Source {
  pm::Gauge* gauge;
  std::function<double()> read;
};

struct Metrics::FamilySource {
  pm::Family<pm::Gauge>* family;
  std::function<Series()> read;
};

Metrics::Metrics() : registry_(std::make_shared<pm::Registry>()), f_(std::make_unique<Families>(*registry_)) {}
Metrics::~Metrics() = default;

void Metrics::http_request(std::string_view method, std::string_view route, int status, double seconds) {
  f_->http.Add({{"method", std::string(method)}, {"route", std::string(route)}, {"status", status_class(status)}}).Increment();
  f_->http_latency.Add({{"route", std::string(route)}}, kLatency).Observe(seconds);
}

void Metrics::gauge(std::string name, std::string help, std::function<double()> read) {
  auto& fam = pm::BuildGauge().Name(std::move(name)).Help(std::move(help)).Register(*registry_);
  std::lock_guard lk(scrape_mu_);
  sources_.push_back(Source{&fam.Add({}), std::move(read)});
}

void Metrics::gauges(std::string name, std::string help, std::function<Series()> read) {
  auto& fam = pm::BuildGauge().Name(std::move(name)).Help(std::move(help)).Register(*registry_);
  std::lock_guard lk(scrape_mu_);
  family_sources_.push_back(FamilySource{&fam, std::move(read)});
}

std::string Metrics::scrape() {
  std::lock_guard lk(scrape_mu_);
  for (auto& s : sources_) s.gauge->Set(s.read());
  for (auto& f : family_sources_)
    for (auto& [labels, value] : f.read()) f.family->Add(labels).Set(value);
  pm::TextSerializer text;
  return text.Serialize(registry_->Collect());
}

void Metrics::run_finished(std::string_view status, Seconds took, const Usage& usage, std::string_view agent) {
  std::string st(status), ag(agent);
  f_->runs.Add({{"status", st}, {"agent", ag}}).Increment();
  f_->run_latency.Add({{"status", st}}, kLatency).Observe(took.count());
  if (usage.input_tokens > 0) f_->tokens.Add({{"kind", "input"}, {"agent", ag}}).Increment(static_cast<double>(usage.input_tokens));
  if (usage.output_tokens > 0) f_->tokens.Add({{"kind", "output"}, {"agent", ag}}).Increment(static_cast<double>(usage.output_tokens));
}

void Metrics::model_call(Seconds took, bool ok) {
  f_->model.Add({{"outcome", ok ? "ok" : "error"}}).Increment();
  f_->model_latency.Add({}, kLatency).Observe(took.count());
}

void Metrics::tool_call(std::string_view type, bool ok, Seconds took) {
  std::string t(type);
  f_->tools.Add({{"type", t}, {"outcome", ok ? "ok" : "error"}}).Increment();
  f_->tool_latency.Add({{"type", t}}, kFast).Observe(took.count());
}

void Metrics::commit(Seconds took, bool ok) {
  f_->commits.Add({{"outcome", ok ? "ok" : "error"}}).Increment();
  f_->commit_latency.Add({}, kFast).Observe(took.count());
}

}  // namespace cn::telemetry
