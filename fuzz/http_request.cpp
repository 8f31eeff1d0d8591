// Fuzz target: bytes off the wire through Beast's request parser (with the server's limits),
// the server's Request building (target, query, headers) and the router.
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "http/request_parse.hpp"

namespace bhttp = boost::beast::http;
using namespace cn::http;

static Router& router() {
  static Router r = [] {
    Router r;
    Handler h = [](Request&, Stream&) -> boost::asio::awaitable<Response> { co_return Response{}; };
    for (const char* p : {"/v1/responses", "/v1/responses/{id}", "/v1/responses/{id}/cancel",
                          "/v1/responses/{id}/input_items", "/v1/conversations/{id}/items/{item}",
                          "/v1/users/{user_id}/memories", "/v1/admin/keys/{id}/rotate", "/healthz"})
      for (const char* m : {"GET", "POST", "DELETE"}) r.add(m, p, h);
    return r;
  }();
  return r;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  bhttp::request_parser<bhttp::string_body> parser;
  parser.header_limit(16 * 1024);
  parser.body_limit(1024 * 1024);
  parser.eager(true);
  boost::beast::error_code ec;
  size_t used = parser.put(boost::asio::buffer(data, size), ec);
  if (!ec && !parser.is_done()) parser.put_eof(ec);
  (void)used;
  if (ec || !parser.is_header_done()) return 0;
  auto msg = parser.release();
  Request req;
  if (!request_from_message(msg, req)) return 0;
  (void)req.header("authorization");
  (void)req.query_param("user_id");
  std::map<std::string, std::string> params;
  bool mismatch = false;
  (void)router().match(req.method, req.path, params, mismatch);
  return 0;
}
