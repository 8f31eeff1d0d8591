// MCP authorization discovery (protocol 2025-11-25, "Authorization"): from a remote MCP server's
// URL to what an OAuth 2.1 client needs to get tokens for it.
//
//   1. The server is asked, without credentials, to initialize. It answers 401 with
//      `WWW-Authenticate: Bearer resource_metadata="…", scope="…"`.
//   2. Its protected-resource metadata (RFC 9728) is read from that URL, or else from
//      /.well-known/oauth-protected-resource/<path> and then at the root. It names the resource
//      (the canonical server URI, which must be this server's URL or a prefix of it) and the
//      authorization servers.
//   3. The first authorization server's metadata is read (RFC 8414 and OpenID Connect discovery,
//      in the spec's order). Its issuer must be the one the resource named, and it must offer PKCE
//      with S256; otherwise discovery fails.
//   4. Without a pre-registered client id, a public client (PKCE, no secret) is registered
//      dynamically (RFC 7591) with Continuum's callback as its redirect URI.
//
// Every URL followed must be https (http only for a private address when those are allowed);
// private and loopback addresses are refused unless allowed. Answers are capped at 1 MiB and ten
// seconds. Errors are invalid_argument naming what the server or its authorization server got
// wrong, never a credential.
//
// Thread-safety: free coroutines; run on any executor.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <map>
#include <string>

#include "base/status.hpp"
#include "http/client.hpp"

namespace cn::tools::mcp {

struct AuthorizationServer {
  std::string resource;  // the canonical server URI tokens are requested for (RFC 8707)
  std::string issuer, authorization_endpoint, token_endpoint, registration_endpoint;
  std::string scopes;  // space-separated: the 401's `scope`, else the resource's scopes_supported
};

struct ClientRegistration {
  std::string client_id, client_secret;  // the secret is "" for a public client
};

boost::asio::awaitable<Result<AuthorizationServer>> discover_authorization(http::Client& client, std::string server_url,
                                                                           bool allow_private);

// RFC 7591 dynamic registration of a public client whose one redirect URI is `redirect_uri`.
boost::asio::awaitable<Result<ClientRegistration>> register_client(http::Client& client, std::string registration_endpoint,
                                                                   std::string redirect_uri, bool allow_private);

// The parameters of a `Bearer` challenge (`WWW-Authenticate: Bearer k="v", k2=v2`), names
// lower-cased; empty when the header holds no Bearer challenge.
std::map<std::string, std::string> bearer_challenge(std::string_view header);

}  // namespace cn::tools::mcp
