// RateLimiter: token buckets for requests per key and per end user (per minute), and a daily
// token quota per project.
//
// A request takes one token from its key's bucket and, when it acts for an end user, one from
// that user's bucket (per project); an empty bucket refuses it with 429, a Retry-After and the
// x-ratelimit-* headers OpenAI sends. A turn is refused (429) while its project has used up its
// daily tokens; tokens are charged when a turn ends, from its usage. Buckets refill
// continuously. Idle full buckets are dropped, so memory stays bounded by the active callers.
// Counts live in memory: a restart refills every bucket.
//
// Thread-safety: every member is safe from any thread.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/clock.hpp"
#include "base/status.hpp"
#include "identity/principal.hpp"

namespace cn::identity {

struct RateLimitOptions {
  int key_requests_per_minute = 0;    // 0: no limit
  int user_requests_per_minute = 0;   // 0: no limit
  int64_t project_tokens_per_day = 0;  // 0: no quota
};

using Headers = std::vector<std::pair<std::string, std::string>>;

class RateLimiter {
 public:
  explicit RateLimiter(RateLimitOptions opts, Clock& clock = Clock::system());

  // Takes a request from p's buckets. Adds x-ratelimit-*-requests headers to `headers`; refused:
  // resource_exhausted (429, code rate_limit_exceeded) with retry_after.
  // `key`/`user`: which of the buckets to take from (a user named later, in a body, is checked
  // on its own).
  Status admit(const Principal& p, Headers& headers, bool key = true, bool user = true);
  // Refuses a turn (429, code insufficient_quota) when the project has no
  // tokens left today; adds x-ratelimit-*-tokens headers.
  Status tokens_available(const std::string& project, Headers& headers);
  void charge_tokens(const std::string& project, int64_t tokens);

  bool enabled() const { return opts_.key_requests_per_minute || opts_.user_requests_per_minute || opts_.project_tokens_per_day; }

 private:
  struct Bucket {
    double level = 0;
    int64_t at_ms = 0;
  };
  // Refills `b` to now; returns its level.
  double refill(Bucket& b, double capacity, double per_ms, int64_t now);
  void sweep_locked(int64_t now);

  const RateLimitOptions opts_;
  Clock& clock_;
  std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_;  // guarded by mu_
  int64_t last_sweep_ms_ = 0;                        // guarded by mu_
};

// "1s", "6m0s", "250ms": the form of OpenAI's x-ratelimit-reset-* headers.
std::string reset_text(double seconds);

}  // namespace cn::identity
