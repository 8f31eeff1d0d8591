// Scope names and their bits.
#include "identity/principal.hpp"

namespace cn::identity {

namespace {

struct Named {
  ScopeBit bit;
  const char* name;
};
constexpr Named kNames[] = {{kResponses, "responses"},   {kConversations, "conversations"},
                            {kMemoryRead, "memory:read"}, {kMemoryWrite, "memory:write"},
                            {kVaultWrite, "vault:write"}, {kAdmin, "admin"}};

}  // namespace

const char* scope_name(ScopeBit b) {
  for (const auto& n : kNames)
    if (n.bit == b) return n.name;
  return "?";
}

Result<uint32_t> parse_scopes(std::string_view csv) {
  uint32_t bits = 0;
  size_t start = 0;
  while (start <= csv.size()) {
    size_t end = csv.find(',', start);
    if (end == std::string_view::npos) end = csv.size();
    std::string_view s = csv.substr(start, end - start);
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
    if (s == "*") {
      bits |= kAllScopes;
    } else if (!s.empty()) {
      bool known = false;
      for (const auto& n : kNames)
        if (s == n.name) {
          bits |= n.bit;
          known = true;
        }
      if (!known)
        return invalid_param("scopes", "Unknown scope '" + std::string(s) +
                                           "'; expected responses, conversations, memory:read, memory:write, "
                                           "vault:write, admin or *.");
    }
    start = end + 1;
  }
  return bits;
}

std::vector<std::string> scope_names(uint32_t bits) {
  std::vector<std::string> out;
  for (const auto& n : kNames)
    if (bits & n.bit) out.emplace_back(n.name);
  return out;
}

}  // namespace cn::identity
