// The end user a request acts for: the one place the X-Continuum-User header and the ?user_id
// query parameter are read, validated and reconciled with a user named in the body.
#include "api/api.hpp"

namespace cn::api {

namespace {

Status check_user_id(std::string_view v, const std::string& param, const std::string& what) {
  if (v.empty() || v.size() > 255)
    return invalid_param(param, "Invalid " + what + ": expected 1 to 255 characters.");
  for (unsigned char c : v)
    if (c < 0x20 || c == 0x7f) return invalid_param(param, "Invalid " + what + ": control characters are not allowed.");
  return {};
}

}  // namespace

Result<std::optional<std::string>> acting_user(const http::Request& req) {
  std::optional<std::string> header, query;
  if (auto h = req.header("x-continuum-user")) {
    if (Status s = check_user_id(*h, "X-Continuum-User", "'X-Continuum-User' header"); !s.ok()) return s;
    header = std::string(*h);
  }
  if (auto q = req.query_param("user_id")) {
    if (Status s = check_user_id(*q, "user_id", "'user_id' query parameter"); !s.ok()) return s;
    query = std::string(*q);
  }
  if (header && query && *header != *query)
    return Status(Code::invalid_argument,
                  "The 'X-Continuum-User' header and the 'user_id' query parameter name different users.",
                  "user_id", "user_mismatch");
  if (header) return header;
  return query;
}

Status same_user(const std::optional<std::string>& acting, const std::string& named, const std::string& param) {
  if (!acting || named.empty() || named == *acting) return {};
  return Status(Code::permission_denied,
                "This request acts for end user '" + *acting + "' and may not name another user ('" + named +
                    "') in '" + param + "'.",
                param, "user_mismatch");
}

}  // namespace cn::api
