// OAuth 2.0 grants into the vault: authorization code with PKCE (pending states in
// oauth_pending), refresh tokens, client credentials.
#include "identity/oauth.hpp"

#include <boost/json.hpp>
#include <sodium.h>

#include "base/ids.hpp"
#include "base/log.hpp"
#include "identity/jwt.hpp"
#include "store/async.hpp"

namespace cn::identity {

namespace json = boost::json;

namespace {

constexpr int64_t kStateTtl = 600;
constexpr int64_t kRefreshAhead = 60;

std::string s256(const std::string& verifier) {
  unsigned char h[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(h, reinterpret_cast<const unsigned char*>(verifier.data()), verifier.size());
  return base64url_encode(std::string_view(reinterpret_cast<char*>(h), sizeof h));
}

bool loopback(std::string_view url) {
  return url.starts_with("http://127.0.0.1:") || url.starts_with("http://127.0.0.1/") ||
         url.starts_with("http://localhost:") || url.starts_with("http://localhost/") || url.starts_with("http://[::1]");
}

Status provider_unknown(const std::string& name) {
  return Status(Code::not_found, "No OAuth provider named '" + name + "' is configured.", "provider");
}

}  // namespace

std::string form_escape(std::string_view v) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : v) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::vector<store::Migration> OAuth::migrations() {
  return {{"oauth", 1, R"sql(
CREATE TABLE oauth_pending (
  state TEXT PRIMARY KEY,
  project_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  provider TEXT NOT NULL,
  verifier TEXT NOT NULL,
  expires_at INTEGER NOT NULL
);
)sql"}};
}

Status OAuth::validate(const OAuthProvider& p) {
  auto check = [&](const std::string& url, const char* what) -> Status {
    if (url.starts_with("https://") || loopback(url)) return {};
    return Status(Code::invalid_argument, "OAuth provider '" + p.name + "': " + what + " must be an https URL");
  };
  if (p.client_id.empty()) return Status(Code::invalid_argument, "OAuth provider '" + p.name + "' needs a client_id");
  if (p.grant != "authorization_code" && p.grant != "client_credentials")
    return Status(Code::invalid_argument, "OAuth provider '" + p.name + "': grant must be authorization_code or client_credentials");
  if (Status s = check(p.token_url, "token_url"); !s.ok()) return s;
  if (p.grant == "authorization_code") {
    if (Status s = check(p.authorize_url, "authorize_url"); !s.ok()) return s;
    if (p.redirect_uri.empty()) return Status(Code::invalid_argument, "OAuth provider '" + p.name + "' needs a redirect_uri");
  }
  return {};
}

OAuth::OAuth(store::Executor& store, Vault& vault, std::map<std::string, OAuthProvider> providers, Post post, Clock& clock)
    : store_(store), vault_(vault), providers_(std::move(providers)), post_(std::move(post)), clock_(clock) {}

const OAuthProvider* OAuth::provider(const std::string& name) const {
  auto it = providers_.find(name);
  return it == providers_.end() ? nullptr : &it->second;
}

boost::asio::awaitable<Result<OAuthBegin>> OAuth::begin(std::string project, std::string user, std::string name) {
  const OAuthProvider* p = provider(name);
  if (!p) co_return provider_unknown(name);
  if (p->grant != "authorization_code")
    co_return Status(Code::failed_precondition, "Provider '" + name + "' uses client credentials; no user connects to it.");
  if (user.empty())
    co_return Status(Code::invalid_argument, "Connecting an account needs an end user (X-Continuum-User or a user token).", "user_id");
  OAuthBegin out;
  out.state = random_token(32);
  out.expires_at = clock_.now_seconds() + kStateTtl;
  std::string verifier = random_token(64);
  std::string url = p->authorize_url + (p->authorize_url.find('?') == std::string::npos ? "?" : "&");
  url += "response_type=code&client_id=" + form_escape(p->client_id) + "&redirect_uri=" + form_escape(p->redirect_uri);
  if (!p->scopes.empty()) url += "&scope=" + form_escape(p->scopes);
  url += "&state=" + out.state + "&code_challenge=" + s256(verifier) + "&code_challenge_method=S256";
  out.authorization_url = std::move(url);
  int64_t now = clock_.now_seconds();
  std::string state = out.state;
  int64_t expires = out.expires_at;
  std::function<Status(store::Database&)> fn = [state, project, user, name, verifier, expires, now](store::Database& db) {
    auto& gc = db.stmt("DELETE FROM oauth_pending WHERE expires_at < ?1");
    if (Status s = gc.bind(1, now).run(); !s.ok()) return s;
    auto& st = db.stmt("INSERT INTO oauth_pending(state, project_id, user_id, provider, verifier, expires_at) VALUES (?1,?2,?3,?4,?5,?6)");
    return st.bind(1, state).bind(2, project).bind(3, user).bind(4, name).bind(5, verifier).bind(6, expires).run();
  };
  Status st = co_await store::write_async(store_, std::move(fn));
  if (!st.ok()) co_return st;
  co_return out;
}

boost::asio::awaitable<Result<SecretInfo>> OAuth::finish(std::string state, std::string code) {
  struct Pending {
    std::string project, user, provider, verifier;
    int64_t expires_at = 0;
  };
  auto pending = std::make_shared<std::optional<Pending>>();
  std::function<Status(store::Database&)> take = [state, pending](store::Database& db) -> Status {
    auto& q = db.stmt("SELECT project_id, user_id, provider, verifier, expires_at FROM oauth_pending WHERE state=?1");
    q.bind(1, state);
    if (q.step()) *pending = Pending{q.text(0), q.text(1), q.text(2), q.text(3), q.int64(4)};
    Status st = q.status();
    q.reset();
    if (!st.ok() || !*pending) return st;
    auto& del = db.stmt("DELETE FROM oauth_pending WHERE state=?1");  // single use
    return del.bind(1, state).run();
  };
  Status st = co_await store::write_async(store_, std::move(take));
  if (!st.ok()) co_return st;
  if (!*pending)
    co_return Status(Code::invalid_argument, "Unknown or already used OAuth state.", "state", "invalid_state");
  if ((*pending)->expires_at < clock_.now_seconds())
    co_return Status(Code::invalid_argument, "This OAuth authorization expired; start again.", "state", "invalid_state");
  const OAuthProvider* p = provider((*pending)->provider);
  if (!p) co_return provider_unknown((*pending)->provider);
  std::string form = "grant_type=authorization_code&code=" + form_escape(code) + "&redirect_uri=" +
                     form_escape(p->redirect_uri) + "&client_id=" + form_escape(p->client_id) +
                     "&client_secret=" + form_escape(p->client_secret) + "&code_verifier=" + (*pending)->verifier;
  // Arguments are named values: GCC 12 mishandles temporaries that share a co_await's full-expression.
  std::string project = (*pending)->project;
  SecretOwner owner{"user", (*pending)->user};
  co_return co_await exchange(*p, std::move(project), std::move(owner), std::move(form));
}

boost::asio::awaitable<Result<SecretInfo>> OAuth::exchange(const OAuthProvider& p, std::string project, SecretOwner owner,
                                                           std::string form) {
  std::string url = p.token_url;
  auto answer = co_await post_(std::move(url), std::move(form));
  if (!answer.ok())
    co_return Status(Code::unavailable, "The OAuth provider '" + p.name + "' did not answer: " + answer.status().message());
  boost::system::error_code ec;
  auto v = json::parse(answer->body, ec);
  const json::object* o = !ec && v.is_object() ? &v.as_object() : nullptr;
  if (answer->status != 200 || !o) {
    std::string why = "HTTP " + std::to_string(answer->status);
    if (o)
      if (auto it = o->find("error"); it != o->end() && it->value().is_string())
        why = std::string(it->value().as_string()).substr(0, 64);  // a code such as invalid_grant; never a token
    co_return Status(Code::failed_precondition, "The OAuth provider '" + p.name + "' refused: " + why + ".", "", "oauth_refused");
  }
  auto str = [&](const char* k) -> std::string {
    auto it = o->find(k);
    return it != o->end() && it->value().is_string() ? std::string(it->value().as_string()) : std::string();
  };
  std::string access = str("access_token"), refresh_token = str("refresh_token");
  if (access.empty())
    co_return Status(Code::failed_precondition, "The OAuth provider '" + p.name + "' answered without an access token.", "", "oauth_refused");
  std::optional<int64_t> expires_at;
  if (auto it = o->find("expires_in"); it != o->end() && it->value().is_number()) {
    boost::system::error_code nec;
    auto secs = it->value().to_number<int64_t>(nec);
    if (!nec && secs > 0) expires_at = clock_.now_seconds() + secs;
  }
  json::object value{{"access_token", access}};
  if (!refresh_token.empty()) value["refresh_token"] = refresh_token;
  if (expires_at) value["expires_at"] = *expires_at;
  json::object meta{{"token_type", str("token_type")}, {"scope", str("scope")}, {"grant", p.grant},
                    {"refreshable", !refresh_token.empty()}};
  std::string provider = p.name, kind = "oauth2", sealed = json::serialize(value), metadata = json::serialize(meta);
  co_return co_await vault_.put(std::move(project), std::move(owner), std::move(provider), std::move(kind), std::move(sealed),
                                std::move(metadata), expires_at);
}

boost::asio::awaitable<Result<SecretInfo>> OAuth::refresh(std::string project, SecretOwner owner, std::string name) {
  const OAuthProvider* p = provider(name);
  if (!p) co_return provider_unknown(name);
  std::string refresh_token;
  std::string no_run, actor = "oauth.refresh";
  auto current = co_await vault_.reveal(project, owner, name, no_run, actor);
  if (current.ok()) {
    boost::system::error_code ec;
    auto v = json::parse(*current, ec);
    if (!ec && v.is_object())
      if (auto it = v.as_object().find("refresh_token"); it != v.as_object().end() && it->value().is_string())
        refresh_token = std::string(it->value().as_string());
  }
  std::string form;
  if (!refresh_token.empty()) {
    form = "grant_type=refresh_token&refresh_token=" + form_escape(refresh_token) + "&client_id=" + form_escape(p->client_id) +
           "&client_secret=" + form_escape(p->client_secret);
  } else if (p->grant == "client_credentials") {
    form = "grant_type=client_credentials&client_id=" + form_escape(p->client_id) + "&client_secret=" +
           form_escape(p->client_secret);
    if (!p->scopes.empty()) form += "&scope=" + form_escape(p->scopes);
  } else {
    co_return Status(Code::failed_precondition,
                     "No refreshable '" + name + "' token is stored for this " + owner.kind + "; connect the account again.",
                     "", "oauth_not_connected");
  }
  co_return co_await exchange(*p, project, owner, std::move(form));
}

boost::asio::awaitable<Result<std::string>> OAuth::access_token(std::string project, SecretOwner owner, std::string name,
                                                                std::string run_id, std::string actor) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto value = co_await vault_.reveal(project, owner, name, run_id, actor);
    if (!value.ok() && !(value.status().code() == Code::not_found && attempt == 0 && provider(name) &&
                         provider(name)->grant == "client_credentials"))
      co_return value.status();
    if (value.ok()) {
      boost::system::error_code ec;
      auto v = json::parse(*value, ec);
      if (ec || !v.is_object()) co_return Status(Code::failed_precondition, "The stored '" + name + "' credential is not an OAuth token.");
      const auto& o = v.as_object();
      int64_t expires = 0;
      if (auto it = o.find("expires_at"); it != o.end() && it->value().is_int64()) expires = it->value().as_int64();
      bool fresh = expires == 0 || expires - clock_.now_seconds() > kRefreshAhead;
      if (fresh || attempt == 1) {
        auto it = o.find("access_token");
        if (it == o.end() || !it->value().is_string()) co_return Status(Code::failed_precondition, "The stored token has no access token.");
        co_return std::string(it->value().as_string());
      }
    }
    auto r = co_await refresh(project, owner, name);
    if (!r.ok()) co_return r.status();
  }
  co_return Status(Code::internal, "unreachable");
}

}  // namespace cn::identity
