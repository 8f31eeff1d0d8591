// McpToolSource (see source.hpp): validating a request's `mcp` tool entry, listing its server
// and calling its tools.
#include "tools/mcp/source.hpp"
#include "base/ids.hpp"

#include <boost/json.hpp>
#include <boost/url/parse.hpp>

#include <algorithm>

namespace cn::tools::mcp {

namespace json = boost::json;

namespace {

Status bad(const std::string& field, std::string msg) { return invalid_param("tools." + field, std::move(msg)); }

// A tool filter: names, and/or read-only tools (OpenAI's McpToolFilter).
struct Filter {
  std::optional<std::vector<std::string>> names;
  std::optional<bool> read_only;
  bool matches(const ListedTool& t) const {
    if (names && std::find(names->begin(), names->end(), t.name) == names->end()) return false;
    if (read_only && *read_only != t.read_only) return false;
    return true;
  }
};

Status parse_filter(const json::value& v, const std::string& field, Filter& out) {
  if (v.is_array()) {
    std::vector<std::string> names;
    for (const auto& n : v.as_array()) {
      if (!n.is_string()) return bad(field, "Invalid '" + field + "': expected an array of tool names.");
      names.emplace_back(n.as_string());
    }
    out.names = std::move(names);
    return {};
  }
  if (!v.is_object()) return bad(field, "Invalid '" + field + "': expected an array of tool names or a filter object.");
  const auto& o = v.as_object();
  for (const auto& [k, val] : o)
    if (k != "tool_names" && k != "read_only")
      return bad(field + "." + std::string(k), "Unknown parameter: '" + field + "." + std::string(k) + "'.");
  if (auto* n = o.if_contains("tool_names"); n && !n->is_null()) {
    Filter f;
    if (Status s = parse_filter(*n, field + ".tool_names", f); !s.ok() || !n->is_array())
      return s.ok() ? bad(field + ".tool_names", "expected an array of tool names") : s;
    out.names = f.names;
  }
  if (auto* r = o.if_contains("read_only"); r && !r->is_null()) {
    if (!r->is_bool()) return bad(field + ".read_only", "Invalid '" + field + ".read_only': expected a boolean.");
    out.read_only = r->as_bool();
  }
  return {};
}

// When a call needs a human's approval (require_approval).
struct Approval {
  enum Mode { always, never, filtered } mode = always;
  std::optional<Filter> always_f, never_f;
  bool needed(const ListedTool& t) const {
    if (mode != filtered) return mode == always;
    if (always_f && always_f->matches(t)) return true;
    if (never_f && never_f->matches(t)) return false;
    return true;  // a tool neither filter names needs approval, as by OpenAI's default
  }
};

}  // namespace

bool private_host(std::string host) {
  std::transform(host.begin(), host.end(), host.begin(), ::tolower);
  if (host == "localhost" || host.ends_with(".localhost") || host.ends_with(".internal") || host.ends_with(".local"))
    return true;
  if (host.starts_with("[")) return true;  // IPv6 literals: loopback, link-local and ULA are the norm in tests
  unsigned a, b, c, d;
  if (std::sscanf(host.c_str(), "%u.%u.%u.%u", &a, &b, &c, &d) == 4)
    return a == 127 || a == 10 || a == 0 || (a == 172 && b >= 16 && b < 32) || (a == 192 && b == 168) ||
           (a == 169 && b == 254) || (a == 100 && b >= 64 && b < 128);
  return false;
}

namespace {

json::object listing_json(const ListedTool& t) {
  json::object o{{"name", t.name}, {"input_schema", t.input_schema}, {"annotations", t.annotations}};
  o["description"] = t.description.empty() ? json::value(nullptr) : json::value(t.description);
  return o;
}

class McpTool final : public Tool {
 public:
  McpTool(std::shared_ptr<Session> s, std::string label, ListedTool t, bool approval, bool idempotent)
      : s_(std::move(s)), label_(std::move(label)), t_(std::move(t)), approval_(approval), idempotent_(idempotent) {}
  const std::string& name() const override { return t_.name; }
  json::object definition() const override {
    json::object d{{"type", "function"}, {"name", t_.name}, {"parameters", t_.input_schema}, {"strict", false}};
    d["description"] = t_.description;
    return d;
  }
  bool idempotent() const override { return idempotent_; }
  ItemType item_type() const override { return ItemType::mcp_call; }
  const std::string& server_label() const override { return label_; }
  bool needs_approval() const override { return approval_; }
  awaitable<Outcome> execute(const CallContext& ctx, std::string arguments) override {
    auto r = co_await s_->call_tool(t_.name, std::move(arguments), ctx.cancel, ctx.deadline);
    if (!r.ok()) co_return error_outcome(r.status().message());
    if (r->is_error) co_return error_outcome(r->output);
    co_return Outcome{r->output};
  }

 private:
  std::shared_ptr<Session> s_;
  const std::string label_;
  const ListedTool t_;
  const bool approval_, idempotent_;
};

// One request's MCP server: what to allow and approve, and how to reach it.
struct ServerConfig {
  std::string label, url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::optional<Filter> allowed;
  Approval approval;
  std::vector<std::string> idempotent_tools;
  bool registered = false;      // resolved from the project's registry when listed
  bool approval_given = false;  // the request said require_approval (else the registry decides)
};

class McpConnector final : public Connector {
 public:
  McpConnector(McpToolSource& src, std::shared_ptr<Registry> registry, ServerConfig cfg)
      : src_(src), registry_(std::move(registry)), cfg_(std::move(cfg)) {}
  const std::string& label() const override { return cfg_.label; }

  awaitable<Result<std::string>> list(const CallContext& ctx, const std::string* cached, ToolSet& out) override {
    if (cfg_.registered) {
      auto reg = co_await registry_->lookup(ctx, cfg_.label);
      if (!reg.ok()) co_return reg.status();
      cfg_.url = reg->url;
      for (auto& h : reg->headers) cfg_.headers.push_back(h);
      // The registry's allowed tools bound the request's; its approval mode is the default.
      if (reg->allowed_tools) {
        Filter f{reg->allowed_tools, std::nullopt};
        if (cfg_.allowed && cfg_.allowed->names) {
          std::vector<std::string> both;
          for (const auto& n : *cfg_.allowed->names)
            if (std::find(reg->allowed_tools->begin(), reg->allowed_tools->end(), n) != reg->allowed_tools->end()) both.push_back(n);
          f.names = std::move(both);
        }
        if (cfg_.allowed) f.read_only = cfg_.allowed->read_only;
        cfg_.allowed = std::move(f);
      }
      cfg_.idempotent_tools = reg->idempotent_tools;
      if (!cfg_.approval_given)
        cfg_.approval.mode = reg->require_approval == "always" ? Approval::always : Approval::never;
      cfg_.registered = false;
      api_ = reg->api;
      credential_ = std::move(reg->credential);
    }
    if (api_) co_return list_api(out);
    auto ex = co_await boost::asio::this_coro::executor;
    auto session = cfg_.url.starts_with("stdio:") ? src_.stdio_session(cfg_.label, ex) : src_.session(Endpoint{cfg_.url, cfg_.headers});
    std::vector<ListedTool> tools;
    if (cached) {
      boost::system::error_code ec;
      auto v = json::parse(*cached, ec);
      if (ec || !v.is_array()) co_return Status(Code::internal, "the recorded listing is not a JSON array");
      for (const auto& t : v.as_array()) {
        if (!t.is_object()) continue;
        json::object o = t.as_object();
        if (auto* s = o.if_contains("input_schema")) o["inputSchema"] = *s;
        if (!o.if_contains("name") || !o.at("name").is_string()) continue;
        ListedTool l;
        l.name = std::string(o.at("name").as_string());
        if (auto* d = o.if_contains("description"); d && d->is_string()) l.description = std::string(d->as_string());
        l.input_schema = o.contains("inputSchema") ? o.at("inputSchema") : json::value(json::object{{"type", "object"}});
        l.annotations = o.contains("annotations") ? o.at("annotations") : json::value(nullptr);
        if (l.annotations.is_object()) {
          auto flag = [&](const char* k) {
            auto* f = l.annotations.as_object().if_contains(k);
            return f && f->is_bool() && f->as_bool();
          };
          l.read_only = flag("readOnlyHint");
          l.idempotent = flag("idempotentHint") || l.read_only;
        }
        tools.push_back(std::move(l));
      }
    } else {
      auto r = co_await session->list_tools(ctx.cancel, ctx.deadline);
      if (!r.ok()) co_return r.status();
      tools = std::move(*r);
    }
    json::array listing;
    for (auto& t : tools) {
      if (cfg_.allowed && !cfg_.allowed->matches(t)) continue;
      listing.push_back(listing_json(t));
      bool idem = t.idempotent || std::find(cfg_.idempotent_tools.begin(), cfg_.idempotent_tools.end(), t.name) !=
                                      cfg_.idempotent_tools.end();
      bool approval = cfg_.approval.needed(t);
      // Two servers offering one name: the first keeps it (the model calls tools by name).
      (void)out.add(std::make_shared<McpTool>(session, cfg_.label, std::move(t), approval, idem));
    }
    co_return json::serialize(listing);
  }

 private:
  // A registered OpenAPI document: one tool per operation, called over HTTP with the server's
  // headers (credentials included).
  std::string list_api(ToolSet& out) {
    json::array listing;
    for (const auto& op : api_->operations) {
      ListedTool t;
      t.name = op.name;
      t.description = op.description;
      t.input_schema = op.input_schema;
      t.read_only = op.read_only();
      t.idempotent = op.idempotent();
      t.annotations = json::object{{"readOnlyHint", t.read_only}, {"idempotentHint", t.idempotent}};
      if (cfg_.allowed && !cfg_.allowed->matches(t)) continue;
      listing.push_back(listing_json(t));
      bool idem = t.idempotent || std::find(cfg_.idempotent_tools.begin(), cfg_.idempotent_tools.end(), t.name) !=
                                      cfg_.idempotent_tools.end();
      (void)out.add(openapi::make_tool(src_.client(), cfg_.label, op, cfg_.url, cfg_.headers, credential_, idem, cfg_.approval.needed(t)));
    }
    return json::serialize(listing);
  }

  std::shared_ptr<const openapi::Api> api_;
  std::string credential_;  // placed per operation by the document's security schemes
  McpToolSource& src_;
  std::shared_ptr<Registry> registry_;
  ServerConfig cfg_;
};

}  // namespace

McpToolSource::McpToolSource(http::Client& client, SourceOptions opts, std::shared_ptr<Registry> registry)
    : client_(client), opts_(opts), registry_(std::move(registry)) {}

std::shared_ptr<Session> McpToolSource::session(const Endpoint& ep) {
  std::string key = ep.url;
  for (const auto& [k, v] : ep.headers) key += "\n" + k + ":" + v;
  std::lock_guard lk(mu_);
  if (auto it = sessions_.find(key); it != sessions_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second);
    return it->second->second;
  }
  auto s = std::make_shared<Session>(client_, ep, opts_.list_ttl);
  lru_.emplace_front(key, s);
  sessions_[key] = lru_.begin();
  while (lru_.size() > opts_.max_sessions) {
    sessions_.erase(lru_.back().first);
    lru_.pop_back();
  }
  return s;
}

const StdioServer* McpToolSource::stdio_server(const std::string& label, const std::string& project) const {
  for (const auto& sv : opts_.stdio)
    if (sv.label == label && sv.allowed_for(project)) return &sv;
  return nullptr;
}

std::shared_ptr<Session> McpToolSource::stdio_session(const std::string& label, boost::asio::any_io_executor ex) {
  std::lock_guard lk(mu_);
  if (auto it = stdio_sessions_.find(label); it != stdio_sessions_.end()) return it->second;
  // Only labels add_tools resolved through stdio_server() reach here.
  auto sv = std::find_if(opts_.stdio.begin(), opts_.stdio.end(), [&](const StdioServer& c) { return c.label == label; });
  auto s = std::make_shared<Session>(client_, std::make_shared<StdioProcess>(ex, *sv), opts_.list_ttl);
  stdio_sessions_[label] = s;
  return s;
}

Status McpToolSource::add_tools(const ToolRequest& req, ToolSet& out) {
  const auto& o = req.config;
  static const char* known[] = {"type", "server_label", "server_url", "headers", "authorization", "server_description",
                                "allowed_tools", "require_approval", "connector_id", "allowed_callers", "defer_loading"};
  for (const auto& [k, v] : o)
    if (std::find_if(std::begin(known), std::end(known), [&](const char* n) { return k == n; }) == std::end(known))
      return bad(std::string(k), "Unknown parameter: 'tools." + std::string(k) + "'.");
  ServerConfig cfg;
  auto* label = o.if_contains("server_label");
  if (!label) return bad("server_label", "Missing required parameter: 'tools.server_label'.");
  if (!label->is_string() || !valid_id_syntax(label->as_string(), 64))
    return bad("server_label", "Invalid 'tools.server_label': expected 1 to 64 letters, digits, '_' or '-'.");
  cfg.label = std::string(label->as_string());
  if (auto* c = o.if_contains("connector_id"); c && !c->is_null())
    return Status(Code::invalid_argument, "Connectors are not available on this server; give 'server_url' or register the server.",
                  "tools.connector_id", "unsupported_parameter");
  if (auto* u = o.if_contains("server_url"); u && !u->is_null()) {
    if (!u->is_string()) return bad("server_url", "Invalid type for 'tools.server_url': expected a string.");
    auto url = boost::urls::parse_absolute_uri(std::string_view(u->as_string()));
    if (!url || (url->scheme() != "http" && url->scheme() != "https") || url->host().empty())
      return bad("server_url", "Invalid 'tools.server_url': expected an http:// or https:// URL.");
    if (!opts_.allow_private_urls && private_host(std::string(url->host())))
      return bad("server_url", "Invalid 'tools.server_url': private and loopback addresses are not allowed on this server.");
    cfg.url = std::string(u->as_string());
  } else if (const StdioServer* sv = stdio_server(cfg.label, req.project_id)) {
    cfg.url = "stdio:" + cfg.label;
    cfg.idempotent_tools = sv->idempotent_tools;
  } else if (registry_) {
    if (!registry_->exists(req.project_id, cfg.label))
      return bad("server_label", "No tool server labelled '" + cfg.label + "' is registered for this project; give 'server_url' or register it at /v1/tool_servers.");
    cfg.registered = true;
  } else {
    return bad("server_url", "Missing required parameter: 'tools.server_url'.");
  }
  if (auto* h = o.if_contains("headers"); h && !h->is_null()) {
    if (!h->is_object() || h->as_object().size() > 32)
      return bad("headers", "Invalid 'tools.headers': expected an object of at most 32 string values.");
    for (const auto& [k, v] : h->as_object()) {
      if (!v.is_string()) return bad("headers." + std::string(k), "Invalid 'tools.headers': values must be strings.");
      std::string_view name = k, value = v.as_string();
      auto bad_char = [](char c) { return c == '\r' || c == '\n' || c == '\0'; };
      if (name.empty() || std::any_of(name.begin(), name.end(), bad_char) || std::any_of(value.begin(), value.end(), bad_char))
        return bad("headers", "Invalid 'tools.headers': header names and values may not contain line breaks.");
      cfg.headers.emplace_back(std::string(name), std::string(value));
    }
  }
  if (auto* a = o.if_contains("authorization"); a && !a->is_null()) {
    if (!a->is_string() || a->as_string().find_first_of("\r\n") != json::string::npos)
      return bad("authorization", "Invalid 'tools.authorization': expected a token string.");
    cfg.headers.emplace_back("Authorization", "Bearer " + std::string(a->as_string()));
  }
  if (auto* d = o.if_contains("server_description"); d && !d->is_null() && !d->is_string())
    return bad("server_description", "Invalid type for 'tools.server_description': expected a string.");
  if (auto* a = o.if_contains("allowed_tools"); a && !a->is_null()) {
    Filter f;
    if (Status s = parse_filter(*a, "allowed_tools", f); !s.ok()) return s;
    cfg.allowed = std::move(f);
  }
  if (auto* r = o.if_contains("require_approval"); r && !r->is_null()) {
    cfg.approval_given = true;
    if (r->is_string()) {
      if (r->as_string() == "always") cfg.approval.mode = Approval::always;
      else if (r->as_string() == "never") cfg.approval.mode = Approval::never;
      else return bad("require_approval", "Invalid 'tools.require_approval': expected 'always', 'never' or a filter object.");
    } else if (r->is_object()) {
      cfg.approval.mode = Approval::filtered;
      for (const auto& [k, v] : r->as_object()) {
        if (k != "always" && k != "never")
          return bad("require_approval." + std::string(k), "Unknown parameter: 'tools.require_approval." + std::string(k) + "'.");
        Filter f;
        if (Status s = parse_filter(v, "require_approval." + std::string(k), f); !s.ok()) return s;
        (k == "always" ? cfg.approval.always_f : cfg.approval.never_f) = std::move(f);
      }
    } else {
      return bad("require_approval", "Invalid 'tools.require_approval': expected 'always', 'never' or a filter object.");
    }
  }
  for (const auto& c : out.connectors())
    if (c->label() == cfg.label) return bad("server_label", "Two MCP servers are labelled '" + cfg.label + "'.");
  out.add_connector(std::make_shared<McpConnector>(*this, registry_, std::move(cfg)));
  return {};
}

}  // namespace cn::tools::mcp
