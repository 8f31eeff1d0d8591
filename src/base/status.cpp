// Status and its code names.
#include "base/status.hpp"

namespace cn {

const char* code_name(Code c) {
  switch (c) {
    case Code::ok: return "ok";
    case Code::invalid_argument: return "invalid_argument";
    case Code::not_found: return "not_found";
    case Code::already_exists: return "already_exists";
    case Code::failed_precondition: return "failed_precondition";
    case Code::aborted: return "aborted";
    case Code::unauthenticated: return "unauthenticated";
    case Code::permission_denied: return "permission_denied";
    case Code::resource_exhausted: return "resource_exhausted";
    case Code::unavailable: return "unavailable";
    case Code::deadline_exceeded: return "deadline_exceeded";
    case Code::cancelled: return "cancelled";
    case Code::internal: return "internal";
  }
  return "unknown";
}

std::string Status::to_string() const {
  if (ok()) return "ok";
  std::string s = code_name(code_);
  s += ": ";
  s += message_;
  if (!param_.empty()) s += " (param " + param_ + ")";
  return s;
}

}  // namespace cn
