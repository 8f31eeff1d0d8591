// From a parsed HTTP message to a Request: lower-cased header names, the decoded path and query
// of the origin-form target. Internal to http/ (it includes Beast); the fuzz target for the
// request parser drives it too.
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "http/server.hpp"

namespace cn::http {

// Fills `req` (method, headers, path, query, body) from `msg`, moving the body out. False when
// the target is not a valid origin-form URL (the request is then answered with a 400).
bool request_from_message(boost::beast::http::request<boost::beast::http::string_body>& msg, Request& req);

}  // namespace cn::http
