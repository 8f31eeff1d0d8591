// The names every route file of api/ uses: the JSON and Asio namespaces, the HTTP types, and
// the coroutine return type. Included only by api/*.cpp.
#pragma once

#include <boost/asio.hpp>

#include "api/api.hpp"

namespace cn::api {

namespace json = boost::json;
namespace net = boost::asio;
using http::Request;
using http::Response;
using http::Stream;
template <typename T>
using awaitable = net::awaitable<T>;

}  // namespace cn::api
