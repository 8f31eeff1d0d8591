// The Governor: admission of new turns (in-flight bytes, resident memory, I/O lag, a full
// store), readiness, and the sampler that measures what those decisions read.
#include "admission/governor.hpp"

#include <sys/statvfs.h>
#include <unistd.h>

#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <fstream>

#include "base/log.hpp"
#include "store/executor.hpp"

namespace cn::admission {

namespace net = boost::asio;

Governor::Governor(GovernorOptions opts, store::Executor* store)
    : opts_(std::move(opts)), store_(store), turn_limit_(std::min(opts_.initial_turns, opts_.max_turns)) {
  rss_.store(resident_bytes());
}

namespace {
constexpr double kLatencyFloorMs = 10;      // added to every baseline: small absolute changes are noise
constexpr double kBaselineDrift = 1.001;    // per 50 ms period: about 2% a second
constexpr size_t kMaxSamplesPerPeriod = 4096;
}  // namespace

void Governor::model_latency(const std::string& provider, std::chrono::microseconds first_event) {
  if (opts_.max_model_latency_ratio <= 0) return;
  double ms = static_cast<double>(first_event.count()) / 1000.0;
  std::lock_guard lk(lat_mu_);
  double& base = baseline_ms_[provider];
  if (base <= 0 || ms < base) base = ms;
  if (ratios_.size() < kMaxSamplesPerPeriod) ratios_.push_back(ms / (base + kLatencyFloorMs));
}

double Governor::take_model_ratio() {
  std::lock_guard lk(lat_mu_);
  for (auto& [provider, base] : baseline_ms_) base *= kBaselineDrift;
  double median = 0;
  if (ratios_.size() >= 3) {
    auto mid = ratios_.begin() + static_cast<std::ptrdiff_t>(ratios_.size() / 2);
    std::nth_element(ratios_.begin(), mid, ratios_.end());
    median = *mid;
  }
  ratios_.clear();
  return median;
}

void Governor::adapt(std::chrono::microseconds late) {
  double ratio = take_model_ratio();
  if (ratio > 0) model_ratio_milli_.store(static_cast<int64_t>(ratio * 1000));
  if (opts_.target_loop_lag.count() <= 0) return;
  int64_t limit = turn_limit_.load(), inflight = inflight_turns_.load();
  bool model_watched = opts_.max_model_latency_ratio > 0;
  bool model_queued = model_watched && ratio > opts_.max_model_latency_ratio;
  if (late > opts_.target_loop_lag || model_queued) {
    // The CPU is behind, or turns wait for the model: come down below what is in progress now.
    limit = std::max(opts_.min_turns, std::min(limit, inflight) * 9 / 10);
  } else if (inflight * 4 >= limit * 3 && (!model_watched || ratio > 0)) {
    // Keeping up while most of the limit is in use (and, when the model is watched, its calls
    // answered promptly this period): grow by an eighth.
    limit = std::min(opts_.max_turns, limit + std::max<int64_t>(1, limit / 8));
  }
  turn_limit_.store(limit);
}

int64_t Governor::resident_bytes() {
  std::ifstream f("/proc/self/statm");
  int64_t size = 0, resident = 0, shared = 0;
  if (!(f >> size >> resident >> shared)) return 0;
  // File-backed pages (the readers' memory map of the database, the binary) are the kernel's
  // page cache, which it reclaims under pressure: only anonymous memory is the process's own.
  return std::max<int64_t>(0, resident - shared) * static_cast<int64_t>(sysconf(_SC_PAGESIZE));
}

int64_t Governor::default_rss_limit() {
  int64_t limit = static_cast<int64_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<int64_t>(sysconf(_SC_PAGESIZE));
  for (const char* path : {"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}) {
    std::ifstream f(path);
    int64_t v = 0;
    if (f >> v && v > 0 && v < limit) limit = v;  // "max" (no limit) fails to parse
  }
  return limit / 4 * 3;
}

std::string Governor::overload_reason(size_t input_bytes, bool new_turn) const {
  if (opts_.max_inflight_bytes > 0 && inflight_turns_.load() > 0 &&
      inflight_bytes_.load() + static_cast<int64_t>(input_bytes) > static_cast<int64_t>(opts_.max_inflight_bytes))
    return "the input of the responses in progress is at its limit";
  if (opts_.max_rss_bytes > 0 && rss_.load() > opts_.max_rss_bytes) return "its memory is at its limit";
  // At the cap itself the runtime answers (rate_limit_exceeded, limits.max_active_runs).
  int64_t limit = turn_limit_.load();
  if (new_turn && opts_.target_loop_lag.count() > 0 && limit < opts_.max_turns && inflight_turns_.load() >= limit)
    return "the responses in progress are at what its CPU and the model sustain";
  if (opts_.max_loop_lag.count() > 0 &&
      lag_us_.load() > std::chrono::duration_cast<std::chrono::microseconds>(opts_.max_loop_lag).count())
    return "its CPU is saturated";
  return {};
}

Result<std::shared_ptr<void>> Governor::admit(size_t input_bytes, bool writes) {
  if (writes && store_ && store_->full()) return store::storage_full_status();
  if (std::string why = overload_reason(input_bytes, true); !why.empty()) {
    shed_.fetch_add(1, std::memory_order_relaxed);
    static LogThrottle log;
    if (uint64_t n = log.tick()) spdlog::warn("shedding load: {} ({} turns refused in the last second)", why, n);
    return Status(Code::resource_exhausted, "The server is overloaded (" + why + "); retry after a moment.", "",
                  "server_overloaded")
        .with_retry_after(opts_.retry_after_seconds);
  }
  auto bytes = static_cast<int64_t>(input_bytes);
  inflight_bytes_.fetch_add(bytes);
  inflight_turns_.fetch_add(1);
  // The ticket gives the bytes back when the turn lets go of it. It holds the Governor, which
  // therefore lives as long as any turn it admitted.
  auto self = shared_from_this();
  return std::shared_ptr<void>(nullptr, [self, bytes](void*) {
    self->inflight_bytes_.fetch_sub(bytes);
    self->inflight_turns_.fetch_sub(1);
  });
}

bool Governor::ready(std::string* why) const {
  std::string reason;
  if (draining_.load()) reason = "shutting down";
  else if (store_ && store_->full()) reason = "storage full (read-only)";
  else if (std::string o = overload_reason(0, false); !o.empty()) reason = "shedding load: " + o;
  if (why) *why = reason;
  return reason.empty();
}

GovernorStats Governor::stats() const {
  GovernorStats s;
  s.inflight_bytes = inflight_bytes_.load();
  s.inflight_turns = inflight_turns_.load();
  s.rss_bytes = rss_.load();
  s.loop_lag_ms = static_cast<double>(lag_us_.load()) / 1000.0;
  s.turn_limit = turn_limit_.load();
  s.model_latency_ratio = static_cast<double>(model_ratio_milli_.load()) / 1000.0;
  s.disk_free_bytes = disk_free_.load();
  s.shed = shed_.load();
  s.ready = ready();
  return s;
}

void Governor::sample_disk() {
  if (opts_.data_dir.empty()) return;
  struct statvfs v {};
  if (statvfs(opts_.data_dir.c_str(), &v) != 0) return;
  int64_t free_bytes = static_cast<int64_t>(v.f_bavail) * static_cast<int64_t>(v.f_frsize);
  disk_free_.store(free_bytes);
  static LogThrottle log(std::chrono::minutes(1));
  if (opts_.disk_warn_bytes > 0 && free_bytes < opts_.disk_warn_bytes && log.tick())
    spdlog::warn("disk space is low: {} MiB free under {} (writes stop when it is full)", free_bytes >> 20,
                 opts_.data_dir);
}

void Governor::start(net::io_context& io) {
  sample_disk();
  // A free function's state machine, not a coroutine: the timer's lateness is the loop's lag.
  struct Sampler : std::enable_shared_from_this<Sampler> {
    std::shared_ptr<Governor> g;
    net::steady_timer timer;
    int ticks = 0;
    Sampler(std::shared_ptr<Governor> gov, net::io_context& io) : g(std::move(gov)), timer(io) {}
    void arm() {
      constexpr auto kPeriod = std::chrono::milliseconds(50);
      auto due = std::chrono::steady_clock::now() + kPeriod;
      timer.expires_at(due);
      timer.async_wait([self = shared_from_this(), due](const boost::system::error_code& ec) {
        if (ec || self->g->stopped_.load()) return;
        auto late = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - due);
        // The lag decays by half each period: one slow tick does not shed for long.
        int64_t prev = self->g->lag_us_.load();
        self->g->lag_us_.store(std::max<int64_t>(late.count(), prev / 2));
        self->g->adapt(late);
        self->g->rss_.store(resident_bytes());
        if (++self->ticks % 100 == 0) self->g->sample_disk();  // every 5 s
        self->arm();
      });
    }
  };
  std::make_shared<Sampler>(shared_from_this(), io)->arm();
}

void Governor::stop() { stopped_.store(true); }

}  // namespace cn::admission
