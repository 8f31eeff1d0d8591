// What the runtime reports as it works, for metrics (telemetry/ implements it). Calls are made
// on run strands and store callbacks, concurrently: implementations must be thread-safe and
// cheap (counters and histograms, no I/O).
#pragma once

#include <chrono>
#include <string_view>

#include "domain/item.hpp"

namespace cn::runtime {

class RunObserver {
 public:
  using Seconds = std::chrono::duration<double>;
  virtual ~RunObserver() = default;
  // A run ended with `status` (completed, failed, incomplete, cancelled) after `took` running,
  // as `agent` ("" = none), having used `usage`.
  virtual void run_finished(std::string_view status, Seconds took, const Usage& usage, std::string_view agent) = 0;
  // One model call (one step of a run).
  virtual void model_call(Seconds took, bool ok) = 0;
  // One server-side tool call, by the item type it is recorded as (mcp_call, memory_call, ...).
  virtual void tool_call(std::string_view type, bool ok, Seconds took) = 0;
  // One turn's commit to the store.
  virtual void commit(Seconds took, bool ok) = 0;
};

}  // namespace cn::runtime
