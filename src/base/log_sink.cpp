// The non-blocking log sink: a bounded buffer between the threads that log and the one that
// writes to stderr.
#include "base/log_sink.hpp"

#include <unistd.h>

#include <cerrno>

namespace cn {

namespace {
std::atomic<uint64_t> g_dropped{0};

void write_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // nowhere to write: the lines are lost, the process goes on
    off += static_cast<size_t>(n);
  }
}
}  // namespace

NonBlockingSink::NonBlockingSink(int fd, size_t max_buffered) : fd_(fd), max_buffered_(max_buffered) {
  writer_ = std::thread([this] { writer_loop(); });
}

NonBlockingSink::~NonBlockingSink() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  writer_.join();
}

uint64_t NonBlockingSink::dropped() { return g_dropped.load(std::memory_order_relaxed); }

void NonBlockingSink::sink_it_(const spdlog::details::log_msg& msg) {
  spdlog::memory_buf_t line;
  formatter_->format(msg, line);
  {
    std::lock_guard lk(mu_);
    if (pending_.size() + line.size() > max_buffered_) {
      ++dropped_now_;
      g_dropped.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    pending_.append(line.data(), line.size());
  }
  cv_.notify_one();
}

void NonBlockingSink::flush_() {
  // Called with base_sink's mutex held: lines logged meanwhile wait, which is what a flush asks.
  std::unique_lock lk(mu_);
  drained_.wait_for(lk, std::chrono::seconds(1), [&] { return pending_.empty() && !writing_; });
}

void NonBlockingSink::writer_loop() {
  std::string out;
  for (;;) {
    uint64_t dropped = 0;
    {
      std::unique_lock lk(mu_);
      writing_ = false;
      drained_.notify_all();
      cv_.wait(lk, [&] { return stop_ || !pending_.empty(); });
      if (pending_.empty() && stop_) return;
      out.swap(pending_);
      pending_.clear();
      dropped = dropped_now_;
      dropped_now_ = 0;
      writing_ = true;
    }
    if (dropped)
      out += std::to_string(dropped) + " log lines were dropped: the log's reader was not keeping up\n";
    write_all(fd_, out);
    out.clear();
    if (out.capacity() > (1u << 20)) out.shrink_to_fit();
  }
}

}  // namespace cn
