// The Responses API's `mcp` tool type: a remote MCP server the run lists and calls itself.
//
// A request's entry ({"type": "mcp", "server_label", "server_url", "headers", "authorization",
// "allowed_tools", "require_approval", ...}) is validated here (400 naming the field) and becomes
// a Connector: listed before the turn's first model call, its allowed tools offered to the
// model as functions, each call run on the server as an mcp_call item (or, when approval is
// required, turned into an mcp_approval_request). As in OpenAI's API, approval is required
// unless "require_approval" says otherwise.
//
// Sessions with servers are shared between turns that use the same URL and credentials (a
// bounded pool), so a conversation does not initialize the server again on every turn.
//
// Thread-safety: the source and its session pool are safe from any thread.
#pragma once

#include <list>
#include <map>
#include <mutex>

#include "tools/mcp/session.hpp"
#include "tools/openapi/openapi.hpp"
#include "tools/tool.hpp"

namespace cn::tools::mcp {

// A server registered for a project (/v1/tool_servers), named in a request by label alone.
struct RegisteredServer {
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;  // credentials resolved at call time
  std::optional<std::vector<std::string>> allowed_tools;
  std::vector<std::string> idempotent_tools;  // declared idempotent beyond the server's hints
  std::string require_approval = "never";     // "always" | "never"
  std::shared_ptr<const openapi::Api> api;    // set: an HTTP API described by an OpenAPI document
  std::string credential;  // an OpenAPI document's credential, placed by its security schemes
};

// Where registered servers come from (null: requests must give server_url).
class Registry {
 public:
  virtual ~Registry() = default;
  // Whether `project` has a server labelled `label` (checked when a request names one).
  virtual bool exists(const std::string& project, const std::string& label) const = 0;
  // The server `label` of the call's project, with the credentials of the call's user or agent
  // (fetched now, for this call); not_found when there is none.
  virtual awaitable<Result<RegisteredServer>> lookup(const CallContext& ctx, const std::string& label) = 0;
};

struct SourceOptions {
  size_t max_sessions = 256;  // pooled sessions (least recently used dropped first)
  std::chrono::milliseconds list_ttl = std::chrono::minutes(5);
  // Whether server_url may name a loopback or private address (tests, sidecars). Off by
  // default: a request could otherwise reach services on the server's own network.
  bool allow_private_urls = false;
  // Local servers over stdio, named by server_label (no server_url) in the projects they allow.
  std::vector<StdioServer> stdio;
};

// Whether `host` is a loopback, link-local or private address (or a name for one).
bool private_host(std::string host);

class McpToolSource final : public ToolSource {
 public:
  McpToolSource(http::Client& client, SourceOptions opts, std::shared_ptr<Registry> registry = nullptr);
  bool provides(std::string_view type) const override { return type == "mcp"; }
  Status add_tools(const ToolRequest& req, ToolSet& out) override;

  http::Client& client() { return client_; }
  // The pooled session for `ep` (created on first use).
  std::shared_ptr<Session> session(const Endpoint& ep);
  // The session with the configured stdio server `label` (its process started on first use).
  std::shared_ptr<Session> stdio_session(const std::string& label, boost::asio::any_io_executor ex);
  const StdioServer* stdio_server(const std::string& label, const std::string& project) const;

 private:
  http::Client& client_;
  const SourceOptions opts_;
  std::shared_ptr<Registry> registry_;
  std::mutex mu_;
  std::list<std::pair<std::string, std::shared_ptr<Session>>> lru_;  // guarded by mu_; front = newest
  std::map<std::string, std::list<std::pair<std::string, std::shared_ptr<Session>>>::iterator> sessions_;  // guarded by mu_
  std::map<std::string, std::shared_ptr<Session>> stdio_sessions_;  // guarded by mu_
};

}  // namespace cn::tools::mcp
