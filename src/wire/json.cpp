// Small Boost.JSON helpers for the wire codecs: exception-free parsing and field access.
#include "wire/json.hpp"

namespace cn::wire {

Result<json::value> parse(std::string_view text) {
  json::parse_options opts;
  opts.max_depth = 64;
  boost::system::error_code ec;
  json::stream_parser p({}, opts);
  p.write(text.data(), text.size(), ec);
  if (!ec) p.finish(ec);
  if (ec) {
    return Status(Code::invalid_argument,
                  "We could not parse the JSON body of your request: " + ec.message() + ".", "",
                  "invalid_json");
  }
  return p.release();
}

const char* type_name(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null: return "null";
    case json::kind::bool_: return "a boolean";
    case json::kind::int64:
    case json::kind::uint64: return "an integer";
    case json::kind::double_: return "a number";
    case json::kind::string: return "a string";
    case json::kind::array: return "an array";
    case json::kind::object: return "an object";
  }
  return "unknown";
}

const json::value* field(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  return it == o.end() ? nullptr : &it->value();
}

std::optional<std::string> string_field(const json::object& o, std::string_view key) {
  auto* v = field(o, key);
  if (!v || !v->is_string()) return std::nullopt;
  return std::string(v->as_string());
}

std::string to_string(const json::value& v) { return json::serialize(v); }

}  // namespace cn::wire
