// Small pieces the route files share: audit records of admin changes, object bodies, lists.
#include "api/route_prelude.hpp"
#include "wire/json.hpp"

namespace cn::api {

awaitable<void> audited(identity::Authenticator& auth, const identity::Principal& who, const char* action, const std::string& target,
                        const std::string& detail) {
  auto* log = auth.audit();
  if (!log) co_return;
  identity::AuditEntry e{0, 0, who.project_id, who.credential_id, action, target, detail, ""};
  co_await log->record(std::move(e));
}

Result<json::object> object_body(const Request& req) {
  auto body = wire::parse(req.body);
  if (!body.ok()) return body.status();
  if (!body->is_object()) return invalid_param("", "The body must be a JSON object.");
  return std::move(body->as_object());
}

Response list_response(json::array data, bool has_more) {
  json::object o{{"object", "list"}};
  if (!data.empty() && data.front().is_object() && data.back().is_object()) {
    auto* first = data.front().as_object().if_contains("id");
    auto* last = data.back().as_object().if_contains("id");
    if (first && last) {
      o["first_id"] = *first;
      o["last_id"] = *last;
    }
  }
  o["data"] = std::move(data);
  o["has_more"] = has_more;
  return Response::json(200, json::serialize(o));
}

}  // namespace cn::api
