// Small helpers over Boost.JSON used by the wire codecs. Every parse is exception-free.
#pragma once

#include <boost/json.hpp>

#include <optional>
#include <string>
#include <string_view>

#include "base/status.hpp"

namespace cn::wire {

namespace json = boost::json;

// Parses `text` as one JSON value. Invalid JSON (including invalid UTF-8 in strings) or nesting
// deeper than 64 levels is invalid_argument with a message naming the position.
Result<json::value> parse(std::string_view text);

// The JSON type name as OpenAI's errors say it ("a string", "an object", ...).
const char* type_name(const json::value& v);

// Field access that never throws.
const json::value* field(const json::object& o, std::string_view key);
std::optional<std::string> string_field(const json::object& o, std::string_view key);

std::string to_string(const json::value& v);

}  // namespace cn::wire
