// The one error vocabulary of Continuum.
//
// Every fallible operation returns a Status (no value) or a Result<T> (a value or a Status).
// Codes follow Abseil's canonical set; api/errors.cpp maps them to HTTP statuses in one place.
// Exceptions never cross component boundaries: adapters around throwing libraries catch and
// translate into these.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace cn {

enum class Code {
  ok = 0,
  invalid_argument,     // the caller sent something malformed or out of range (400)
  not_found,            // the named object does not exist in the caller's scope (404)
  already_exists,       // creating something whose id is taken (409)
  failed_precondition,  // the object is not in a state that allows the operation (400)
  aborted,              // a concurrency conflict, e.g. a busy conversation (409)
  unauthenticated,      // no or bad credentials (401)
  permission_denied,    // credentials valid but not allowed (403)
  resource_exhausted,   // a bound was reached: body size, queue, concurrent runs (413/429)
  unavailable,          // a dependency (upstream model, store) is not answering (503)
  deadline_exceeded,    // a deadline passed (504)
  cancelled,            // the operation was cancelled by a caller
  internal,             // a bug or an unexpected failure of our own (500)
};

const char* code_name(Code c);

// A failure description. `param` names the offending request parameter when there is one;
// `api_code` is the machine-readable code put into OpenAI's error shape (e.g.
// "previous_response_not_found"); `http_status` overrides the code's default status when the
// wire contract needs a specific one (413 for bodies, 429 for rate limits).
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message, std::string param = {}, std::string api_code = {})
      : code_(code), message_(std::move(message)), param_(std::move(param)),
        api_code_(std::move(api_code)) {}

  static Status Ok() { return {}; }

  bool ok() const { return code_ == Code::ok; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  const std::string& param() const { return param_; }
  const std::string& api_code() const { return api_code_; }
  int http_status() const { return http_status_; }
  Status& with_http_status(int s) { http_status_ = s; return *this; }
  Status& with_retry_after(int seconds) { retry_after_ = seconds; return *this; }
  int retry_after() const { return retry_after_; }

  std::string to_string() const;

 private:
  Code code_ = Code::ok;
  std::string message_;
  std::string param_;
  std::string api_code_;
  int http_status_ = 0;  // 0: derived from code_
  int retry_after_ = 0;  // seconds, 0: none
};

inline Status invalid_param(std::string param, std::string message,
                            std::string api_code = "invalid_value") {
  return Status(Code::invalid_argument, std::move(message), std::move(param), std::move(api_code));
}

// A value or the Status that explains why there is none.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}  // NOLINT: must not be ok()

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace cn
