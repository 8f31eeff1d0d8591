// Admission control: whether the server takes on a new turn now, and whether it is ready for
// traffic at all.
//
// The Governor is the runtime's `Admission` (runtime/runtime.hpp). A turn is refused at once,
// before anything is read or any model called:
//   - 503 storage_full (Retry-After) when the turn would write and the store is full;
//   - 429 server_overloaded (Retry-After) when in-flight turns hold more input bytes than their
//     budget, when the process's resident memory is above its limit, when the I/O threads are
//     lagging (a timer that fires late by more than max_loop_lag: the CPU is saturated and
//     every admitted turn is already slowed down), or when the turns in progress reach the
//     adaptive limit (see GovernorOptions::target_loop_lag and max_model_latency_ratio): what
//     the CPU and the model kept up with just before.
// Admitted turns keep their latency because the excess is shed instead of queued.
//
// Readiness (`/readyz`) is false while shedding, while the store is full (the server is
// read-only) and while it shuts down; liveness (`/healthz`) stays true throughout.
//
// The sampler (start()) runs on the io_context: every 50 ms it measures the loop's lag and the
// RSS; every few seconds the free space of the data directory, warning (rate-limited) when it
// falls under disk_warn_bytes. Thread-safe.
#pragma once

#include <boost/asio/io_context.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "runtime/runtime.hpp"

namespace cn::store {
class Executor;
}

namespace cn::admission {

struct GovernorOptions {
  size_t max_inflight_bytes = 64u << 20;  // input bytes of turns in progress (0: no bound)
  int64_t max_rss_bytes = 0;              // resident memory beyond which turns are shed (0: none)
  std::chrono::milliseconds max_loop_lag{250};  // I/O thread lag beyond which turns are shed (0: off)
  // The adaptive limit on turns in progress: it starts at `initial_turns`, grows while turns
  // use most of it and the I/O threads keep within `target_loop_lag`, and shrinks when they do
  // not — so a burst is met by what the CPU sustained just before, not by a fixed cap
  // (`max_turns`, the runtime's max_active_runs, bounds it). target_loop_lag 0: no adaptive limit.
  std::chrono::milliseconds target_loop_lag{50};
  // The model's side of the adaptive limit. Each model call's time to its first event is taken
  // over its provider's baseline (the least such time seen lately, plus 10 ms; it drifts up by
  // about 2% a second, so a provider that has become slower for everyone sets a new baseline).
  // When the median of a period's ratios is above max_model_latency_ratio, turns are waiting in
  // the model's queue: the limit falls as on I/O lag. It grows only in periods whose model
  // calls kept up. 0: the model's latency is not watched.
  double max_model_latency_ratio = 3.0;
  int64_t initial_turns = 32;
  int64_t min_turns = 32;
  int64_t max_turns = 1024;
  int retry_after_seconds = 1;
  std::string data_dir;                   // whose free space is watched ("" = not watched)
  int64_t disk_warn_bytes = 512ll << 20;  // warn when free space falls below
};

struct GovernorStats {
  int64_t inflight_bytes = 0;
  int64_t inflight_turns = 0;
  int64_t rss_bytes = 0;
  double loop_lag_ms = 0;
  int64_t turn_limit = 0;        // the adaptive limit on turns in progress now
  double model_latency_ratio = 0;  // the last period's median first-event time over baseline
  int64_t disk_free_bytes = -1;  // -1: not measured
  uint64_t shed = 0;             // turns refused with 429 since start
  bool ready = true;
};

class Governor final : public runtime::Admission, public std::enable_shared_from_this<Governor> {
 public:
  // `store` (may be null) tells whether the storage is full; it must outlive the Governor.
  Governor(GovernorOptions opts, store::Executor* store);

  Result<std::shared_ptr<void>> admit(size_t input_bytes, bool writes) override;
  void model_latency(const std::string& provider, std::chrono::microseconds first_event) override;

  // Starts the sampler on `io`; it stops when stop() is called or the io_context stops.
  void start(boost::asio::io_context& io);
  void stop();
  // Marks the server as shutting down (not ready).
  void draining() { draining_.store(true); }

  // Ready for new traffic; `why` says what is wrong when not.
  bool ready(std::string* why = nullptr) const;
  GovernorStats stats() const;

  // The anonymous resident memory of this process, in bytes: its resident set less file-backed
  // pages (/proc/self/statm).
  static int64_t resident_bytes();
  // 3/4 of the memory this process may use: the cgroup's limit when there is one, else the
  // machine's physical memory.
  static int64_t default_rss_limit();

 private:
  // Why a new turn (or, for readiness, any new work) would be shed now, or "" when it would not.
  // The adaptive limit counts for new turns only: reaching it is not a reason to be unready.
  std::string overload_reason(size_t input_bytes, bool new_turn) const;
  void sample_disk();

  const GovernorOptions opts_;
  store::Executor* const store_;
  std::atomic<int64_t> inflight_bytes_{0}, inflight_turns_{0};
  std::atomic<int64_t> rss_{0};
  std::atomic<int64_t> lag_us_{0};
  std::atomic<int64_t> turn_limit_;
  // The sampler's step of the adaptive limit, given the lag it just measured.
  void adapt(std::chrono::microseconds late);
  // The median of the model-latency ratios reported since the last call (0: fewer than three).
  double take_model_ratio();
  std::mutex lat_mu_;
  std::unordered_map<std::string, double> baseline_ms_;  // guarded by lat_mu_, per provider
  std::vector<double> ratios_;                          // guarded by lat_mu_: this period's
  std::atomic<int64_t> model_ratio_milli_{0};
  std::atomic<int64_t> disk_free_{-1};
  std::atomic<uint64_t> shed_{0};
  std::atomic<bool> draining_{false}, stopped_{false};
};

}  // namespace cn::admission
