// MCP authorization discovery (see authorization.hpp): the unauthenticated probe, protected-
// resource metadata, authorization server metadata, and dynamic client registration.
#include "tools/mcp/authorization.hpp"

#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>

#include "tools/mcp/session.hpp"
#include "tools/mcp/source.hpp"

namespace cn::tools::mcp {

namespace json = boost::json;

namespace {

constexpr size_t kMaxDocument = 1 << 20;
constexpr auto kTimeout = std::chrono::seconds(10);

Status refused(std::string msg) { return Status(Code::invalid_argument, std::move(msg), "auth"); }

// May this URL be followed? https, or http to a private address when those are allowed.
Status check_url(const std::string& url, bool allow_private, const char* what) {
  auto u = boost::urls::parse_absolute_uri(url);
  if (!u || u->host().empty() || (u->scheme() != "https" && u->scheme() != "http"))
    return refused(std::string("MCP authorization: the ") + what + " is not an http(s) URL.");
  bool priv = private_host(std::string(u->host()));
  if (priv && !allow_private)
    return refused(std::string("MCP authorization: the ") + what + " names a private or loopback address, which this server may not reach.");
  if (u->scheme() == "http" && !priv) return refused(std::string("MCP authorization: the ") + what + " must be an https URL.");
  return {};
}

std::string origin_of(const boost::urls::url_view& u) {
  std::string o = std::string(u.scheme()) + "://" + std::string(u.encoded_host_and_port());
  return o;
}

// Path without a trailing slash ("" for the root).
std::string path_of(const boost::urls::url_view& u) {
  std::string p(u.encoded_path());
  while (!p.empty() && p.back() == '/') p.pop_back();
  return p;
}

std::string str(const json::object& o, const char* k) {
  auto* v = o.if_contains(k);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

std::string without_slash(std::string s) {
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

// GETs a JSON object; nullopt when the URL answers anything else (the caller tries the next one).
boost::asio::awaitable<Result<std::optional<json::object>>> get_document(http::Client& client, std::string url) {
  http::ClientRequest req;
  req.method = "GET";
  req.url = std::move(url);
  req.headers = {{"accept", "application/json"}, {"MCP-Protocol-Version", kProtocolVersion}};
  req.timeout = kTimeout;
  req.max_body = kMaxDocument;
  auto res = co_await client.call(std::move(req));
  if (!res.ok()) {
    if (res.status().code() == Code::unavailable || res.status().code() == Code::deadline_exceeded) co_return res.status();
    co_return std::optional<json::object>();
  }
  if (res->status != 200) co_return std::optional<json::object>();
  boost::system::error_code ec;
  auto v = json::parse(res->body, ec);
  if (ec || !v.is_object()) co_return std::optional<json::object>();
  co_return std::optional<json::object>(std::move(v.as_object()));
}

// The first of `urls` that holds a JSON object.
boost::asio::awaitable<Result<std::optional<json::object>>> first_document(http::Client& client, std::vector<std::string> urls,
                                                                           bool allow_private, const char* what) {
  for (auto& url : urls) {
    if (Status st = check_url(url, allow_private, what); !st.ok()) co_return st;
    auto doc = co_await get_document(client, url);
    if (!doc.ok()) co_return refused(std::string("MCP authorization: the ") + what + " could not be read: " + doc.status().message());
    if (*doc) co_return std::move(*doc);
  }
  co_return std::optional<json::object>();
}

// RFC 8414 section 3.1 and OpenID Connect discovery, in the order MCP gives.
std::vector<std::string> metadata_urls(const boost::urls::url_view& issuer) {
  std::string origin = origin_of(issuer), path = path_of(issuer);
  if (path.empty()) return {origin + "/.well-known/oauth-authorization-server", origin + "/.well-known/openid-configuration"};
  return {origin + "/.well-known/oauth-authorization-server" + path, origin + "/.well-known/openid-configuration" + path,
          origin + path + "/.well-known/openid-configuration"};
}

// Is `resource` this server's URL or a prefix of it (same origin, path prefix at a segment)?
bool covers(const boost::urls::url_view& resource, const boost::urls::url_view& server) {
  if (origin_of(resource) != origin_of(server)) return false;
  std::string rp = path_of(resource), sp = path_of(server);
  return sp == rp || (sp.starts_with(rp) && sp[rp.size()] == '/') || rp.empty();
}

}  // namespace

std::map<std::string, std::string> bearer_challenge(std::string_view h) {
  std::map<std::string, std::string> out;
  size_t at = 0;
  // Find the Bearer scheme (a header may hold several challenges).
  for (;;) {
    at = h.find_first_not_of(" ,", at);
    if (at == std::string_view::npos) return out;
    if (h.size() - at >= 6 && strncasecmp(h.data() + at, "bearer", 6) == 0 && (h.size() == at + 6 || h[at + 6] == ' ')) break;
    at = h.find(' ', at);
    if (at == std::string_view::npos) return out;
  }
  at += 6;
  while (at < h.size()) {
    at = h.find_first_not_of(" ,", at);
    if (at == std::string_view::npos) break;
    size_t eq = h.find('=', at);
    if (eq == std::string_view::npos) break;
    std::string name(h.substr(at, eq - at));
    while (!name.empty() && name.back() == ' ') name.pop_back();
    if (name.find(' ') != std::string::npos) break;  // the next challenge's scheme
    std::transform(name.begin(), name.end(), name.begin(), ::tolower);
    at = eq + 1;
    std::string value;
    if (at < h.size() && h[at] == '"') {
      for (++at; at < h.size() && h[at] != '"'; ++at) {
        if (h[at] == '\\' && at + 1 < h.size()) ++at;
        value += h[at];
      }
      ++at;
    } else {
      size_t end = h.find_first_of(", ", at);
      value = std::string(h.substr(at, end == std::string_view::npos ? std::string_view::npos : end - at));
      at = end == std::string_view::npos ? h.size() : end;
    }
    out.emplace(std::move(name), std::move(value));
  }
  return out;
}

boost::asio::awaitable<Result<AuthorizationServer>> discover_authorization(http::Client& client, std::string server_url,
                                                                           bool allow_private) {
  auto server = boost::urls::parse_absolute_uri(server_url);
  if (!server) co_return refused("MCP authorization: the server URL is not a URL.");
  if (Status st = check_url(server_url, allow_private, "MCP server URL"); !st.ok()) co_return st;

  // 1. The unauthenticated probe.
  http::ClientRequest probe;
  probe.url = server_url;
  probe.headers = {{"content-type", "application/json"}, {"accept", "application/json, text/event-stream"},
                   {"MCP-Protocol-Version", kProtocolVersion}};
  probe.body = json::serialize(json::object{
      {"jsonrpc", "2.0"}, {"id", 0}, {"method", "initialize"},
      {"params", json::object{{"protocolVersion", kProtocolVersion}, {"capabilities", json::object{}},
                              {"clientInfo", json::object{{"name", "continuum"}, {"version", "1"}}}}}});
  probe.timeout = kTimeout;
  probe.max_body = kMaxDocument;
  auto answer = co_await client.call(std::move(probe));
  if (!answer.ok()) co_return refused("MCP authorization: the MCP server did not answer: " + answer.status().message());
  if (answer->status != 401)
    co_return refused("MCP authorization: the MCP server did not ask for authorization (it answered HTTP " +
                      std::to_string(answer->status) + " without credentials).");
  auto challenge = bearer_challenge(answer->header("www-authenticate"));

  // 2. Protected-resource metadata.
  std::vector<std::string> prm_urls;
  if (auto it = challenge.find("resource_metadata"); it != challenge.end() && !it->second.empty()) {
    prm_urls.push_back(it->second);
  } else {
    std::string origin = origin_of(*server), path = path_of(*server);
    if (!path.empty()) prm_urls.push_back(origin + "/.well-known/oauth-protected-resource" + path);
    prm_urls.push_back(origin + "/.well-known/oauth-protected-resource");
  }
  auto prm = co_await first_document(client, std::move(prm_urls), allow_private, "protected-resource metadata");
  if (!prm.ok()) co_return prm.status();
  if (!*prm) co_return refused("MCP authorization: the MCP server publishes no protected-resource metadata.");
  const json::object& rm = **prm;
  AuthorizationServer out;
  out.resource = str(rm, "resource");
  if (out.resource.empty()) {
    boost::urls::url canonical(*server);
    canonical.remove_fragment();
    out.resource = std::string(canonical.buffer());
  } else {
    auto r = boost::urls::parse_absolute_uri(out.resource);
    if (!r || !covers(*r, *server))
      co_return refused("MCP authorization: the protected-resource metadata names resource '" + out.resource.substr(0, 200) +
                        "', which is not this server.");
  }
  auto* servers = rm.if_contains("authorization_servers");
  if (!servers || !servers->is_array() || servers->as_array().empty() || !servers->as_array()[0].is_string())
    co_return refused("MCP authorization: the protected-resource metadata names no authorization server.");
  std::string issuer(servers->as_array()[0].as_string());
  if (auto it = challenge.find("scope"); it != challenge.end() && !it->second.empty()) {
    out.scopes = it->second;
  } else if (auto* sc = rm.if_contains("scopes_supported"); sc && sc->is_array()) {
    for (const auto& v : sc->as_array())
      if (v.is_string()) out.scopes += (out.scopes.empty() ? "" : " ") + std::string(v.as_string());
  }

  // 3. Authorization server metadata.
  auto iu = boost::urls::parse_absolute_uri(issuer);
  if (!iu) co_return refused("MCP authorization: the authorization server '" + issuer.substr(0, 200) + "' is not a URL.");
  std::vector<std::string> meta_urls = metadata_urls(*iu);
  auto meta = co_await first_document(client, std::move(meta_urls), allow_private, "authorization server metadata");
  if (!meta.ok()) co_return meta.status();
  if (!*meta) co_return refused("MCP authorization: the authorization server " + issuer.substr(0, 200) + " publishes no metadata.");
  const json::object& am = **meta;
  out.issuer = str(am, "issuer");
  if (without_slash(out.issuer) != without_slash(issuer))
    co_return refused("MCP authorization: the authorization server's metadata names another issuer.");
  out.authorization_endpoint = str(am, "authorization_endpoint");
  out.token_endpoint = str(am, "token_endpoint");
  out.registration_endpoint = str(am, "registration_endpoint");
  if (out.authorization_endpoint.empty() || out.token_endpoint.empty())
    co_return refused("MCP authorization: the authorization server's metadata lacks an authorization or token endpoint.");
  bool s256 = false;
  if (auto* m = am.if_contains("code_challenge_methods_supported"); m && m->is_array())
    for (const auto& v : m->as_array()) s256 = s256 || (v.is_string() && v.as_string() == "S256");
  if (!s256) co_return refused("MCP authorization: the authorization server does not offer PKCE with S256.");
  for (auto [url, what] : {std::pair{&out.authorization_endpoint, "authorization endpoint"}, {&out.token_endpoint, "token endpoint"}})
    if (Status st = check_url(*url, allow_private, what); !st.ok()) co_return st;
  co_return out;
}

boost::asio::awaitable<Result<ClientRegistration>> register_client(http::Client& client, std::string registration_endpoint,
                                                                   std::string redirect_uri, bool allow_private) {
  if (registration_endpoint.empty())
    co_return refused("MCP authorization: the authorization server offers no dynamic client registration; give 'auth.client_id'.");
  if (Status st = check_url(registration_endpoint, allow_private, "registration endpoint"); !st.ok()) co_return st;
  http::ClientRequest req;
  req.url = std::move(registration_endpoint);
  req.headers = {{"content-type", "application/json"}, {"accept", "application/json"}};
  req.body = json::serialize(json::object{{"client_name", "Continuum"},
                                          {"redirect_uris", json::array{json::value(redirect_uri)}},
                                          {"grant_types", json::array{"authorization_code", "refresh_token"}},
                                          {"response_types", json::array{"code"}},
                                          {"token_endpoint_auth_method", "none"}});
  req.timeout = kTimeout;
  req.max_body = kMaxDocument;
  auto res = co_await client.call(std::move(req));
  if (!res.ok()) co_return refused("MCP authorization: client registration failed: " + res.status().message());
  boost::system::error_code ec;
  auto v = json::parse(res->body, ec);
  if (res->status != 200 && res->status != 201) {
    std::string why = !ec && v.is_object() ? str(v.as_object(), "error").substr(0, 64) : std::string();
    co_return refused("MCP authorization: the authorization server refused client registration (HTTP " + std::to_string(res->status) +
                      (why.empty() ? "" : ", " + why) + ").");
  }
  if (ec || !v.is_object() || str(v.as_object(), "client_id").empty())
    co_return refused("MCP authorization: client registration answered without a client_id.");
  co_return ClientRegistration{str(v.as_object(), "client_id"), str(v.as_object(), "client_secret")};
}

}  // namespace cn::tools::mcp
