// A log sink that never makes the caller wait for stderr.
//
// Lines are formatted on the caller's thread (so thread-local context, such as the trace id,
// is the caller's) and appended to a buffer that one writer thread copies to the file
// descriptor. When the reader of that descriptor (a pipe to a supervisor, a terminal, a log
// collector) falls behind and the buffer holds `max_buffered` bytes, further lines are dropped
// and counted, and a line saying how many were dropped follows once the writer catches up: an
// I/O thread logging a request under overload never blocks on a full pipe.
//
// flush() waits (up to a second) until what was logged before it is written; the logger flushes
// after every error, so errors are written before the process can stop. The destructor writes
// what is left and joins the writer. Thread-safe.
#pragma once

#include <spdlog/sinks/base_sink.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

namespace cn {

class NonBlockingSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit NonBlockingSink(int fd, size_t max_buffered = 4u << 20);
  ~NonBlockingSink() override;

  // Lines dropped since start because the descriptor was not keeping up.
  static uint64_t dropped();

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override;
  void flush_() override;

 private:
  void writer_loop();

  const int fd_;
  const size_t max_buffered_;
  std::mutex mu_;
  std::condition_variable cv_, drained_;
  std::string pending_;       // guarded by mu_
  uint64_t dropped_now_ = 0;  // guarded by mu_: dropped since the last line saying so
  bool writing_ = false;      // guarded by mu_
  bool stop_ = false;         // guarded by mu_
  std::thread writer_;
};

}  // namespace cn
