// YAML to JSON (see yaml.hpp), with yaml-cpp's parser and the core schema's scalar rules.
#include "wire/yaml.hpp"

#include <yaml-cpp/yaml.h>

#include <boost/json.hpp>

#include <charconv>
#include <cmath>
#include <regex>

namespace cn::wire {

namespace json = boost::json;

namespace {

constexpr int kMaxDepth = 64;

struct Converter {
  size_t max_nodes = 0;
  size_t nodes = 0;
  std::string error;

  static json::value plain_scalar(const std::string& s) {
    if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
    if (s == "true" || s == "True" || s == "TRUE") return true;
    if (s == "false" || s == "False" || s == "FALSE") return false;
    static const std::regex integer("[-+]?[0-9]+"), hex("0x[0-9a-fA-F]+"), octal("0o[0-7]+");
    static const std::regex real(R"([-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?)");
    if (std::regex_match(s, integer)) {
      int64_t v = 0;
      const char* b = s.data() + (s[0] == '+' ? 1 : 0);
      if (auto r = std::from_chars(b, s.data() + s.size(), v); r.ec == std::errc()) return v;
      return std::strtod(s.c_str(), nullptr);  // beyond 64 bits: a double, as JSON parsers do
    }
    if (std::regex_match(s, hex)) return static_cast<int64_t>(std::strtoull(s.c_str() + 2, nullptr, 16));
    if (std::regex_match(s, octal)) return static_cast<int64_t>(std::strtoull(s.c_str() + 2, nullptr, 8));
    if (std::regex_match(s, real)) return std::strtod(s.c_str(), nullptr);
    // .inf and .nan have no JSON form: they stay strings.
    return json::string(s);
  }

  json::value convert(const YAML::Node& n, int depth) {
    if (!error.empty()) return nullptr;
    if (++nodes > max_nodes) {
      error = "the document is too large (more than " + std::to_string(max_nodes) + " values, aliases expanded)";
      return nullptr;
    }
    if (depth > kMaxDepth) {
      error = "the document nests deeper than " + std::to_string(kMaxDepth) + " levels";
      return nullptr;
    }
    switch (n.Type()) {
      case YAML::NodeType::Null:
      case YAML::NodeType::Undefined:
        return nullptr;
      case YAML::NodeType::Scalar: {
        const std::string& tag = n.Tag();
        if (tag == "?") return plain_scalar(n.Scalar());
        if (tag == "tag:yaml.org,2002:int" || tag == "tag:yaml.org,2002:float" || tag == "tag:yaml.org,2002:bool" ||
            tag == "tag:yaml.org,2002:null")
          return plain_scalar(n.Scalar());
        return json::string(n.Scalar());  // quoted, !!str, or an application tag
      }
      case YAML::NodeType::Sequence: {
        json::array a;
        a.reserve(n.size());
        for (const auto& e : n) a.push_back(convert(e, depth + 1));
        return a;
      }
      case YAML::NodeType::Map: {
        json::object o;
        for (const auto& kv : n) {
          if (!kv.first.IsScalar()) {
            error = "a mapping key at line " + std::to_string(kv.first.Mark().line + 1) + " is not a scalar";
            return nullptr;
          }
          o[kv.first.Scalar()] = convert(kv.second, depth + 1);
        }
        return o;
      }
    }
    return nullptr;
  }
};

}  // namespace

Result<json::value> yaml_to_json(std::string_view text, size_t max_nodes) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return Status(Code::invalid_argument, "YAML error at line " + std::to_string(e.mark.line + 1) + ", column " +
                                              std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
  Converter c;
  c.max_nodes = max_nodes;
  json::value v;
  try {
    v = c.convert(root, 0);
  } catch (const YAML::Exception& e) {
    return Status(Code::invalid_argument, "YAML error: " + e.msg);
  }
  if (!c.error.empty()) return Status(Code::invalid_argument, "YAML error: " + c.error);
  return v;
}

}  // namespace cn::wire
