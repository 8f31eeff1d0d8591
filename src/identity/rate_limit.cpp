// Token buckets for request rates and daily token quotas.
#include "identity/rate_limit.hpp"

#include <cmath>

namespace cn::identity {

RateLimiter::RateLimiter(RateLimitOptions opts, Clock& clock) : opts_(opts), clock_(clock) {}

std::string reset_text(double seconds) {
  if (seconds < 1) return std::to_string(std::max(1, static_cast<int>(std::ceil(seconds * 1000)))) + "ms";
  auto s = static_cast<int64_t>(std::ceil(seconds));
  std::string out;
  if (s >= 3600) out += std::to_string(s / 3600) + "h";
  if (s >= 60) out += std::to_string((s % 3600) / 60) + "m";
  out += std::to_string(s % 60) + "s";
  return out;
}

double RateLimiter::refill(Bucket& b, double capacity, double per_ms, int64_t now) {
  if (b.at_ms == 0) b.level = capacity;
  else b.level = std::min(capacity, b.level + static_cast<double>(now - b.at_ms) * per_ms);
  b.at_ms = now;
  return b.level;
}

void RateLimiter::sweep_locked(int64_t now) {
  if (now - last_sweep_ms_ < 60'000 && buckets_.size() < 100'000) return;
  last_sweep_ms_ = now;
  // A bucket idle for a day is full again under any of our rates: forgetting it changes nothing.
  std::erase_if(buckets_, [&](const auto& e) { return now - e.second.at_ms > 86'400'000; });
}

Status RateLimiter::admit(const Principal& p, Headers& headers, bool key, bool user) {
  if (!opts_.key_requests_per_minute && !opts_.user_requests_per_minute) return {};
  int64_t now = clock_.now_millis();
  struct Check {
    std::string key;
    int per_minute;
  };
  std::vector<Check> checks;
  if (key && opts_.key_requests_per_minute) checks.push_back({"k\x1f" + p.credential_id, opts_.key_requests_per_minute});
  if (user && opts_.user_requests_per_minute && p.user)
    checks.push_back({"u\x1f" + p.project_id + "\x1f" + *p.user, opts_.user_requests_per_minute});
  std::lock_guard lk(mu_);
  sweep_locked(now);
  // All buckets must have a token before any is taken.
  double worst_wait = 0;
  const Check* tightest = nullptr;
  double tightest_left = 1e300;
  for (const auto& c : checks) {
    double cap = c.per_minute, per_ms = c.per_minute / 60'000.0;
    double level = refill(buckets_[c.key], cap, per_ms, now);
    if (level < 1) worst_wait = std::max(worst_wait, (1 - level) / per_ms / 1000.0);
    if (level < tightest_left) {
      tightest_left = level;
      tightest = &c;
    }
  }
  if (checks.empty()) return {};
  if (tightest) {
    double per_ms = tightest->per_minute / 60'000.0;
    double left = worst_wait > 0 ? tightest_left : tightest_left - 1;
    headers.emplace_back("x-ratelimit-limit-requests", std::to_string(tightest->per_minute));
    headers.emplace_back("x-ratelimit-remaining-requests", std::to_string(static_cast<int64_t>(std::max(0.0, std::floor(left)))));
    headers.emplace_back("x-ratelimit-reset-requests", reset_text((tightest->per_minute - std::max(0.0, left)) / per_ms / 1000.0));
  }
  if (worst_wait > 0) {
    int retry = std::max(1, static_cast<int>(std::ceil(worst_wait)));
    std::string who = tightest && tightest->key[0] == 'u' ? "end user" : "API key";
    return Status(Code::resource_exhausted,
                  "Rate limit reached for requests of this " + who + ": " + std::to_string(tightest->per_minute) +
                      " per minute. Please try again in " + reset_text(worst_wait) + ".",
                  "", "rate_limit_exceeded")
        .with_retry_after(retry);
  }
  for (const auto& c : checks) buckets_[c.key].level -= 1;
  return {};
}

Status RateLimiter::tokens_available(const std::string& project, Headers& headers) {
  if (!opts_.project_tokens_per_day) return {};
  int64_t now = clock_.now_millis();
  double cap = static_cast<double>(opts_.project_tokens_per_day), per_ms = cap / 86'400'000.0;
  std::lock_guard lk(mu_);
  double level = refill(buckets_["t\x1f" + project], cap, per_ms, now);
  headers.emplace_back("x-ratelimit-limit-tokens", std::to_string(opts_.project_tokens_per_day));
  headers.emplace_back("x-ratelimit-remaining-tokens", std::to_string(static_cast<int64_t>(std::max(0.0, std::floor(level)))));
  headers.emplace_back("x-ratelimit-reset-tokens", reset_text((cap - std::max(0.0, level)) / per_ms / 1000.0));
  if (level >= 1) return {};
  double wait = (1 - level) / per_ms / 1000.0;
  return Status(Code::resource_exhausted,
                "This project has used its daily quota of " + std::to_string(opts_.project_tokens_per_day) +
                    " tokens. Please try again in " + reset_text(wait) + ".",
                "", "insufficient_quota")
      .with_retry_after(std::max(1, static_cast<int>(std::ceil(wait))));
}

void RateLimiter::charge_tokens(const std::string& project, int64_t tokens) {
  if (!opts_.project_tokens_per_day || tokens <= 0) return;
  int64_t now = clock_.now_millis();
  double cap = static_cast<double>(opts_.project_tokens_per_day);
  std::lock_guard lk(mu_);
  auto& b = buckets_["t\x1f" + project];
  refill(b, cap, cap / 86'400'000.0, now);
  b.level -= static_cast<double>(tokens);  // may go below zero: the next turns wait it out
}

}  // namespace cn::identity
