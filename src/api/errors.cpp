// Status to HTTP: the one place an error code becomes a status and OpenAI's error shape.
#include "api/api.hpp"

namespace cn::api {

int http_status_of(const Status& st) {
  if (st.http_status() != 0) return st.http_status();
  switch (st.code()) {
    case Code::ok: return 200;
    case Code::invalid_argument: return 400;
    case Code::failed_precondition: return 400;
    case Code::not_found: return 404;
    case Code::already_exists: return 409;
    case Code::aborted: return 409;
    case Code::unauthenticated: return 401;
    case Code::permission_denied: return 403;
    case Code::resource_exhausted: return 429;
    case Code::unavailable: return 503;
    case Code::deadline_exceeded: return 504;
    case Code::cancelled: return 499;
    case Code::internal: return 500;
  }
  return 500;
}

http::Response error_response(const Status& st) {
  int status = http_status_of(st);
  std::string type = "invalid_request_error";
  if (status == 429) type = "rate_limit_error";
  if (status >= 500) type = "server_error";
  std::string code = st.api_code();
  if (code.empty()) {
    if (status == 401) code = "invalid_api_key";
    else if (status == 429) code = "rate_limit_exceeded";
    else if (status >= 500) code = "server_error";
  }
  auto res = http::Response::json(status, http::error_body(st.message(), type, st.param(), code));
  if (st.retry_after() > 0) res.headers.emplace_back("retry-after", std::to_string(st.retry_after()));
  // A 5xx the client may retry later says when (storage full, shutting down); others are not
  // worth retrying.
  if (status >= 500) res.headers.emplace_back("x-should-retry", st.retry_after() > 0 ? "true" : "false");
  return res;
}

}  // namespace cn::api
