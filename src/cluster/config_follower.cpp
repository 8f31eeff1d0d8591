// ConfigFollower (see config_follower.hpp): the thread that reads changed configuration again.
#include "cluster/config_follower.hpp"

#include "base/log.hpp"

namespace cn::cluster {

void ConfigFollower::add(std::string topic, Loader load) { loaders_[std::move(topic)] = std::move(load); }

void ConfigFollower::changed(std::string_view topic) {
  {
    std::lock_guard lk(mu_);
    if (loaders_.count(std::string(topic)))
      dirty_.insert(std::string(topic));
    else
      for (const auto& [t, l] : loaders_) dirty_.insert(t);
  }
  cv_.notify_one();
}

void ConfigFollower::start() {
  if (thread_.joinable() || loaders_.empty()) return;
  thread_ = std::thread([this] { loop(); });
}

void ConfigFollower::stop() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void ConfigFollower::loop() {
  auto next_sweep = std::chrono::steady_clock::now() + sweep_;
  for (;;) {
    std::set<std::string> topics;
    {
      std::unique_lock lk(mu_);
      cv_.wait_until(lk, next_sweep, [this] { return stopping_ || !dirty_.empty(); });
      if (stopping_) return;
      if (std::chrono::steady_clock::now() >= next_sweep) {
        for (const auto& [t, l] : loaders_) dirty_.insert(t);
        next_sweep = std::chrono::steady_clock::now() + sweep_;
      }
      topics.swap(dirty_);
    }
    for (const auto& t : topics) {
      Status st = loaders_.at(t)();
      reloads_.fetch_add(1);
      if (!st.ok()) {
        static LogThrottle log;
        if (log.tick()) spdlog::warn("cluster: reading the {} configuration again failed: {}", t, st.message());
      }
    }
  }
}

}  // namespace cn::cluster
