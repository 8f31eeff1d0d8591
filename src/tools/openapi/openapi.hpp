// OpenAPI 3 documents as tools: a registered tool server with an `openapi` document (JSON)
// offers one tool per operation. Its input schema holds the operation's path, query and header
// parameters and, for a JSON request body, a `body` property; local `$ref`s
// (#/components/...) are resolved when the document is registered. A call builds the HTTP
// request (path parameters percent-encoded into the path, query parameters in the query string,
// header parameters as headers, the body as JSON or as a form), sends it with the server's
// credentials (from the vault, as the registry's auth says, or where the document's
// securitySchemes put them), and returns the answer's status and body, cut at a size limit. A
// non-2xx answer is a failed call the model sees.
//
// Security schemes: an operation's `security` (else the document's) names requirements; the
// first one made of a single supported scheme places the credential: `apiKey` (in a header, the
// query or a cookie, under its name), `http` bearer (`Authorization: Bearer`), `http` basic (the
// credential is "user:password"), `oauth2` and `openIdConnect` (a bearer token). `security: []`
// means the operation is called without the credential.
//
// GET, HEAD, OPTIONS, PUT and DELETE are idempotent (HTTP's semantics): after a crash such a call
// in flight is repeated; POST and PATCH are not.
//
// Threads: an Api is immutable once parsed and shared between runs; tools are safe from any
// thread.
#pragma once

#include <boost/json/object.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/status.hpp"
#include "http/client.hpp"
#include "tools/tool.hpp"

namespace cn::tools::openapi {

struct Param {
  std::string name, in;  // in: path | query | header
  bool required = false;
};

// Where an operation's credential goes (from the document's security schemes).
struct Placement {
  std::string in = "header";  // header | query | cookie
  std::string name = "Authorization";
  std::string prefix;  // "Bearer " for bearer tokens
  bool basic = false;  // http basic: "Basic " + base64 of the credential ("user:password")
};

struct Operation {
  std::string name;  // operationId (or method_path), made a valid tool name
  std::string method, path, description;
  std::vector<Param> params;
  bool has_body = false, body_required = false;
  bool form_body = false;  // the body is application/x-www-form-urlencoded (else JSON)
  std::optional<Placement> security;  // set: the document says where the credential goes
  boost::json::object input_schema;
  bool idempotent() const;
  bool read_only() const;
};

struct Api {
  std::string base_url;  // the document's first server (may be overridden by the registration)
  std::vector<Operation> operations;
  bool has_security = false;  // some operation has a supported security scheme
};

// Parses and checks a document; invalid_argument naming what is wrong. At most 256 operations.
Result<std::shared_ptr<const Api>> parse(const boost::json::object& doc);

// The tool of one operation, calling `base_url` with `headers`; `credential` (may be "") is
// placed where the operation's security scheme says.
std::shared_ptr<Tool> make_tool(http::Client& client, std::string server_label, const Operation& op, std::string base_url,
                                std::vector<std::pair<std::string, std::string>> headers, std::string credential, bool idempotent,
                                bool approval, size_t max_answer = 64 << 10);

std::string base64(std::string_view in);

}  // namespace cn::tools::openapi
