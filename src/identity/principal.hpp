// Principal: who a request acts as, once its credential has been verified.
//
// A credential is an API key (of a project, with scopes and perhaps the right to act as any end
// user of it) or an end user's OIDC token (that user only, in one project). An admin key also
// manages tenants and projects. Agents are named per request and travel with the principal.
// The principal's scope() is what every store call takes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.hpp"
#include "domain/scope.hpp"

namespace cn::identity {

inline constexpr const char* kDefaultTenant = "tenant_default";
inline constexpr const char* kDefaultProject = "proj_default";

// What a key may do. A token of an end user has responses, conversations and memory:read/write.
enum ScopeBit : uint32_t {
  kResponses = 1u << 0,
  kConversations = 1u << 1,
  kMemoryRead = 1u << 2,
  kMemoryWrite = 1u << 3,
  kVaultWrite = 1u << 4,
  kAdmin = 1u << 5,  // manage the project's keys, read its audit log
};
inline constexpr uint32_t kAllScopes = kResponses | kConversations | kMemoryRead | kMemoryWrite | kVaultWrite | kAdmin;
inline constexpr uint32_t kUserTokenScopes = kResponses | kConversations | kMemoryRead | kMemoryWrite;

// "responses,memory:read" <-> bits. Unknown names are an error naming them; "*" is every scope.
Result<uint32_t> parse_scopes(std::string_view csv);
std::vector<std::string> scope_names(uint32_t bits);
const char* scope_name(ScopeBit b);

struct Principal {
  enum class Kind { key, user_token };
  Kind kind = Kind::key;
  std::string tenant_id;
  std::string project_id;
  std::string credential_id;  // the key's id, or "oidc:" + the token's subject
  std::string claims_json;    // a verified token's claims (JSON object text; "" for keys), for policies
  uint32_t scopes = 0;
  bool act_as_user = false;   // may name any end user of the project (keys only)
  bool global_admin = false;  // may manage tenants, projects and every project's keys
  std::optional<std::string> user;   // the end user acted for (fixed for a user token)
  std::optional<std::string> agent;  // the agent acting (X-Continuum-Agent)
  // A registered agent's allowed tools (server-side tool types and function names); nullopt: any.
  std::optional<std::vector<std::string>> allowed_tools;

  bool has(ScopeBit b) const { return (scopes & b) != 0; }
  // An end user's own token sees only that user's objects; a key acting for a user sees the
  // project's own objects too (see domain/scope.hpp).
  Scope scope() const { return Scope{project_id, user, kind == Kind::key}; }
};

}  // namespace cn::identity
