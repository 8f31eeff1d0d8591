// The one interface through which a run calls a tool that executes on the server.
//
// A run's loop offers the model the definitions of a turn's server-side tools next to the
// client's function tools. When the model calls one, the loop records an output item of the
// tool's item type, calls execute(), records the result in that item, and calls the model again.
// The runtime knows tools only through this header: memory tools (memory_tools.hpp) are the
// first implementation; MCP servers, HTTP APIs and a sandbox plug in the same way.
//
// Threads: execute() is awaited on the run's strand; a tool must not block that thread (do store
// or network work through awaitables). Tools are shared between runs and must be thread-safe.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.hpp"
#include "base/trace.hpp"
#include "domain/budget.hpp"
#include "domain/item.hpp"
#include "http/client.hpp"

namespace cn::tools {

template <typename T>
using awaitable = boost::asio::awaitable<T>;

// Who a call acts for and where it happens. A tool reads and writes nothing outside this scope.
struct CallContext {
  std::string project_id;
  std::string response_id;
  std::string conversation_id;  // "" when the turn has none
  std::string user_id;          // the acting end user ("" = none)
  std::string agent_id;         // the acting agent ("" = none)
  int64_t agent_version = 0;    // its version when the turn runs as a defined agent (0 = unknown)
  std::string credential_id;    // the API key or token subject the request came with
  // The claims of the end user's verified token (a JSON object text; "" = none), for policies.
  std::string claims_json;
  // Fires when the run is cancelled (client, interrupt, deadline, shutdown). A tool that waits on
  // something slow should give up when it fires.
  std::shared_ptr<http::CancelToken> cancel;
  // The call should return by then. The run's loop does not wait longer: past it, the model is
  // told the call timed out, and a late answer is dropped (the call may still finish).
  std::chrono::steady_clock::time_point deadline;
  // How deep in a team's agent-as-tool calls this run is (0: a run a client started).
  int agent_depth = 0;
  // The span this call runs in (its execute_tool span): a child run joins the trace under it.
  SpanContext trace;
  // The calling run's budget (a child run's nests in it) and how its usage is charged to the
  // project's token quota (may be empty).
  std::shared_ptr<Budget> budget;
  std::function<void(const Usage&)> on_usage;
};

// What a call returns to the model: JSON text. A failure is still an answer the model sees
// (`error` set, `output` = {"error": "..."}); it does not fail the run.
struct Outcome {
  std::string output;
  bool error = false;
};

class Tool {
 public:
  virtual ~Tool() = default;
  // The name the model calls it by; unique within a turn's tools.
  virtual const std::string& name() const = 0;
  // The function definition offered to the model (Responses form: type, name, description,
  // parameters as JSON Schema).
  virtual boost::json::object definition() const = 0;
  // Whether running the same call twice has the effect of running it once. A durable loop may
  // re-run an idempotent call whose result was lost in a crash; a non-idempotent one is
  // recorded as interrupted instead.
  virtual bool idempotent() const = 0;
  // The output item type a call is recorded as in the response (e.g. memory_call).
  virtual ItemType item_type() const = 0;
  // The MCP server (or other named server) the tool belongs to ("" = built in).
  virtual const std::string& server_label() const {
    static const std::string none;
    return none;
  }
  // The label its call items carry (mcp_*: the server; code_interpreter_call: the container).
  virtual std::string item_label() const { return server_label(); }
  // Whether a call must be approved by a human first (it then ends the run with an
  // mcp_approval_request item; the approval in a later turn runs it).
  virtual bool needs_approval() const { return false; }
  // Runs one call with the model's argument text (unvalidated JSON: the tool checks it). `ctx`
  // is valid until the returned awaitable completes; the tool object is kept alive by the loop
  // for as long (even past the deadline).
  virtual awaitable<Outcome> execute(const CallContext& ctx, std::string arguments) = 0;
};

class ToolSet;

// A server whose tools are known only once it is asked (an MCP server). The run lists every
// connector of its turn before its first model call, and records the listing as an
// mcp_list_tools item (a listing already in the conversation is reused instead).
class Connector {
 public:
  virtual ~Connector() = default;
  virtual const std::string& label() const = 0;
  // Lists the server's tools (`cached`: the tools JSON array of an earlier listing of this
  // label in the turn's history, then the server is not asked) and adds the allowed ones to
  // `out`. Returns the listing to record (a JSON array text of {name, description,
  // input_schema, annotations}), or why the server could not be listed.
  virtual awaitable<Result<std::string>> list(const CallContext& ctx, const std::string* cached, ToolSet& out) = 0;
};

// The server-side tools of one turn, by name. Built before the first model call (connectors
// add theirs when listed); read-only after.
class ToolSet {
 public:
  // Adds a tool; a second tool with the same name is refused (invalid_argument).
  Status add(std::shared_ptr<Tool> tool);
  void add_connector(std::shared_ptr<Connector> c) { connectors_.push_back(std::move(c)); }
  std::shared_ptr<Tool> find(std::string_view name) const;
  bool empty() const { return tools_.empty() && connectors_.empty(); }
  const std::vector<std::shared_ptr<Connector>>& connectors() const { return connectors_; }
  // `client_tools_json` (a JSON array, or "") with every tool's definition appended.
  std::string with_definitions(const std::string& client_tools_json) const;

 private:
  std::map<std::string, std::shared_ptr<Tool>, std::less<>> tools_;
  std::vector<std::shared_ptr<Connector>> connectors_;
};

// What a request asks for when it names a server-side tool ({"type": "memory"}, {"type":
// "mcp", ...}): the tool entry as sent, and who the turn acts for.
struct ToolRequest {
  std::string type;
  boost::json::object config;  // the request's tool entry
  std::string project_id, user_id, agent_id;
  bool memory_on = true;
  std::string conversation_id;  // "" when the turn has none
};

// Decides whether a call may run, before it runs (policies). A refusal becomes a failed call
// the model sees; the authorizer records it (audit). Called on the run's strand; must not block.
class Authorizer {
 public:
  virtual ~Authorizer() = default;
  // OK to run, or permission_denied with the reason the model is told.
  virtual Status authorize(const CallContext& ctx, const Tool& tool, std::string_view arguments) = 0;
};

// A source of server-side tools: turns a requested tool type into tools. The runtime holds a
// list of sources; the first that knows the type answers.
class ToolSource {
 public:
  virtual ~ToolSource() = default;
  virtual bool provides(std::string_view type) const = 0;
  // Adds the tools for `req` to `out`, or explains (400, param "tools") why the turn cannot
  // have them.
  virtual Status add_tools(const ToolRequest& req, ToolSet& out) = 0;
};

// The error answer a tool gives the model.
Outcome error_outcome(std::string_view message);

}  // namespace cn::tools
