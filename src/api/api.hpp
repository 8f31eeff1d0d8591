// The public HTTP API: OpenAI-compatible /v1/responses and /v1/conversations, plus /healthz.
// Handlers authenticate through identity/, validate JSON into runtime/ parameters, and adapt a
// run to the answer the client asked for (one body, an SSE stream, or a background ack).
#pragma once

#include "base/status.hpp"
#include "http/server.hpp"
#include "identity/keys.hpp"
#include "memory/memory.hpp"
#include "runtime/runtime.hpp"
#include "wire/json.hpp"

namespace cn::api {

// Maps a Status to an HTTP answer in OpenAI's error shape. The one place codes become statuses.
http::Response error_response(const Status& st);
int http_status_of(const Status& st);

// Validates a POST /v1/responses body into runtime parameters. Every wrong field is a 400 that
// names it (param), in OpenAI's wording where OpenAI has one.
Result<runtime::CreateParams> parse_create(const wire::json::value& body);
// Validates a metadata map (≤16 pairs, keys ≤64, values ≤512 characters); `param` names it.
Status check_metadata(const wire::json::value& v, std::string_view param);
// Parses list query parameters (after, limit 1..100, order asc|desc; default desc).
Result<runtime::ListQuery> parse_list_query(const http::Request& req);

struct Options {
  std::chrono::milliseconds keepalive{15'000};  // SSE comment pings while a stream is idle
};

// Registers every route on `router`. `runtime`, `keys` and `memory` (may be null: no memory
// routes) must outlive the server.
void install(http::Router& router, runtime::Runtime& runtime, identity::Keys& keys,
             memory::Memory* memory = nullptr, Options opts = {});

// The memory routes (/v1/memories, /v1/users/{id}/memories, /v1/memory/jobs).
void install_memory(http::Router& router, memory::Memory& memory, identity::Keys& keys);

// The end user a request acts for, when it names one: the X-Continuum-User header or the
// ?user_id query parameter (1..255 characters, no control characters). Both naming different
// users is a 400 (code user_mismatch). Such a request reads and writes only that user's data.
Result<std::optional<std::string>> acting_user(const http::Request& req);
// A user named in a body field or path (`param`) must be the acting one, if any: otherwise 403
// (code user_mismatch). An empty `named` is no naming.
Status same_user(const std::optional<std::string>& acting, const std::string& named, const std::string& param);

// The bearer key's principal, or 401.
Result<identity::Principal> authenticate(const http::Request& req, const identity::Keys& keys);

}  // namespace cn::api
