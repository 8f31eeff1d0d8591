// The end user a request acts for: the one place the X-Continuum-User header and the ?user_id
// query parameter are read and validated, and where naming a user is allowed or refused.
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

Status name_user(identity::Principal& p, const std::string& named, const std::string& param) {
  if (named.empty()) return {};
  if (p.user) {
    if (*p.user == named) return {};
    return Status(Code::permission_denied,
                  "This request acts for end user '" + *p.user + "' and may not name another user ('" + named +
                      "') in '" + param + "'.",
                  param, "user_mismatch");
  }
  if (p.kind != identity::Principal::Kind::key || !p.act_as_user)
    return Status(Code::permission_denied,
                  "This API key may not act as an end user: it was created without act_as_user, and the request "
                  "names user '" + named + "' in '" + param + "'.",
                  param, "act_as_user_required");
  p.user = named;
  return {};
}

}  // namespace cn::api
