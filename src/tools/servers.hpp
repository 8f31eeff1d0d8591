// Tool servers registered for a project (/v1/tool_servers): an MCP server's (or an OpenAPI
// document's: openapi/openapi.hpp) label, URL and how to authenticate to it, so that a request
// names it by label alone ({"type": "mcp", "server_label": "crm"}) and the credential is fetched
// from the vault at call time — the end user's own (an OAuth account they connected, or an API
// key stored for them), the agent's, or the project's — and never shown to the model, a
// response or a log.
//
// auth.scheme "oauth" is MCP's own authorization: at registration the server's authorization
// server is discovered (mcp/authorization.hpp), a client is registered with it unless one is
// given, and the result is handed to the OAuth service as a provider of this project; each end
// user then connects their account (POST /v1/vault/oauth/<provider>/authorize), and calls carry
// that user's access token, bound to this server by the `resource` parameter.
//
// Thread-safety: every member is safe from any thread. The registry is loaded at start-up and
// kept in memory; lookups do not touch the store.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "store/executor.hpp"
#include "tools/mcp/source.hpp"

namespace cn::tools {

struct ToolServer {
  std::string project_id, label, url, description;
  // Credential: the vault provider to take it from ("" = none), whose ("user": the acting end
  // user's, "agent", "project", or "auto": the user's when the turn acts for one, else the
  // project's), and how to send it ("bearer": Authorization: Bearer; "header": in `header`;
  // "oauth": a bearer token from MCP authorization).
  std::string auth_provider, auth_owner = "auto", auth_scheme = "bearer", auth_header;
  boost::json::object oauth;  // scheme "oauth": what discovery found (issuer, endpoints, resource, client id)
  std::vector<std::pair<std::string, std::string>> headers;  // fixed, non-secret headers
  std::optional<std::vector<std::string>> allowed_tools;
  std::vector<std::string> idempotent_tools;
  std::string require_approval = "never";
  int64_t created_at = 0;
  // An HTTP API described by an OpenAPI document (null: an MCP server at `url`).
  boost::json::value openapi_doc;
  std::shared_ptr<const openapi::Api> api;
};

// Fetches a credential's plaintext for a tool call: (project, owner kind, owner id, provider,
// response id, actor).
using CredentialFetcher = std::function<boost::asio::awaitable<Result<std::string>>(
    std::string, std::string, std::string, std::string, std::string, std::string)>;

// A provider for MCP authorization, handed to the OAuth service at registration.
struct OAuthRegistration {
  std::string project, provider, issuer, authorize_url, token_url, client_id, client_secret, scopes, resource, redirect_uri;
};

struct ToolServerOptions {
  bool allow_private = false;          // may a server's URL name a loopback or private address?
  http::Client* client = nullptr;      // for MCP authorization discovery (null: scheme "oauth" refused)
  std::string redirect_uri;            // the OAuth callback, unless a registration gives its own
  std::function<boost::asio::awaitable<Status>(OAuthRegistration)> register_provider;
};

class ToolServers final : public mcp::Registry {
 public:
  ToolServers(store::Executor& store, CredentialFetcher fetch, ToolServerOptions opts = {});
  static std::vector<store::Migration> migrations();
  Status load();  // blocks (start-up)

  // Validates and stores (replacing the server of the same label); 400 naming the field.
  boost::asio::awaitable<Result<ToolServer>> put(std::string project, boost::json::object body);
  std::vector<ToolServer> list(const std::string& project) const;
  std::optional<ToolServer> get(const std::string& project, const std::string& label) const;
  boost::asio::awaitable<Status> remove(std::string project, std::string label);

  bool exists(const std::string& project, const std::string& label) const override;
  boost::asio::awaitable<Result<mcp::RegisteredServer>> lookup(const CallContext& ctx, const std::string& label) override;

 private:
  // scheme "oauth": discovery, client registration and the provider's registration.
  boost::asio::awaitable<Status> connect_oauth(ToolServer& s, std::string client_id, std::string client_secret);

  store::Executor& store_;
  CredentialFetcher fetch_;
  const ToolServerOptions opts_;
  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, ToolServer> servers_;  // guarded by mu_
};

boost::json::object tool_server_json(const ToolServer& s);

}  // namespace cn::tools
