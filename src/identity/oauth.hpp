// OAuth: OAuth 2.0 credentials in the vault, obtained and kept fresh.
//
// Providers are configured (authorization and token endpoints, client id and secret, scopes,
// redirect URI), or registered for one project at run time (put_provider: an MCP server's
// authorization server, found by discovery; kept in oauth_providers, the client secret if any
// sealed in the vault). A provider may name a `resource` (RFC 8707): it is sent with the
// authorization request and every token request, so tokens are bound to that one server. Three
// grants:
//   - authorization code with PKCE (S256) and `state`, for an end user to connect an account:
//     begin() returns the URL to send the user to; finish() takes the code and state the
//     provider redirected back with, exchanges them, and stores the tokens in the vault for that
//     user. A state is single-use and expires after ten minutes.
//   - refresh token: access_token() refreshes a stored token that expires within a minute
//     before handing it out; refresh() does so now.
//   - client credentials, for the project itself (or an agent), when the provider says so.
// Tokens live only in the vault (sealed); nothing here returns them except access_token(),
// which is for tools at the moment they run (audited by Vault::reveal).
//
// Thread-safety: every member is safe from any thread and coroutine.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "base/clock.hpp"
#include "identity/vault.hpp"
#include "store/executor.hpp"

namespace cn::identity {

struct OAuthProvider {
  std::string name;
  std::string authorize_url, token_url;
  std::string client_id, client_secret;  // the secret is never logged
  std::string scopes;                    // space-separated
  std::string redirect_uri;              // where the provider sends the user back (our callback)
  std::string grant = "authorization_code";  // or "client_credentials"
  std::string resource;  // RFC 8707 resource indicator ("": none)
  std::string issuer;    // the authorization server's issuer: a callback's `iss` must match it
  std::string project;   // "" for a configured provider; else the one project that registered it
};

struct OAuthBegin {
  std::string authorization_url, state;
  int64_t expires_at = 0;
};

class OAuth {
 public:
  struct Answer {
    int status = 0;
    std::string body;
  };
  // POSTs an application/x-www-form-urlencoded body; returns the status and body.
  using Post = std::function<boost::asio::awaitable<Result<Answer>>(std::string url, std::string form)>;

  OAuth(store::Executor& store, Vault& vault, std::map<std::string, OAuthProvider> providers, Post post,
        Clock& clock = Clock::system());
  static std::vector<store::Migration> migrations();
  // Checks a provider's settings (https endpoints, except on the loopback interface).
  static Status validate(const OAuthProvider& p);

  // A configured provider, else the one `project` registered under that name.
  std::optional<OAuthProvider> provider(const std::string& project, const std::string& name) const;
  // Loads the registered providers (blocks: start-up).
  Status load();
  // Registers (or replaces) a provider for `p.project`; `client_secret` ("" for a public client)
  // is sealed in the vault as the project's secret "<name>.client". Refuses a configured name.
  boost::asio::awaitable<Status> put_provider(OAuthProvider p);

  boost::asio::awaitable<Result<OAuthBegin>> begin(std::string project, std::string user, std::string provider);
  // Returns the stored secret's metadata. Errors name what failed (unknown or used state,
  // provider refused, `iss` of another authorization server: RFC 9207) without any token or code.
  boost::asio::awaitable<Result<SecretInfo>> finish(std::string state, std::string code, std::string iss = "");
  // Obtains a new access token now (refresh-token or client-credentials grant).
  boost::asio::awaitable<Result<SecretInfo>> refresh(std::string project, SecretOwner owner, std::string provider);
  // The access token for a tool call of `run_id`, refreshed first when it expires within a minute.
  boost::asio::awaitable<Result<std::string>> access_token(std::string project, SecretOwner owner, std::string provider,
                                                           std::string run_id, std::string actor);

 private:
  boost::asio::awaitable<Result<SecretInfo>> exchange(OAuthProvider p, std::string project, SecretOwner owner,
                                                      std::string form);
  // The client authentication and resource fields every token request carries.
  boost::asio::awaitable<Result<std::string>> client_fields(const OAuthProvider& p);

  store::Executor& store_;
  Vault& vault_;
  const std::map<std::string, OAuthProvider> providers_;
  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, OAuthProvider> registered_;  // (project, name); guarded by mu_
  Post post_;
  Clock& clock_;
};

// application/x-www-form-urlencoded escaping of one value.
std::string form_escape(std::string_view v);

}  // namespace cn::identity
