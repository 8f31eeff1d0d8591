// ToolServers (see servers.hpp): the registry of a project's MCP servers, and the credentials of
// a call fetched from the vault.
#include "tools/servers.hpp"
#include "base/ids.hpp"

#include <boost/json.hpp>
#include <boost/url/parse.hpp>

#include <future>

#include "store/async.hpp"
#include "tools/mcp/authorization.hpp"
#include "wire/yaml.hpp"

namespace cn::tools {

namespace json = boost::json;

namespace {

constexpr size_t kMaxDocumentText = 4 << 20;

Status bad(const std::string& field, std::string msg) { return invalid_param(field, std::move(msg)); }

std::optional<std::vector<std::string>> names(const json::value* v) {
  if (!v || !v->is_array()) return std::nullopt;
  std::vector<std::string> out;
  for (const auto& n : v->as_array())
    if (n.is_string()) out.emplace_back(n.as_string());
  return out;
}

// What a registration says about its OAuth client (scheme "oauth"); never stored here.
struct OAuthInput {
  std::string client_id, client_secret, scopes, redirect_uri;
};

// `stored`: a row read back (it may hold what discovery found); else a request's body.
Result<ToolServer> parse(const std::string& project, const json::object& o, bool allow_private, bool stored = false,
                         OAuthInput* oauth_in = nullptr) {
  ToolServer s;
  s.project_id = project;
  auto str = [&](const char* k, std::string& out, bool required, size_t max) -> Status {
    auto* v = o.if_contains(k);
    if (!v || v->is_null()) return required ? bad(k, std::string("Missing required parameter: '") + k + "'.") : Status();
    if (!v->is_string() || v->as_string().size() > max)
      return bad(k, std::string("Invalid '") + k + "': expected a string of at most " + std::to_string(max) + " characters.");
    out = std::string(v->as_string());
    return {};
  };
  for (const auto& [k, v] : o) {
    static const char* known[] = {"label", "url", "description", "auth", "headers", "allowed_tools", "idempotent_tools", "require_approval", "openapi"};
    if (std::find_if(std::begin(known), std::end(known), [&](const char* n) { return k == n; }) == std::end(known))
      return bad(std::string(k), "Unknown parameter: '" + std::string(k) + "'.");
  }
  if (Status st = str("label", s.label, true, 64); !st.ok()) return st;
  if (!valid_id_syntax(s.label, 64))
    return bad("label", "Invalid 'label': expected 1 to 64 letters, digits, '_' or '-'.");
  if (auto* doc = o.if_contains("openapi"); doc && !doc->is_null()) {
    json::value converted;
    if (doc->is_string()) {  // YAML (or JSON) text
      if (doc->as_string().size() > kMaxDocumentText) return bad("openapi", "Invalid 'openapi': the document is larger than 4 MiB.");
      auto y = wire::yaml_to_json(doc->as_string());
      if (!y.ok()) return bad("openapi", "Invalid 'openapi': " + y.status().message());
      converted = std::move(*y);
      doc = &converted;
    }
    if (!doc->is_object()) return bad("openapi", "Invalid 'openapi': expected an OpenAPI 3 document (a JSON object, or YAML text).");
    auto api = openapi::parse(doc->as_object());
    if (!api.ok()) return api.status();
    s.api = *api;
    s.openapi_doc = *doc;
  }
  if (Status st = str("url", s.url, !s.api, 2048); !st.ok()) return st;
  if (s.url.empty() && s.api) s.url = s.api->base_url;
  if (s.url.empty()) return bad("url", "Missing required parameter: 'url' (the OpenAPI document names no server).");
  auto url = boost::urls::parse_absolute_uri(s.url);
  if (!url || (url->scheme() != "http" && url->scheme() != "https") || url->host().empty())
    return bad("url", "Invalid 'url': expected an http:// or https:// URL.");
  if (!allow_private && mcp::private_host(std::string(url->host())))
    return bad("url", "Invalid 'url': private and loopback addresses are not allowed on this server.");
  if (Status st = str("description", s.description, false, 1024); !st.ok()) return st;
  if (auto* a = o.if_contains("auth"); a && !a->is_null()) {
    if (!a->is_object()) return bad("auth", "Invalid 'auth': expected {\"provider\", \"owner\", \"scheme\", \"header\"}.");
    const auto& ao = a->as_object();
    auto field = [&](const char* k, std::string& out, size_t max) -> Status {
      auto* v = ao.if_contains(k);
      if (!v || v->is_null()) return {};
      if (!v->is_string() || v->as_string().empty() || v->as_string().size() > max)
        return bad(std::string("auth.") + k, std::string("Invalid 'auth.") + k + "': expected a string of at most " + std::to_string(max) + " characters.");
      out = std::string(v->as_string());
      return {};
    };
    for (const auto& [k, v] : ao) {
      static const char* known[] = {"provider", "owner", "scheme", "header", "client_id", "client_secret", "scopes", "redirect_uri"};
      bool ok = std::find_if(std::begin(known), std::end(known), [&](const char* n) { return k == n; }) != std::end(known);
      if (!ok && !(stored && k == "oauth")) return bad("auth." + std::string(k), "Unknown parameter: 'auth." + std::string(k) + "'.");
    }
    for (auto [k, dst] : {std::pair{"provider", &s.auth_provider}, {"owner", &s.auth_owner}, {"scheme", &s.auth_scheme},
                          {"header", &s.auth_header}})
      if (Status st = field(k, *dst, 64); !st.ok()) return st;
    // An OpenAPI document that says where its credential goes is followed unless told otherwise.
    if (!ao.contains("scheme") && s.api && s.api->has_security) s.auth_scheme = "document";
    if (s.auth_scheme != "bearer" && s.auth_scheme != "header" && s.auth_scheme != "oauth" && s.auth_scheme != "document")
      return bad("auth.scheme", "Invalid 'auth.scheme': expected 'bearer', 'header', 'oauth' or 'document'.");
    if (s.auth_scheme == "document" && !(s.api && s.api->has_security))
      return bad("auth.scheme", "Invalid 'auth.scheme': 'document' needs an OpenAPI document whose operations name a supported security scheme.");
    if (s.auth_scheme == "oauth") {
      if (s.api) return bad("auth.scheme", "Invalid 'auth.scheme': 'oauth' is MCP authorization, for MCP servers.");
      if (s.auth_provider.empty()) {
        s.auth_provider = s.label;
        std::transform(s.auth_provider.begin(), s.auth_provider.end(), s.auth_provider.begin(), ::tolower);
      }
      if (oauth_in)
        for (auto [k, dst, max] : {std::tuple{"client_id", &oauth_in->client_id, size_t(512)}, {"client_secret", &oauth_in->client_secret, size_t(1024)},
                                   {"scopes", &oauth_in->scopes, size_t(1024)}, {"redirect_uri", &oauth_in->redirect_uri, size_t(2048)}})
          if (Status st = field(k, *dst, max); !st.ok()) return st;
      if (auto* d = ao.if_contains("oauth"); stored && d && d->is_object()) s.oauth = d->as_object();
    } else {
      for (const char* k : {"client_id", "client_secret", "scopes", "redirect_uri"})
        if (ao.contains(k)) return bad(std::string("auth.") + k, std::string("'auth.") + k + "' belongs to auth.scheme 'oauth'.");
    }
    if (s.auth_provider.empty()) return bad("auth.provider", "Missing required parameter: 'auth.provider' (the vault provider of the credential).");
    if (!std::all_of(s.auth_provider.begin(), s.auth_provider.end(),
                     [](char c) { return std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.'; }))
      return bad("auth.provider", "Invalid 'auth.provider': expected lower-case letters, digits, '_', '-' or '.'.");
    if (s.auth_owner != "auto" && s.auth_owner != "user" && s.auth_owner != "agent" && s.auth_owner != "project")
      return bad("auth.owner", "Invalid 'auth.owner': expected 'auto', 'user', 'agent' or 'project'.");
    if (s.auth_scheme == "header" && s.auth_header.empty())
      return bad("auth.header", "Missing required parameter: 'auth.header' (the header that carries the credential).");
  }
  if (auto* h = o.if_contains("headers"); h && !h->is_null()) {
    if (!h->is_object() || h->as_object().size() > 32) return bad("headers", "Invalid 'headers': expected an object of at most 32 strings.");
    for (const auto& [k, v] : h->as_object()) {
      if (!v.is_string() || k.empty() || std::string_view(k).find_first_of("\r\n") != std::string_view::npos ||
          v.as_string().find_first_of("\r\n") != json::string::npos)
        return bad("headers." + std::string(k), "Invalid 'headers': values must be strings without line breaks.");
      s.headers.emplace_back(std::string(k), std::string(v.as_string()));
    }
  }
  for (const char* k : {"allowed_tools", "idempotent_tools"}) {
    auto* v = o.if_contains(k);
    if (!v || v->is_null()) continue;
    if (!v->is_array() || !std::all_of(v->as_array().begin(), v->as_array().end(), [](const json::value& n) { return n.is_string(); }))
      return bad(k, std::string("Invalid '") + k + "': expected an array of tool names.");
  }
  s.allowed_tools = names(o.if_contains("allowed_tools"));
  s.idempotent_tools = names(o.if_contains("idempotent_tools")).value_or(std::vector<std::string>{});
  if (Status st = str("require_approval", s.require_approval, false, 16); !st.ok()) return st;
  if (s.require_approval != "always" && s.require_approval != "never")
    return bad("require_approval", "Invalid 'require_approval': expected 'always' or 'never'.");
  return s;
}

json::object config_json(const ToolServer& s) {
  json::object o = tool_server_json(s);
  o.erase("object");
  o.erase("created_at");
  o.erase("operations");
  o.erase("type");
  if (s.api) o["openapi"] = s.openapi_doc;
  return o;
}

}  // namespace

json::object tool_server_json(const ToolServer& s) {
  json::object headers;
  for (const auto& [k, v] : s.headers) headers[k] = v;
  json::array allowed, idem;
  if (s.allowed_tools)
    for (const auto& n : *s.allowed_tools) allowed.push_back(json::value(n));
  for (const auto& n : s.idempotent_tools) idem.push_back(json::value(n));
  json::value auth = nullptr;
  if (!s.auth_provider.empty()) {
    json::object a{{"provider", s.auth_provider}, {"owner", s.auth_owner}, {"scheme", s.auth_scheme}};
    a["header"] = s.auth_header.empty() ? json::value(nullptr) : json::value(s.auth_header);
    if (s.auth_scheme == "oauth") a["oauth"] = s.oauth;
    auth = std::move(a);
  }
  json::value ops = nullptr;
  if (s.api) {
    json::array names;
    for (const auto& op : s.api->operations) names.push_back(json::value(op.name));
    ops = std::move(names);
  }
  return json::object{{"object", "tool_server"},
                      {"label", s.label},
                      {"type", s.api ? "openapi" : "mcp"},
                      {"operations", std::move(ops)},
                      {"url", s.url},
                      {"description", s.description},
                      {"auth", std::move(auth)},
                      {"headers", std::move(headers)},
                      {"allowed_tools", s.allowed_tools ? json::value(std::move(allowed)) : json::value(nullptr)},
                      {"idempotent_tools", std::move(idem)},
                      {"require_approval", s.require_approval},
                      {"created_at", s.created_at}};
}

ToolServers::ToolServers(store::Executor& store, CredentialFetcher fetch, ToolServerOptions opts)
    : store_(store), fetch_(std::move(fetch)), opts_(std::move(opts)) {}

std::vector<store::Migration> ToolServers::migrations() {
  return {{"tools", 1, R"sql(
CREATE TABLE tool_servers (
  project_id TEXT NOT NULL,
  label TEXT NOT NULL,
  config TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (project_id, label)
) WITHOUT ROWID;
)sql"}};
}

Status ToolServers::load() {
  std::promise<Status> p;
  auto f = p.get_future();
  store_.read([this, &p](store::Database& db) {
    auto& q = db.stmt("SELECT project_id, config, created_at FROM tool_servers");
    std::map<std::pair<std::string, std::string>, ToolServer> m;
    while (q.step()) {
      boost::system::error_code ec;
      auto v = json::parse(q.text(1), ec);
      if (ec || !v.is_object()) continue;
      auto s = parse(q.text(0), v.as_object(), true, true);
      if (!s.ok()) continue;
      s->created_at = q.int64(2);
      m[{s->project_id, s->label}] = std::move(*s);
    }
    Status st = q.status();
    q.reset();
    if (st.ok()) {
      std::lock_guard lk(mu_);
      servers_ = std::move(m);
    }
    p.set_value(st);
  });
  return f.get();
}

boost::asio::awaitable<Status> ToolServers::connect_oauth(ToolServer& s, std::string client_id, std::string client_secret) {
  if (!opts_.client || !opts_.register_provider)
    co_return Status(Code::failed_precondition, "MCP authorization is not available on this server.", "auth.scheme");
  auto found = co_await mcp::discover_authorization(*opts_.client, s.url, opts_.allow_private);
  if (!found.ok()) co_return found.status();
  OAuthRegistration r;
  r.project = s.project_id;
  r.provider = s.auth_provider;
  r.issuer = found->issuer;
  r.authorize_url = found->authorization_endpoint;
  r.token_url = found->token_endpoint;
  r.resource = found->resource;
  r.redirect_uri = s.oauth.contains("redirect_uri") ? std::string(s.oauth["redirect_uri"].as_string()) : opts_.redirect_uri;
  r.scopes = s.oauth.contains("scopes") ? std::string(s.oauth["scopes"].as_string()) : found->scopes;
  if (r.redirect_uri.empty())
    co_return bad("auth.redirect_uri", "Missing required parameter: 'auth.redirect_uri' (Continuum's OAuth callback, "
                                       "https://<this server>/v1/vault/oauth/callback; or set oauth.redirect_uri in the configuration).");
  r.client_id = std::move(client_id);
  r.client_secret = std::move(client_secret);
  if (r.client_id.empty()) {
    std::string endpoint = found->registration_endpoint, redirect = r.redirect_uri;
    auto reg = co_await mcp::register_client(*opts_.client, std::move(endpoint), std::move(redirect), opts_.allow_private);
    if (!reg.ok()) co_return reg.status();
    r.client_id = reg->client_id;
    r.client_secret = reg->client_secret;
  }
  s.oauth = json::object{{"issuer", r.issuer},     {"authorization_endpoint", r.authorize_url}, {"token_endpoint", r.token_url},
                         {"resource", r.resource}, {"client_id", r.client_id},              {"scopes", r.scopes},
                         {"redirect_uri", r.redirect_uri}};
  co_return co_await opts_.register_provider(std::move(r));
}

boost::asio::awaitable<Result<ToolServer>> ToolServers::put(std::string project, json::object body) {
  OAuthInput oauth_in;
  auto s = parse(project, body, opts_.allow_private, false, &oauth_in);
  if (!s.ok()) co_return s.status();
  if (s->auth_scheme == "oauth") {
    if (!oauth_in.redirect_uri.empty()) s->oauth["redirect_uri"] = oauth_in.redirect_uri;
    if (!oauth_in.scopes.empty()) s->oauth["scopes"] = oauth_in.scopes;
    Status st = co_await connect_oauth(*s, std::move(oauth_in.client_id), std::move(oauth_in.client_secret));
    if (!st.ok()) co_return st;
  }
  s->created_at = static_cast<int64_t>(std::time(nullptr));
  std::string config = json::serialize(config_json(*s));
  ToolServer row = *s;
  std::function<Status(store::Database&)> fn = [row, config](store::Database& db) {
    return db.stmt("INSERT OR REPLACE INTO tool_servers(project_id, label, config, created_at) VALUES (?1,?2,?3,?4)")
        .bind(1, row.project_id).bind(2, row.label).bind(3, config).bind(4, row.created_at).run();
  };
  fn = store::announced("cfg:tool_servers", std::move(fn));
  Status st = co_await store::write_async(store_, std::move(fn));
  if (!st.ok()) co_return st;
  std::lock_guard lk(mu_);
  servers_[{project, s->label}] = *s;
  co_return *s;
}

std::vector<ToolServer> ToolServers::list(const std::string& project) const {
  std::lock_guard lk(mu_);
  std::vector<ToolServer> out;
  for (auto it = servers_.lower_bound({project, ""}); it != servers_.end() && it->first.first == project; ++it)
    out.push_back(it->second);
  return out;
}

std::optional<ToolServer> ToolServers::get(const std::string& project, const std::string& label) const {
  std::lock_guard lk(mu_);
  auto it = servers_.find({project, label});
  if (it == servers_.end()) return std::nullopt;
  return it->second;
}

boost::asio::awaitable<Status> ToolServers::remove(std::string project, std::string label) {
  if (!get(project, label)) co_return Status(Code::not_found, "Tool server '" + label + "' not found.");
  std::function<Status(store::Database&)> fn = [project, label](store::Database& db) {
    return db.stmt("DELETE FROM tool_servers WHERE project_id=?1 AND label=?2").bind(1, project).bind(2, label).run();
  };
  fn = store::announced("cfg:tool_servers", std::move(fn));
  Status st = co_await store::write_async(store_, std::move(fn));
  if (!st.ok()) co_return st;
  std::lock_guard lk(mu_);
  servers_.erase({project, label});
  co_return Status();
}

bool ToolServers::exists(const std::string& project, const std::string& label) const { return get(project, label).has_value(); }

boost::asio::awaitable<Result<mcp::RegisteredServer>> ToolServers::lookup(const CallContext& ctx, const std::string& label) {
  auto s = get(ctx.project_id, label);
  if (!s) co_return Status(Code::not_found, "Tool server '" + label + "' not found.");
  mcp::RegisteredServer out;
  out.url = s->url;
  out.headers = s->headers;
  out.allowed_tools = s->allowed_tools;
  out.idempotent_tools = s->idempotent_tools;
  out.require_approval = s->require_approval;
  out.api = s->api;
  if (!s->auth_provider.empty()) {
    std::string kind = s->auth_owner, id;
    if (kind == "auto") kind = ctx.user_id.empty() ? "project" : "user";
    if (kind == "user") id = ctx.user_id;
    if (kind == "agent") id = ctx.agent_id;
    if (kind != "project" && id.empty())
      co_return Status(Code::failed_precondition, "Tool server '" + label + "' uses the " + kind + "'s own credential, and this turn acts for no " + kind + ".");
    std::string project = ctx.project_id, provider = s->auth_provider, run = ctx.response_id, actor = ctx.credential_id;
    auto secret = co_await fetch_(project, kind, id, provider, run, actor);
    if (!secret.ok()) {
      std::string hint = s->auth_scheme == "oauth" && kind == "user" && secret.status().code() == Code::not_found
                             ? " The user connects it with POST /v1/vault/oauth/" + provider + "/authorize."
                             : "";
      co_return Status(secret.status().code(), "No usable '" + provider + "' credential for tool server '" + label + "': " +
                                                   secret.status().message() + hint);
    }
    if (s->auth_scheme == "document") out.credential = std::move(*secret);
    else if (s->auth_scheme != "header") out.headers.emplace_back("Authorization", "Bearer " + *secret);
    else out.headers.emplace_back(s->auth_header, *secret);
  }
  co_return out;
}

}  // namespace cn::tools
