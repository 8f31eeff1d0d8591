// What the runtime reports as it works. RunObserver: for metrics (telemetry/ implements it);
// calls are made on run strands and store callbacks, concurrently: implementations must be
// thread-safe and cheap (counters and histograms, no I/O). TurnLedger: for accounting; its
// write joins the turn's own commit, so what is counted is exactly what was stored.
#pragma once

#include <chrono>
#include <string_view>

#include "domain/item.hpp"
#include "store/database.hpp"

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

// One ended turn, as accounting sees it.
struct TurnRecord {
  std::string project, response_id, user, agent, model, status;
  Usage usage;
  int64_t at = 0;  // seconds since the epoch
};

class TurnLedger {
 public:
  virtual ~TurnLedger() = default;
  // Records `r` on the store's writer, inside the transaction that stores the turn (a turn
  // with store: false gets a write of its own). A failure fails that write.
  virtual Status record(store::Database& db, const TurnRecord& r) = 0;
};

}  // namespace cn::runtime
