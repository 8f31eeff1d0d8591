// Scope: which stored objects a request may see. Every store call of the runtime takes one; there
// is no query without it.
//
// Objects belong to a project and, when an end user created them (or a turn acted for one), to
// that end user. A scope without a user sees every object of its project. A scope with a user
// sees that user's objects and never another user's; it sees the project's own objects (made
// without a user) too, unless it is an end user's own token (project_objects = false). Anything
// else is "not found" (404), never "forbidden", so ids of other projects and users do not leak
// their existence.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace cn {

struct Scope {
  std::string project;
  std::optional<std::string> user;
  bool project_objects = true;

  // Whether an object owned by `owner` ("" = the project itself) is visible in this scope.
  bool sees(std::string_view owner) const {
    return !user || *user == owner || (project_objects && owner.empty());
  }
  // The owner of an object created in this scope.
  std::string owner() const { return user.value_or(std::string()); }
};

}  // namespace cn
