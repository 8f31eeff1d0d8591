// OpenAPI documents as tools (see openapi.hpp): parsing operations and schemas, and calling them.
#include "tools/openapi/openapi.hpp"

#include <boost/json.hpp>
#include <boost/url.hpp>

#include <algorithm>
#include <map>

namespace cn::tools::openapi {

namespace json = boost::json;

namespace {

constexpr size_t kMaxOperations = 256;
constexpr int kMaxRefDepth = 16;

Status bad(std::string message) { return Status(Code::invalid_argument, "Invalid 'openapi': " + std::move(message), "openapi"); }

// Follows a local reference ("#/components/schemas/Pet") in the document.
const json::value* follow(const json::object& doc, std::string_view ref) {
  if (!ref.starts_with("#/")) return nullptr;
  const json::value* cur = nullptr;
  const json::object* obj = &doc;
  size_t pos = 2;
  while (pos <= ref.size()) {
    size_t end = ref.find('/', pos);
    if (end == std::string_view::npos) end = ref.size();
    std::string key(ref.substr(pos, end - pos));
    for (size_t i; (i = key.find("~1")) != std::string::npos;) key.replace(i, 2, "/");
    for (size_t i; (i = key.find("~0")) != std::string::npos;) key.replace(i, 2, "~");
    if (!obj) return nullptr;
    cur = obj->if_contains(key);
    if (!cur) return nullptr;
    obj = cur->is_object() ? &cur->as_object() : nullptr;
    pos = end + 1;
  }
  return cur;
}

// A copy of `v` with local $refs replaced by what they name (cycles and depth end as {}).
json::value resolve(const json::object& doc, const json::value& v, int depth) {
  if (depth > kMaxRefDepth) return json::object{};
  if (v.is_array()) {
    json::array out;
    for (const auto& e : v.as_array()) out.push_back(resolve(doc, e, depth + 1));
    return out;
  }
  if (!v.is_object()) return v;
  const auto& o = v.as_object();
  if (auto* r = o.if_contains("$ref"); r && r->is_string()) {
    const json::value* target = follow(doc, r->as_string());
    return target ? resolve(doc, *target, depth + 1) : json::value(json::object{});
  }
  json::object out;
  for (const auto& [k, e] : o) out[k] = resolve(doc, e, depth + 1);
  return out;
}

std::string tool_name(std::string raw) {
  std::string out;
  for (char c : raw) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-') ? c : '_';
  while (out.find("__") != std::string::npos) out.replace(out.find("__"), 2, "_");
  while (!out.empty() && out.front() == '_') out.erase(0, 1);
  while (!out.empty() && out.back() == '_') out.pop_back();
  return out.substr(0, 64);
}

std::string text_of(const json::value& v) {
  if (v.is_string()) return std::string(v.as_string());
  return json::serialize(v);
}

std::string encode(std::string_view s) { return boost::urls::encode(s, boost::urls::unreserved_chars); }

// The supported schemes of components.securitySchemes, by name.
std::map<std::string, Placement> security_schemes(const json::object& doc) {
  std::map<std::string, Placement> out;
  auto* comps = doc.if_contains("components");
  if (!comps || !comps->is_object()) return out;
  auto* schemes = comps->as_object().if_contains("securitySchemes");
  if (!schemes || !schemes->is_object()) return out;
  for (const auto& [name, v] : schemes->as_object()) {
    json::value sv = resolve(doc, v, 0);
    if (!sv.is_object()) continue;
    const auto& so = sv.as_object();
    auto str = [&](const char* k) {
      auto* x = so.if_contains(k);
      return x && x->is_string() ? std::string(x->as_string()) : std::string();
    };
    std::string type = str("type"), scheme = str("scheme");
    std::transform(scheme.begin(), scheme.end(), scheme.begin(), ::tolower);
    Placement p;
    if (type == "apiKey") {
      p.in = str("in");
      p.name = str("name");
      if ((p.in != "header" && p.in != "query" && p.in != "cookie") || p.name.empty()) continue;
    } else if ((type == "http" && scheme == "bearer") || type == "oauth2" || type == "openIdConnect") {
      p.prefix = "Bearer ";
    } else if (type == "http" && scheme == "basic") {
      p.basic = true;
    } else {
      continue;
    }
    out.emplace(std::string(name), std::move(p));
  }
  return out;
}

// The placement an operation's security requirements (`reqs`: an array of {scheme: scopes})
// choose: the first requirement of one supported scheme. nullopt: no credential.
std::optional<Placement> choose(const json::value* reqs, const std::map<std::string, Placement>& schemes) {
  if (!reqs || !reqs->is_array()) return std::nullopt;
  for (const auto& r : reqs->as_array()) {
    if (!r.is_object() || r.as_object().size() != 1) continue;
    if (auto it = schemes.find(std::string(r.as_object().begin()->key())); it != schemes.end()) return it->second;
  }
  return std::nullopt;
}

std::string form_encode(const json::object& o) {
  std::string out;
  auto add = [&](std::string_view k, const json::value& v) { out += (out.empty() ? "" : "&") + encode(k) + "=" + encode(text_of(v)); };
  for (const auto& [k, v] : o) {
    if (v.is_null()) continue;
    if (v.is_array()) for (const auto& e : v.as_array()) add(k, e);
    else add(k, v);
  }
  return out;
}

class OperationTool final : public Tool {
 public:
  OperationTool(http::Client& client, std::string label, Operation op, std::string base,
                std::vector<std::pair<std::string, std::string>> headers, std::string credential, bool idempotent, bool approval,
                size_t max_answer)
      : client_(client), label_(std::move(label)), op_(std::move(op)), base_(std::move(base)), headers_(std::move(headers)),
        credential_(std::move(credential)), idempotent_(idempotent), approval_(approval), max_answer_(max_answer) {}
  const std::string& name() const override { return op_.name; }
  json::object definition() const override {
    return {{"type", "function"}, {"name", op_.name}, {"description", op_.description}, {"parameters", op_.input_schema}, {"strict", false}};
  }
  bool idempotent() const override { return idempotent_; }
  ItemType item_type() const override { return ItemType::mcp_call; }
  const std::string& server_label() const override { return label_; }
  bool needs_approval() const override { return approval_; }

  awaitable<Outcome> execute(const CallContext& ctx, std::string arguments) override {
    boost::system::error_code ec;
    auto v = json::parse(arguments.empty() ? std::string("{}") : arguments, ec);
    if (ec || !v.is_object()) co_return error_outcome("the arguments are not a JSON object");
    const auto& args = v.as_object();
    http::ClientRequest req;
    req.method = op_.method;
    std::string path = op_.path, query;
    req.headers = headers_;
    for (const auto& p : op_.params) {
      const json::value* a = args.if_contains(p.name);
      if (!a || a->is_null()) {
        if (p.required) co_return error_outcome("missing required parameter '" + p.name + "'");
        continue;
      }
      if (p.in == "path") {
        std::string token = "{" + p.name + "}";
        for (size_t i; (i = path.find(token)) != std::string::npos;) path.replace(i, token.size(), encode(text_of(*a)));
      } else if (p.in == "query") {
        auto add = [&](const json::value& e) { query += (query.empty() ? "?" : "&") + encode(p.name) + "=" + encode(text_of(e)); };
        if (a->is_array()) for (const auto& e : a->as_array()) add(e);
        else add(*a);
      } else if (p.in == "header") {
        std::string value = text_of(*a);
        if (value.find_first_of("\r\n") != std::string::npos) co_return error_outcome("header parameter '" + p.name + "' has a line break");
        req.headers.emplace_back(p.name, value);
      }
    }
    if (op_.security && !credential_.empty()) {
      const Placement& p = *op_.security;
      std::string value = p.basic ? "Basic " + base64(credential_) : p.prefix + credential_;
      if (p.in == "query") query += (query.empty() ? "?" : "&") + encode(p.name) + "=" + encode(value);
      else if (p.in == "cookie") req.headers.emplace_back("Cookie", p.name + "=" + encode(value));
      else req.headers.emplace_back(p.name, value);
    }
    if (op_.has_body) {
      const json::value* b = args.if_contains("body");
      if (b && !b->is_null() && op_.form_body) {
        if (!b->is_object()) co_return error_outcome("'body' must be an object of form fields");
        req.body = form_encode(b->as_object());
        req.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
      } else if (b && !b->is_null()) {
        req.body = json::serialize(*b);
        req.headers.emplace_back("Content-Type", "application/json");
      } else if (op_.body_required) {
        co_return error_outcome("missing required parameter 'body'");
      }
    }
    req.headers.emplace_back("Accept", "application/json, text/plain;q=0.9, */*;q=0.5");
    req.url = base_ + path + query;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(ctx.deadline - std::chrono::steady_clock::now());
    req.timeout = std::max(left, std::chrono::milliseconds(1));
    req.max_body = 8 << 20;
    auto res = co_await client_.call(std::move(req), {}, ctx.cancel);
    if (!res.ok()) co_return error_outcome("API '" + label_ + "': " + res.status().message());
    std::string body = std::move(res->body);
    if (body.size() > max_answer_) body = body.substr(0, max_answer_) + "\n[answer cut at " + std::to_string(max_answer_) + " bytes]";
    if (res->status < 200 || res->status >= 300)
      co_return error_outcome("HTTP " + std::to_string(res->status) + (body.empty() ? "" : ": " + body));
    co_return Outcome{std::move(body)};
  }

 private:
  http::Client& client_;
  const std::string label_;
  const Operation op_;
  const std::string base_;
  const std::vector<std::pair<std::string, std::string>> headers_;
  const std::string credential_;
  const bool idempotent_, approval_;
  const size_t max_answer_;
};

}  // namespace

bool Operation::idempotent() const {
  return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "PUT" || method == "DELETE";
}
bool Operation::read_only() const { return method == "GET" || method == "HEAD" || method == "OPTIONS"; }

Result<std::shared_ptr<const Api>> parse(const json::object& doc) {
  auto* version = doc.if_contains("openapi");
  if (!version || !version->is_string() || !version->as_string().starts_with("3."))
    return bad("expected an OpenAPI 3 document (\"openapi\": \"3.x\").");
  auto api = std::make_shared<Api>();
  if (auto* servers = doc.if_contains("servers"); servers && servers->is_array() && !servers->as_array().empty()) {
    const auto& s0 = servers->as_array()[0];
    if (s0.is_object())
      if (auto* u = s0.as_object().if_contains("url"); u && u->is_string()) api->base_url = std::string(u->as_string());
  }
  auto* paths = doc.if_contains("paths");
  if (!paths || !paths->is_object()) return bad("'paths' must be an object.");
  const auto schemes = security_schemes(doc);
  for (const auto& [path, item_v] : paths->as_object()) {
    if (!path.starts_with("/")) return bad("path '" + std::string(path) + "' must start with '/'.");
    json::value item = resolve(doc, item_v, 0);
    if (!item.is_object()) continue;
    const auto& io = item.as_object();
    for (const char* m : {"get", "put", "post", "delete", "patch", "head", "options"}) {
      auto* op_v = io.if_contains(m);
      if (!op_v || !op_v->is_object()) continue;
      const auto& oo = op_v->as_object();
      Operation op;
      op.method = m;
      std::transform(op.method.begin(), op.method.end(), op.method.begin(), ::toupper);
      op.path = std::string(path);
      std::string raw = std::string(m) + "_" + std::string(path);
      if (auto* id = oo.if_contains("operationId"); id && id->is_string() && !id->as_string().empty()) raw = std::string(id->as_string());
      op.name = tool_name(raw);
      if (op.name.empty()) return bad("operation " + op.method + " " + op.path + " has no usable name.");
      for (const auto& o : api->operations)
        if (o.name == op.name) return bad("two operations are named '" + op.name + "'.");
      for (const char* k : {"summary", "description"})
        if (auto* d = oo.if_contains(k); d && d->is_string() && op.description.empty()) op.description = std::string(d->as_string());
      if (op.description.empty()) op.description = op.method + " " + op.path;
      json::object props;
      json::array required;
      std::vector<const json::value*> params;
      for (const json::object* holder : {&io, &oo})
        if (auto* ps = holder->if_contains("parameters"); ps && ps->is_array())
          for (const auto& p : ps->as_array()) params.push_back(&p);
      for (const json::value* pv : params) {
        json::value p = resolve(doc, *pv, 0);
        if (!p.is_object()) continue;
        const auto& po = p.as_object();
        auto* name = po.if_contains("name");
        auto* in = po.if_contains("in");
        if (!name || !name->is_string() || !in || !in->is_string()) return bad("a parameter of " + op.name + " lacks 'name' or 'in'.");
        Param prm{std::string(name->as_string()), std::string(in->as_string()), false};
        if (prm.in == "cookie") continue;
        if (prm.in != "path" && prm.in != "query" && prm.in != "header")
          return bad("parameter '" + prm.name + "' of " + op.name + " is in '" + prm.in + "'.");
        if (auto* r = po.if_contains("required"); r && r->is_bool()) prm.required = r->as_bool();
        if (prm.in == "path") prm.required = true;
        json::object schema;
        if (auto* s = po.if_contains("schema"); s && s->is_object()) schema = s->as_object();
        if (auto* d = po.if_contains("description"); d && d->is_string()) schema["description"] = *d;
        // An operation's parameter overrides the path item's of the same name and place.
        op.params.erase(std::remove_if(op.params.begin(), op.params.end(),
                                       [&](const Param& q) { return q.name == prm.name && q.in == prm.in; }),
                        op.params.end());
        props[prm.name] = std::move(schema);
        op.params.push_back(prm);
      }
      for (const auto& prm : op.params)
        if (prm.required) required.push_back(json::value(prm.name));
      if (auto* rb_v = oo.if_contains("requestBody")) {
        json::value rb = resolve(doc, *rb_v, 0);
        const json::value* schema = nullptr;
        if (rb.is_object())
          if (auto* content = rb.as_object().if_contains("content"); content && content->is_object()) {
            if (auto* j = content->as_object().if_contains("application/json"); j && j->is_object()) {
              schema = j->as_object().if_contains("schema");
            } else if (auto* f = content->as_object().if_contains("application/x-www-form-urlencoded"); f && f->is_object()) {
              schema = f->as_object().if_contains("schema");
              op.form_body = schema != nullptr;
            }
          }
        if (schema) {
          op.has_body = true;
          if (auto* r = rb.as_object().if_contains("required"); r && r->is_bool()) op.body_required = r->as_bool();
          props["body"] = *schema;
          if (op.body_required) required.push_back("body");
        }
      }
      op.input_schema = json::object{{"type", "object"}, {"properties", std::move(props)}, {"required", std::move(required)}};
      op.security = choose(oo.contains("security") ? oo.if_contains("security") : doc.if_contains("security"), schemes);
      api->has_security = api->has_security || op.security.has_value();
      api->operations.push_back(std::move(op));
      if (api->operations.size() > kMaxOperations) return bad("more than 256 operations.");
    }
  }
  if (api->operations.empty()) return bad("the document has no operations.");
  return std::shared_ptr<const Api>(std::move(api));
}

std::shared_ptr<Tool> make_tool(http::Client& client, std::string server_label, const Operation& op, std::string base_url,
                                std::vector<std::pair<std::string, std::string>> headers, std::string credential, bool idempotent,
                                bool approval, size_t max_answer) {
  while (!base_url.empty() && base_url.back() == '/') base_url.pop_back();
  return std::make_shared<OperationTool>(client, std::move(server_label), op, std::move(base_url), std::move(headers),
                                         std::move(credential), idempotent, approval, max_answer);
}

std::string base64(std::string_view in) {
  static constexpr char table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t n = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int s : {18, 12, 6, 0}) out += table[(n >> s) & 63];
  }
  if (size_t left = in.size() - i; left > 0) {
    uint32_t n = uint8_t(in[i]) << 16 | (left == 2 ? uint8_t(in[i + 1]) << 8 : 0);
    out += table[(n >> 18) & 63];
    out += table[(n >> 12) & 63];
    out += left == 2 ? table[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

}  // namespace cn::tools::openapi
