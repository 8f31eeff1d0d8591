// YAML documents read as JSON values: OpenAPI documents and agent manifests may be written in
// either. Mappings become objects (keys as strings), sequences arrays; plain scalars follow the
// YAML 1.2 core schema (null, booleans, integers, floats, else strings); quoted scalars and
// `!!str` are strings.
//
// Limits, so a hostile document cannot exhaust the server: the text's size is the caller's; the
// result holds at most `max_nodes` values (aliases are expanded, so "billion laughs" documents
// stop there) and nests at most 64 deep. Errors are invalid_argument with the line and column.
//
// Thread-safety: a pure function.
#pragma once

#include <boost/json/value.hpp>

#include <string_view>

#include "base/status.hpp"

namespace cn::wire {

Result<boost::json::value> yaml_to_json(std::string_view text, size_t max_nodes = 200'000);

}  // namespace cn::wire
