// The router: patterns with {captures}, matched segment by segment.
#include "http/server.hpp"

namespace cn::http {

namespace {

std::vector<std::string> split_path(std::string_view p) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < p.size()) {
    if (p[i] == '/') { ++i; continue; }
    size_t j = p.find('/', i);
    if (j == std::string_view::npos) j = p.size();
    out.emplace_back(p.substr(i, j - i));
    i = j;
  }
  return out;
}

}  // namespace

void Router::add(std::string method, std::string pattern, Handler h) {
  auto segments = split_path(pattern);
  routes_.push_back({std::move(method), std::move(pattern), std::move(segments), std::move(h)});
}

std::vector<std::pair<std::string, std::string>> Router::list() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& r : routes_) out.emplace_back(r.method, r.pattern);
  for (const auto& u : upgrades_) out.emplace_back("WS", u.pattern);
  return out;
}

void Router::add_upgrade(std::string pattern, UpgradeHandler h) {
  auto segments = split_path(pattern);
  upgrades_.push_back({std::move(pattern), std::move(segments), std::move(h)});
}

namespace {

// Whether `pattern` (its segments) matches the path `segs`: its captures in `p`, and in `literal`
// whether it matched without one.
bool match_segments(const std::vector<std::string>& pattern, const std::vector<std::string>& segs,
                    std::map<std::string, std::string>& p, bool& literal) {
  if (pattern.size() != segs.size()) return false;
  literal = true;
  for (size_t i = 0; i < segs.size(); ++i) {
    const auto& s = pattern[i];
    if (s.size() > 2 && s.front() == '{' && s.back() == '}') {
      p[s.substr(1, s.size() - 2)] = segs[i];
      literal = false;
    } else if (s != segs[i]) {
      return false;
    }
  }
  return true;
}

}  // namespace

const UpgradeHandler* Router::match_upgrade(std::string_view path, std::map<std::string, std::string>& params) const {
  auto segs = split_path(path);
  for (const auto& u : upgrades_) {
    std::map<std::string, std::string> p;
    bool literal;
    if (!match_segments(u.segments, segs, p, literal)) continue;
    params = std::move(p);
    return &u.handler;
  }
  return nullptr;
}

const Handler* Router::match(std::string_view method, std::string_view path,
                             std::map<std::string, std::string>& params,
                             bool& method_mismatch, const std::string** pattern) const {
  auto segs = split_path(path);
  method_mismatch = false;
  for (const auto& r : routes_) {
    std::map<std::string, std::string> p;
    bool literal;  // matched without a capture
    if (!match_segments(r.segments, segs, p, literal)) continue;
    if (r.method != method) {
      // Only a path that names a route itself makes a 405: "POST /v1/responses/compact" is an
      // unknown route (404), not a response id read with the wrong method.
      if (literal) method_mismatch = true;
      continue;
    }
    params = std::move(p);
    if (pattern) *pattern = &r.pattern;
    return &r.handler;
  }
  return nullptr;
}

}  // namespace cn::http
