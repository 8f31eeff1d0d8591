// OAuth 2.0 grants into the vault: authorization code with PKCE (pending states in
// oauth_pending), refresh tokens, client credentials; providers registered per project
// (oauth_providers).
#include "identity/oauth.hpp"

#include <boost/json.hpp>
#include <sodium.h>

#include <future>

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
)sql"},
          {"oauth", 2, R"sql(
CREATE TABLE oauth_providers (
  project_id TEXT NOT NULL,
  name TEXT NOT NULL,
  config TEXT NOT NULL,
  PRIMARY KEY (project_id, name)
) WITHOUT ROWID;
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

std::optional<OAuthProvider> OAuth::provider(const std::string& project, const std::string& name) const {
  if (auto it = providers_.find(name); it != providers_.end()) return it->second;
  std::lock_guard lk(mu_);
  if (auto it = registered_.find({project, name}); it != registered_.end()) return it->second;
  return std::nullopt;
}

namespace {

json::object provider_json(const OAuthProvider& p) {
  return json::object{{"authorize_url", p.authorize_url}, {"token_url", p.token_url}, {"client_id", p.client_id},
                      {"scopes", p.scopes},           {"redirect_uri", p.redirect_uri}, {"grant", p.grant},
                      {"resource", p.resource},       {"issuer", p.issuer}};
}

OAuthProvider provider_from(const std::string& project, const std::string& name, const json::object& o) {
  auto str = [&](const char* k) {
    auto* v = o.if_contains(k);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
  };
  OAuthProvider p;
  p.name = name;
  p.project = project;
  p.authorize_url = str("authorize_url");
  p.token_url = str("token_url");
  p.client_id = str("client_id");
  p.scopes = str("scopes");
  p.redirect_uri = str("redirect_uri");
  p.grant = str("grant");
  p.resource = str("resource");
  p.issuer = str("issuer");
  return p;
}

std::string client_secret_provider(const std::string& name) { return name + ".client"; }

}  // namespace

Status OAuth::load() {
  std::promise<Status> done;
  auto f = done.get_future();
  store_.read([this, &done](store::Database& db) {
    auto& q = db.stmt("SELECT project_id, name, config FROM oauth_providers");
    std::map<std::pair<std::string, std::string>, OAuthProvider> m;
    while (q.step()) {
      boost::system::error_code ec;
      auto v = json::parse(q.text(2), ec);
      if (!ec && v.is_object()) m[{q.text(0), q.text(1)}] = provider_from(q.text(0), q.text(1), v.as_object());
    }
    Status st = q.status();
    q.reset();
    if (st.ok()) {
      std::lock_guard lk(mu_);
      registered_ = std::move(m);
    }
    done.set_value(st);
  });
  return f.get();
}

boost::asio::awaitable<Status> OAuth::put_provider(OAuthProvider p) {
  if (providers_.count(p.name))
    co_return Status(Code::invalid_argument, "'" + p.name + "' is a configured OAuth provider; choose another name.", "auth.provider");
  if (p.project.empty()) co_return Status(Code::invalid_argument, "A registered OAuth provider belongs to a project.");
  if (Status s = validate(p); !s.ok()) co_return s;
  std::string secret = std::move(p.client_secret);
  p.client_secret.clear();
  if (!secret.empty()) {
    std::string project = p.project, provider = client_secret_provider(p.name), kind = "api_key", meta = "{}";
    SecretOwner owner{"project", ""};
    auto r = co_await vault_.put(std::move(project), std::move(owner), std::move(provider), std::move(kind), std::move(secret),
                                 std::move(meta));
    if (!r.ok()) co_return r.status();
  }
  std::string config = json::serialize(provider_json(p));
  OAuthProvider row = p;
  std::function<Status(store::Database&)> fn = [row, config](store::Database& db) {
    return db.stmt("INSERT OR REPLACE INTO oauth_providers(project_id, name, config) VALUES (?1,?2,?3)")
        .bind(1, row.project).bind(2, row.name).bind(3, config).run();
  };
  fn = store::announced("cfg:oauth_providers", std::move(fn));
  Status st = co_await store::write_async(store_, std::move(fn));
  if (!st.ok()) co_return st;
  std::lock_guard lk(mu_);
  registered_[{p.project, p.name}] = std::move(p);
  co_return Status();
}

boost::asio::awaitable<Result<std::string>> OAuth::client_fields(const OAuthProvider& p) {
  std::string form = "&client_id=" + form_escape(p.client_id);
  std::string secret = p.client_secret;
  if (!p.project.empty()) {
    std::string project = p.project, provider = client_secret_provider(p.name), no_run, actor = "oauth.client";
    SecretOwner owner{"project", ""};
    auto stored = co_await vault_.reveal(std::move(project), std::move(owner), std::move(provider), std::move(no_run), std::move(actor));
    if (stored.ok()) secret = std::move(*stored);
    else if (stored.status().code() != Code::not_found) co_return stored.status();
  }
  if (!secret.empty()) form += "&client_secret=" + form_escape(secret);  // a public client sends none
  if (!p.resource.empty()) form += "&resource=" + form_escape(p.resource);
  co_return form;
}

boost::asio::awaitable<Result<OAuthBegin>> OAuth::begin(std::string project, std::string user, std::string name) {
  auto p = provider(project, name);
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
  if (!p->resource.empty()) url += "&resource=" + form_escape(p->resource);
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

boost::asio::awaitable<Result<SecretInfo>> OAuth::finish(std::string state, std::string code, std::string iss) {
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
  auto p = provider((*pending)->project, (*pending)->provider);
  if (!p) co_return provider_unknown((*pending)->provider);
  if (!iss.empty() && !p->issuer.empty() && iss != p->issuer)  // RFC 9207: a mix-up attack
    co_return Status(Code::invalid_argument, "The authorization response came from another authorization server ('iss' does not match).",
                     "iss", "invalid_state");
  auto client = co_await client_fields(*p);
  if (!client.ok()) co_return client.status();
  std::string form = "grant_type=authorization_code&code=" + form_escape(code) + "&redirect_uri=" +
                     form_escape(p->redirect_uri) + *client + "&code_verifier=" + (*pending)->verifier;
  // Arguments are named values: GCC 12 mishandles temporaries that share a co_await's full-expression.
  std::string project = (*pending)->project;
  SecretOwner owner{"user", (*pending)->user};
  co_return co_await exchange(*p, std::move(project), std::move(owner), std::move(form));
}

boost::asio::awaitable<Result<SecretInfo>> OAuth::exchange(OAuthProvider p, std::string project, SecretOwner owner,
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
  auto p = provider(project, name);
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
  auto client = co_await client_fields(*p);
  if (!client.ok()) co_return client.status();
  std::string form;
  if (!refresh_token.empty()) {
    form = "grant_type=refresh_token&refresh_token=" + form_escape(refresh_token) + *client;
  } else if (p->grant == "client_credentials") {
    form = "grant_type=client_credentials" + *client;
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
    auto p = provider(project, name);
    if (!value.ok() && !(value.status().code() == Code::not_found && attempt == 0 && p && p->grant == "client_credentials"))
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
