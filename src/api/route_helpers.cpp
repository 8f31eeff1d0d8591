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

Response list_response(json::array data) {
  return Response::json(200, json::serialize(json::object{{"object", "list"}, {"data", std::move(data)}, {"has_more", false}}));
}

}  // namespace cn::api
