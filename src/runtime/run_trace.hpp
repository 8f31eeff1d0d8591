// A run's spans, as OpenTelemetry's GenAI conventions name them: "invoke_agent NAME" for the run
// (a child of the request's traceparent, or of the agent call that started a child run), a new
// "invoke_agent NAME" span under it at each handoff (linked to the agent it came from),
// "chat MODEL" per model call and "execute_tool NAME" per server-side tool call, each a child
// of the agent running at the time. Every member is a no-op without a tracer.
//
// Thread-safety: one RunTrace belongs to one run's loop (its coroutine); ToolSpan is a value
// owned by the call it times.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "base/trace.hpp"
#include "base/status.hpp"
#include "domain/item.hpp"

namespace cn::runtime {

struct CreateParams;

class RunTrace {
 public:
  RunTrace(std::shared_ptr<Tracer> tracer, const CreateParams& p, const std::string& response_id);
  ~RunTrace();  // records what is still open (a run that ended by exception)

  // The span model and tool calls are children of now.
  SpanContext current() const;
  // The run goes on as `agent` (version `version`).
  void handoff(const std::string& agent, int64_t version);
  void model_started(const std::string& model, const std::string& provider);
  void model_ended(const Status& st, const std::string& finish_reason, const Usage& usage);
  // The run ended with `status` (and `error`, when it failed), having used `usage`.
  void end(const std::string& status, const std::string& error, const Usage& usage);
  // The run's trace ("" without a tracer), also after end().
  const std::string& trace_id() const { return trace_id_; }

 private:
  std::shared_ptr<Tracer> tracer_;
  std::string trace_id_;
  std::optional<Span> run_, agent_, model_;
};

// The span of one server-side tool call (recorded when it ends).
class ToolSpan {
 public:
  ToolSpan(const std::shared_ptr<Tracer>& tracer, const SpanContext& parent, const std::string& tool, std::string_view type);
  SpanContext context() const { return span_ ? span_->ctx : SpanContext{}; }
  void end(bool error, const std::string& output);

 private:
  Tracer* tracer_;
  std::optional<Span> span_;
};

}  // namespace cn::runtime
