// Requests and error bodies: the Request accessors, building a Request from a parsed message,
// and OpenAI's error shape. No coroutines, so that the request fuzz target can build it alone.
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>

#include "http/request_parse.hpp"

namespace cn::http {

namespace bhttp = boost::beast::http;

bool request_from_message(bhttp::request<bhttp::string_body>& msg, Request& req) {
  req.method = std::string(msg.method_string());
  for (const auto& f : msg) {
    std::string name(f.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    req.headers.emplace_back(std::move(name), std::string(f.value()));
  }
  req.body = std::move(msg.body());
  auto u = boost::urls::parse_origin_form(msg.target());
  if (!u) return false;
  req.path = std::string(u->path());
  for (auto p : u->params()) req.query.emplace_back(p.key, p.has_value ? p.value : "");
  return true;
}

std::optional<std::string_view> Request::header(std::string_view lower_name) const {
  for (const auto& [k, v] : headers)
    if (k == lower_name) return std::string_view(v);
  return std::nullopt;
}

std::optional<std::string_view> Request::query_param(std::string_view name) const {
  for (const auto& [k, v] : query) {
    if (k == name) return std::string_view(v);
    if (k.size() == name.size() + 2 && k.compare(0, name.size(), name) == 0 &&
        k.compare(name.size(), 2, "[]") == 0)
      return std::string_view(v);
  }
  return std::nullopt;
}

std::string error_body(std::string_view message, std::string_view type, std::string_view param,
                       std::string_view code) {
  boost::json::object e;
  e["message"] = message;
  e["type"] = type;
  e["param"] = param.empty() ? boost::json::value(nullptr) : boost::json::value(param);
  e["code"] = code.empty() ? boost::json::value(nullptr) : boost::json::value(code);
  boost::json::object o;
  o["error"] = std::move(e);
  return boost::json::serialize(o);
}

}  // namespace cn::http
