// The durable record of a turn that runs server-side tools: its parameters (so that a run a
// crash interrupted can be started again with the same inputs) and each tool call, written
// before the call starts and when it ends (so that a resumed run never repeats a call that
// already finished, and repeats one that was in flight only when its tool is idempotent).
//
// Rows live from the turn's start to its commit (commit.cpp deletes them in the same
// transaction that stores the outcome). Functions run on store executor threads.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/status.hpp"
#include "runtime/runtime.hpp"
#include "store/database.hpp"

namespace cn::runtime {

// One recorded server-side call of a run, by its position in the run (0, 1, ...).
struct JournaledCall {
  int64_t seq = 0;
  std::string name, arguments;
  bool finished = false;
  std::string output;
  bool error = false;
};

// A run a previous process left unfinished and that can be resumed.
struct Resumable {
  std::string project_id, id, owner;
  int64_t created_at = 0;
  std::string params_json;
  std::vector<JournaledCall> calls;
};

// CreateParams (with the turn's input items, whose wire form is kept) as JSON and back.
std::string encode_params(const CreateParams& p, const std::vector<ItemPtr>& inputs);
Result<CreateParams> decode_params(const std::string& text);

namespace journal {

std::vector<store::Migration> migrations();
Status put_params(store::Database& db, const std::string& project, const std::string& id, const std::string& json);
Status call_started(store::Database& db, const std::string& project, const std::string& id, const JournaledCall& c);
Status call_finished(store::Database& db, const std::string& project, const std::string& id, const JournaledCall& c);
// Removes a run's parameters and calls (its outcome is stored).
Status forget(store::Database& db, const std::string& project, const std::string& id);
// The calls of a run, in order.
Result<std::vector<JournaledCall>> calls(store::Database& db, const std::string& project, const std::string& id);
// The parameters of a run, if it has a journal.
Result<std::optional<std::string>> params(store::Database& db, const std::string& project, const std::string& id);

}  // namespace journal
}  // namespace cn::runtime
