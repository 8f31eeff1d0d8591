// The names every route file of api/ uses: the JSON and Asio namespaces, the HTTP types, and
// the coroutine return type. Included only by api/*.cpp.
#pragma once

#include <boost/asio.hpp>

#include "api/api.hpp"

namespace cn::api {

namespace json = boost::json;
namespace net = boost::asio;
inline const std::string kNoDetail = "{}";
using http::Request;
using http::Response;
using http::Stream;
template <typename T>
using awaitable = net::awaitable<T>;

// Records a change `who` made (action, target) in the audit log; nothing without one. Takes no
// owning temporaries: call it with a literal action and lvalue strings.
awaitable<void> audited(identity::Authenticator& auth, const identity::Principal& who, const char* action,
                        const std::string& target, const std::string& detail = kNoDetail);
// The request body as a JSON object, or the 400 that says why not.
Result<json::object> object_body(const Request& req);
// {"object": "list", "data": data, "has_more": false}
Response list_response(json::array data, bool has_more = false);
// A memory record as the API shows it (memory_routes.cpp).
json::object record_json(const memory::Record& r, bool with_score = false);

}  // namespace cn::api
