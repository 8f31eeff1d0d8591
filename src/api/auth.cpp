// The door of every route: the bearer credential becomes a principal (identity/), the route's
// scope is required, and the acting end user and agent are settled.
#include <boost/asio/awaitable.hpp>

#include "api/api.hpp"

namespace cn::api {

namespace {

Status missing_key() {
  return Status(Code::unauthenticated,
                "You didn't provide an API key. You need to provide your API key in an Authorization header "
                "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                "", "missing_api_key");
}

// Records a refused request in the audit log (bounded; never the credential).
void note_refusal(identity::Authenticator& auth, const http::Request& req, const identity::Principal* who,
                  const Status& st) {
  auto* audit = auth.audit();
  if (!audit) return;
  boost::json::object d{{"method", req.method}, {"path", req.path}, {"code", st.api_code()}, {"reason", st.message()}};
  if (who && who->user) d["user"] = *who->user;
  const char* action = st.code() == Code::unauthenticated ? "auth.failed" : "request.denied";
  audit->note(identity::AuditEntry{0, 0, who ? who->project_id : "", who ? who->credential_id : "", action, req.path,
                                   boost::json::serialize(d), ""});
}

boost::asio::awaitable<Result<identity::Principal>> authorize_inner(const http::Request& req,
                                                                    identity::Authenticator& auth, uint32_t need);

}  // namespace

Status noted(identity::Authenticator& auth, const http::Request& req, const identity::Principal& who, Status st) {
  if (st.code() == Code::permission_denied) note_refusal(auth, req, &who, st);
  return st;
}

boost::asio::awaitable<Result<identity::Principal>> authorize(const http::Request& req,
                                                              identity::Authenticator& auth, uint32_t need) {
  auto r = co_await authorize_inner(req, auth, need);
  if (!r.ok() && (r.status().code() == Code::unauthenticated || r.status().code() == Code::permission_denied))
    note_refusal(auth, req, nullptr, r.status());
  co_return r;
}

namespace {

boost::asio::awaitable<Result<identity::Principal>> authorize_inner(const http::Request& req,
                                                                    identity::Authenticator& auth, uint32_t need) {
  auto h = req.header("authorization");
  if (!h) co_return missing_key();
  std::string_view v = *h;
  if (v.size() < 7 || !(v.substr(0, 7) == "Bearer " || v.substr(0, 7) == "bearer "))
    co_return Status(Code::unauthenticated, "The Authorization header must use Bearer auth.", "", "invalid_api_key");
  v.remove_prefix(7);
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
  if (v.empty()) co_return missing_key();
  std::string bearer(v);
  auto p = co_await auth.authenticate(bearer);
  if (!p.ok()) co_return p;
  if (p->kind == identity::Principal::Kind::key && auth.audit()) auth.audit()->note_key_use(p->project_id, p->credential_id);
  auto named = acting_user(req);
  if (!named.ok()) co_return named.status();
  if (*named) {
    const char* param = req.header("x-continuum-user") ? "X-Continuum-User" : "user_id";
    if (Status s = name_user(*p, **named, param); !s.ok()) co_return s;
  }
  if (auto a = req.header("x-continuum-agent")) {
    if (a->empty() || a->size() > 255)
      co_return invalid_param("X-Continuum-Agent", "Invalid 'X-Continuum-Agent' header: expected 1 to 255 characters.");
    for (unsigned char c : *a)
      if (c < 0x20 || c == 0x7f)
        co_return invalid_param("X-Continuum-Agent", "Invalid 'X-Continuum-Agent' header: control characters are not allowed.");
    p->agent = std::string(*a);
  }
  // A registered agent narrows what the request may do to what the agent may do.
  if (p->agent && auth.agents()) {
    if (auto agent = auth.agents()->find(p->project_id, *p->agent)) {
      if (agent->scopes) p->scopes &= *agent->scopes;
      p->allowed_tools = agent->allowed_tools;
    }
  }
  if (need && (p->scopes & need) != need) {
    std::string names;
    for (const auto& n : identity::scope_names(need & ~p->scopes)) names += (names.empty() ? "" : ", ") + n;
    co_return Status(Code::permission_denied,
                     "You have insufficient permissions for this operation. Missing scopes: " + names + ".", "",
                     "insufficient_scope");
  }
  if (auto* limiter = auth.limiter()) {
    if (Status s = limiter->admit(*p, req.answer_headers); !s.ok()) co_return s;
  }
  co_return p;
}

}  // namespace

}  // namespace cn::api
