// A run's spans: the run, each agent after a handoff, model calls and tool calls, with the
// GenAI semantic conventions' names and attributes.
#include "runtime/run_trace.hpp"

#include "runtime/runtime.hpp"

namespace cn::runtime {

namespace {

void set_usage(Span& s, const Usage& u) {
  s.set("gen_ai.usage.input_tokens", u.input_tokens);
  s.set("gen_ai.usage.output_tokens", u.output_tokens);
}

Span agent_span(const std::string& agent, const SpanContext& parent) {
  Span s = Span::start(agent.empty() ? std::string("invoke_agent") : "invoke_agent " + agent, parent);
  s.set("gen_ai.operation.name", std::string("invoke_agent"));
  if (!agent.empty()) s.set("gen_ai.agent.name", agent);
  return s;
}

}  // namespace

RunTrace::RunTrace(std::shared_ptr<Tracer> tracer, const CreateParams& p, const std::string& response_id)
    : tracer_(std::move(tracer)) {
  if (!tracer_) return;
  auto parent = SpanContext::parse(p.traceparent).value_or(SpanContext{});
  run_ = agent_span(p.memory_agent, parent);
  trace_id_ = run_->ctx.trace_id;
  if (auto* a = p.echo.if_contains("agent"); a && a->is_object())
    if (auto* v = a->as_object().if_contains("version"); v && v->is_int64())
      run_->set("gen_ai.agent.version", std::to_string(v->as_int64()));
  run_->set("gen_ai.request.model", p.model);
  run_->set("gen_ai.response.id", response_id);
  if (p.conversation_id) run_->set("gen_ai.conversation.id", *p.conversation_id);
  run_->set("continuum.project.id", p.scope.project);
  if (!p.memory_user.empty()) run_->set("user.id", p.memory_user);
  if (p.agent_depth > 0) run_->set("continuum.agent.depth", static_cast<int64_t>(p.agent_depth));
  if (p.background) run_->set("continuum.background", true);
}

RunTrace::~RunTrace() {
  if (run_) end("failed", "the run ended unexpectedly", Usage{});
}

SpanContext RunTrace::current() const {
  if (agent_) return agent_->ctx;
  return run_ ? run_->ctx : SpanContext{};
}

void RunTrace::handoff(const std::string& agent, int64_t version) {
  if (!run_) return;
  SpanContext from = current();
  if (agent_) {
    agent_->end();
    tracer_->record(std::move(*agent_));
  }
  agent_ = agent_span(agent, run_->ctx);
  agent_->set("gen_ai.agent.version", std::to_string(version));
  agent_->links.push_back(from);
}

void RunTrace::model_started(const std::string& model, const std::string& provider) {
  if (!run_) return;
  model_ = Span::start("chat " + model, current(), Span::Kind::client);
  model_->set("gen_ai.operation.name", std::string("chat"));
  model_->set("gen_ai.provider.name", provider);
  model_->set("gen_ai.request.model", model);
}

void RunTrace::model_ended(const Status& st, const std::string& finish_reason, const Usage& usage) {
  if (!model_) return;
  if (st.ok()) {
    set_usage(*model_, usage);
    if (!finish_reason.empty()) model_->set("gen_ai.response.finish_reasons", std::vector<std::string>{finish_reason});
  } else {
    model_->set("error.type", std::string(code_name(st.code())));
    model_->fail(st.message());
  }
  model_->end();
  tracer_->record(std::move(*model_));
  model_.reset();
}

void RunTrace::end(const std::string& status, const std::string& error, const Usage& usage) {
  if (!run_) return;
  if (model_) model_ended(Status(Code::cancelled, "the run ended"), "", Usage{});
  if (agent_) {
    agent_->end();
    tracer_->record(std::move(*agent_));
    agent_.reset();
  }
  set_usage(*run_, usage);
  run_->set("continuum.response.status", status);
  if (!error.empty()) {
    run_->set("error.type", status);
    run_->fail(error);
  }
  run_->end();
  tracer_->record(std::move(*run_));
  run_.reset();
}

ToolSpan::ToolSpan(const std::shared_ptr<Tracer>& tracer, const SpanContext& parent, const std::string& tool,
                   std::string_view type)
    : tracer_(tracer.get()) {
  if (!tracer_) return;
  span_ = Span::start("execute_tool " + tool, parent);
  span_->set("gen_ai.operation.name", std::string("execute_tool"));
  span_->set("gen_ai.tool.name", tool);
  span_->set("gen_ai.tool.type", std::string(type == "function_call" ? "function" : "extension"));
  span_->set("continuum.tool.item_type", std::string(type));
}

void ToolSpan::end(bool error, const std::string& output) {
  if (!span_) return;
  if (error) {
    span_->set("error.type", std::string("tool_error"));
    span_->fail(output.size() > 256 ? output.substr(0, 256) : output);
  }
  span_->end();
  tracer_->record(std::move(*span_));
  span_.reset();
}

}  // namespace cn::runtime
