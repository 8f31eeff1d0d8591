// The console's routes: GET /console (the page) and /console/{asset} (its script and style).
// They hold no data and need no key; the page reads the API with the key its user signs in
// with. A strict Content-Security-Policy allows only this server's own script, style and API.
#include <boost/asio.hpp>

#include "api/route_prelude.hpp"
#include "console/assets.hpp"

namespace cn::api {

namespace {

Response asset(std::string_view name) {
  const auto* a = console::find_asset(name);
  if (!a) return error_response(Status(Code::not_found, "No console file '" + std::string(name) + "'.", "", "not_found"));
  Response r;
  r.status = 200;
  r.content_type = std::string(a->content_type);
  r.body = std::string(a->body);
  r.headers = {{"content-security-policy",
                "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' blob: data:; "
                "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"},
               {"x-content-type-options", "nosniff"},
               {"referrer-policy", "no-referrer"},
               {"x-frame-options", "DENY"},
               {"cache-control", "no-cache"}};
  return r;
}

}  // namespace

void install_console(http::Router& router) {
  router.add("GET", "/console", [](Request&, Stream&) -> awaitable<Response> { co_return asset("index.html"); });
  router.add("GET", "/console/{asset}", [](Request& req, Stream&) -> awaitable<Response> {
    std::string name = req.params["asset"];
    co_return asset(name);
  });
}

}  // namespace cn::api
