// Steering: user input queued for a running response (WebSocket response.steer, POST
// /v1/responses/{id}/steer). Each submission is written to the store before it is accepted, so
// an acknowledged submission always has an outcome a client can read back
// (GET /v1/responses/{id}/steers/{steer_id}): committed to a successor, waiting for the turn
// that continues a response stopped for client input, or failed with its input returned.
//
// The run looks for steering input at its safe boundaries (run_loop.cpp: before a model call
// that follows server-side tool calls) and ends there, incomplete with reason "steered". At its
// end it takes what was accepted (close_steering, before finish()) and, once its outcome is
// stored, settles it (settle_steering): a successor response starts as any turn does (create()),
// with the queued messages, the run's settings, and the run as its previous response (or the
// same conversation).
//
// Many nodes: input sent to a node other than the run's is offered to the run's node through
// the store and a notification, and answered from there (offer_steer, answer_offer).
#include "runtime/impl.hpp"

#include "base/ids.hpp"
#include "base/log.hpp"
#include "wire/items.hpp"

namespace cn::runtime {

namespace {

constexpr size_t kMaxPendingSteers = 8;  // accepted and not yet taken, per response

Status refusal(const char* code, std::string message) {
  Code c = Code::failed_precondition;
  std::string_view k = code;
  if (k == steer_code::not_found) c = Code::not_found;
  else if (k == steer_code::too_many) c = Code::resource_exhausted;
  else if (k == steer_code::invalid_input || k == steer_code::not_supported) c = Code::invalid_argument;
  Status st(c, std::move(message), "previous_response_id", code);
  if (c == Code::failed_precondition || c == Code::resource_exhausted) st.with_http_status(409);
  return st;
}

// Why a response that ended takes no more steering input.
Status ended(const std::string& id, const std::string& status) {
  if (status == "completed")
    return refusal(steer_code::completed, "Response '" + id + "' has already completed; send the input with response.create.");
  return refusal(steer_code::not_active, "Response '" + id + "' is " + status + " and no longer accepts steering input.");
}

json::object steer_ref(const SteerInput& s, const std::string& response) {
  return json::object{{"id", s.id}, {"previous_response_id", response}};
}

std::string notice(json::object ev, int64_t seq) {
  ev["sequence_number"] = seq;
  return json::serialize(ev);
}

json::value input_value(const std::string& input_json) {
  boost::system::error_code ec;
  auto v = json::parse(input_json, ec);
  return ec ? json::value(json::array()) : v;
}

}  // namespace

std::vector<store::Migration> Runtime::Impl::steer_migrations() {
  return {{"runtime", 5, R"sql(
CREATE TABLE response_steers (
  project_id TEXT NOT NULL,
  id TEXT NOT NULL,
  response_id TEXT NOT NULL,
  user_id TEXT NOT NULL DEFAULT '',
  input TEXT NOT NULL,
  status TEXT NOT NULL,
  successor_id TEXT,
  error_code TEXT,
  error_message TEXT,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (project_id, id)
) WITHOUT ROWID;
CREATE INDEX response_steers_queued ON response_steers(status) WHERE status = 'queued';
)sql"}};
}

Status Runtime::Impl::steer_refusal(const Run& run) {
  const auto& st = *run.st_;
  const std::string& id = run.id();
  if (!st.steerable)
    return refusal(steer_code::not_supported,
                   "Response '" + id + "' cannot be steered: only stored responses that generate can be (not 'store': false, 'generate': false or an agent's child run).");
  if (st.steers_closed) return ended(id, st.status == "in_progress" ? "completed" : st.status);
  if (st.steers.size() >= kMaxPendingSteers)
    return refusal(steer_code::too_many, "Response '" + id + "' already has " + std::to_string(kMaxPendingSteers) +
                                             " steering submissions pending; wait for its successor.");
  return {};
}

awaitable<Result<SteerAck>> Runtime::steer(Scope scope, std::string id, std::vector<Item> input, std::string input_json) {
  auto& im = *impl_;
  if (input.empty()) co_return refusal(steer_code::invalid_input, "Steering input must hold at least one user message.");
  std::shared_ptr<Run> run;
  {
    std::lock_guard lk(im.mu);
    run = im.live_run_locked(scope, id);
  }
  if (!run) {
    using R = Result<std::pair<std::string, std::string>>;  // its status and its end user
    std::function<R(store::Database&)> read = [scope, id](store::Database& db) -> R {
      auto row = repo::get_response(db, scope, id, false);
      if (!row.ok()) return row.status();
      if (row->deleted) return not_found_response(id);
      return std::make_pair(row->status, row->user_id);
    };
    auto status = co_await read_async<R>(im.store, std::move(read));
    if (!status.ok()) {
      if (status.status().code() == Code::not_found)
        co_return refusal(steer_code::not_found, "Response with id '" + id + "' not found.");
      co_return status.status();
    }
    if (im.opts.notifier && (status->first == "in_progress" || status->first == "queued")) {
      // Running on another node: offered to it.
      std::string user = status->second;
      auto offered = co_await im.offer_steer(scope, std::move(id), std::move(user), std::move(input_json));
      co_return offered;
    }
    co_return ended(id, status->first);
  }
  auto check = [&]() -> Status { return Impl::steer_refusal(*run); };
  {
    std::lock_guard lk(run->mu_);
    if (Status st = check(); !st.ok()) co_return st;
  }
  // Durable before it is accepted.
  SteerInput s{new_id("steer"), {}, std::move(input_json)};
  for (auto& it : input) s.items.push_back(std::make_shared<const Item>(std::move(it)));
  std::string project = scope.project, owner = run->owner(), sid = s.id, body = s.input_json;
  int64_t now = im.clock.now_seconds();
  std::function<Status(store::Database&)> put = [project, sid, id, owner, body, now](store::Database& db) {
    return db.stmt("INSERT INTO response_steers(project_id, id, response_id, user_id, input, status, created_at)"
                   " VALUES (?1,?2,?3,?4,?5,'queued',?6)")
        .bind(1, project).bind(2, sid).bind(3, id).bind(4, owner).bind(5, body).bind(6, now).run();
  };
  if (Status st = co_await write_async(im.store, std::move(put)); !st.ok())
    co_return Status(Code::unavailable, "Could not store the steering input: " + st.message());
  Status refused;
  {
    std::lock_guard lk(run->mu_);
    refused = check();
    if (refused.ok()) {
      run->publish("response.steer.accepted", {{"steer", steer_ref(s, id)}});
      run->st_->steers.push_back(std::move(s));
    }
  }
  if (!refused.ok()) {
    // It ended meanwhile: the stored submission is failed, as it was never accepted.
    std::string code = refused.api_code(), msg = refused.message();
    std::function<Status(store::Database&)> fail = [project, sid, code, msg](store::Database& db) {
      return db.stmt("UPDATE response_steers SET status='failed', error_code=?3, error_message=?4 WHERE project_id=?1 AND id=?2")
          .bind(1, project).bind(2, sid).bind(3, code).bind(4, msg).run();
    };
    Status ignored = co_await write_async(im.store, std::move(fail));
    (void)ignored;
    co_return refused;
  }
  run->wake_all();
  spdlog::info("response {}: steering input {} accepted", id, sid);
  co_return SteerAck{sid, run};
}

awaitable<Result<std::string>> Runtime::get_steer(Scope scope, std::string response_id, std::string steer_id) {
  using R = Result<std::string>;
  std::function<R(store::Database&)> read = [scope, response_id, steer_id](store::Database& db) -> R {
    auto& q = db.stmt("SELECT input, status, successor_id, error_code, error_message, created_at FROM response_steers"
                      " WHERE project_id=?1 AND id=?2 AND response_id=?3 AND (?4 IS NULL OR user_id=?4 OR (?5 AND user_id=''))");
    q.bind(1, scope.project).bind(2, steer_id).bind(3, response_id).bind_opt(4, scope.user).bind(5, scope.project_objects ? 1 : 0);
    if (!q.step()) {
      Status st = q.status();
      q.reset();
      if (!st.ok()) return st;
      return Status(Code::not_found, "Steering submission '" + steer_id + "' of response '" + response_id + "' not found.");
    }
    json::object o{{"id", steer_id}, {"object", "response.steer"}, {"previous_response_id", response_id},
                   {"status", q.text(1) == "offered" ? std::string("queued") : q.text(1)}, {"input", input_value(q.text(0))},
                   {"created_at", q.int64(5)}};
    auto successor = q.text_opt(2);
    o["successor_response_id"] = successor ? json::value(*successor) : json::value(nullptr);
    if (auto code = q.text_opt(3))
      o["error"] = json::object{{"code", *code}, {"message", q.text_opt(4).value_or("")}, {"type", "invalid_request_error"}};
    else
      o["error"] = nullptr;
    q.reset();
    return json::serialize(o);
  };
  co_return co_await read_async<R>(impl_->store, std::move(read));
}

bool Runtime::Impl::steer_requested(Run& run) {
  std::lock_guard lk(run.mu_);
  return !run.st_->steers.empty();
}

Runtime::Impl::SteerPlan Runtime::Impl::close_steering(Run& run, const RunOutcome& o, std::string awaited) {
  SteerPlan plan;
  std::lock_guard lk(run.mu_);
  auto& st = *run.st_;
  st.steers_closed = true;
  plan.taken = std::move(st.steers);
  st.steers.clear();
  if (plan.taken.empty()) return plan;
  st.settling = true;
  bool steered = o.status == "incomplete" && o.incomplete == "steered";
  if (o.status == "completed" && awaited != "[]") {
    plan.action = SteerPlan::wait_for_client;
    plan.required_input = std::move(awaited);
  } else if (o.status == "completed" || steered) {
    plan.action = SteerPlan::successor;
  } else {
    plan.action = SteerPlan::fail;
    plan.fail_code = steer_code::not_active;
    plan.fail_message = "The response ended " + o.status + " before the steering input was committed; it was not applied.";
  }
  return plan;
}

awaitable<void> Runtime::Impl::settle_steering(std::shared_ptr<Run> run, std::shared_ptr<Turn> t, SteerPlan plan) {
  if (plan.taken.empty()) co_return;
  const auto& p = *t->params;
  const std::string project = p.scope.project, id = run->id();
  std::shared_ptr<Run> successor;
  if (plan.action == SteerPlan::successor) {
    // Did the run's outcome get stored? A successor continues only a stored response.
    bool stored;
    {
      std::lock_guard lk(run->mu_);
      stored = run->st_->status == "completed" || run->st_->status == "incomplete";
    }
    if (!stored) {
      plan.action = SteerPlan::fail;
      plan.fail_code = steer_code::not_active;
      plan.fail_message = "The response could not be stored; the steering input was not applied.";
    } else {
      CreateParams next = p;
      next.input.clear();
      for (const auto& s : plan.taken)
        for (const auto& it : s.items) next.input.push_back(*it);
      if (!p.conversation_id) next.previous_response_id = id;
      next.stream = true;  // its events are kept for whoever follows it
      next.background = false;
      next.concurrency = Concurrency::enqueue;
      next.compact_threshold = p.compact_threshold;
      auto created = co_await self->create(std::move(next));
      if (created.ok()) {
        successor = *created;
      } else {
        plan.action = SteerPlan::fail;
        plan.fail_code = steer_code::successor_failed;
        plan.fail_message = "The successor response could not be created: " + created.status().message();
      }
    }
  }
  // Each submission's outcome, durably.
  std::vector<std::string> ids;
  for (const auto& s : plan.taken) ids.push_back(s.id);
  if (plan.action == SteerPlan::successor) {
    co_await commit_steers(project, ids, successor->id());
  } else if (plan.action == SteerPlan::fail) {
    std::string code = plan.fail_code, msg = plan.fail_message;
    std::function<Status(store::Database&)> fail = [project, ids, code, msg](store::Database& db) {
      for (const auto& sid : ids)
        if (Status st = db.stmt("UPDATE response_steers SET status='failed', error_code=?3, error_message=?4"
                                " WHERE project_id=?1 AND id=?2")
                            .bind(1, project).bind(2, sid).bind(3, code).bind(4, msg).run();
            !st.ok())
          return st;
      return Status();
    };
    if (Status st = co_await write_async(store, std::move(fail)); !st.ok())
      spdlog::error("response {}: recording failed steering input: {}", id, st.message());
  }
  {
    std::lock_guard lk(run->mu_);
    auto& st = *run->st_;
    int64_t seq = static_cast<int64_t>(st.events.size());
    for (const auto& s : plan.taken) {
      if (plan.action == SteerPlan::wait_for_client) {
        boost::system::error_code ec;
        auto required = json::parse(plan.required_input, ec);
        st.notices.push_back(notice({{"type", "response.steer.pending"}, {"reason", "waiting_for_required_input"},
                                     {"required_input", ec ? json::value(json::array()) : required}, {"steer", steer_ref(s, id)}},
                                    seq++));
      } else if (plan.action == SteerPlan::fail) {
        json::object ref = steer_ref(s, id);
        ref["input"] = input_value(s.input_json);
        st.notices.push_back(notice({{"type", "response.steer.failed"},
                                     {"error", json::object{{"code", plan.fail_code}, {"message", plan.fail_message},
                                                            {"type", "invalid_request_error"}}},
                                     {"steer", std::move(ref)}},
                                    seq++));
      }
    }
    st.successor = successor;
    st.settling = false;
  }
  if (plan.action == SteerPlan::wait_for_client) {
    std::lock_guard lk(mu);
    auto& q = waiting_steers[key_of(project, id)];
    for (auto& s : plan.taken) q.push_back(std::move(s));
  }
  run->wake_all();
  if (successor) spdlog::info("response {} steered: successor {}", id, successor->id());
}

std::vector<SteerInput> Runtime::Impl::take_waiting_steers(const std::string& project, const std::string& previous) {
  std::lock_guard lk(mu);
  auto it = waiting_steers.find(key_of(project, previous));
  if (it == waiting_steers.end()) return {};
  auto out = std::move(it->second);
  waiting_steers.erase(it);
  return out;
}

void Runtime::Impl::return_steers(const std::string& project, const std::string& previous, std::vector<SteerInput> steers) {
  if (steers.empty()) return;
  std::lock_guard lk(mu);
  auto& q = waiting_steers[key_of(project, previous)];
  q.insert(q.begin(), std::make_move_iterator(steers.begin()), std::make_move_iterator(steers.end()));
}

awaitable<void> Runtime::Impl::commit_steers(std::string project, std::vector<std::string> ids, std::string successor_id) {
  std::function<Status(store::Database&)> commit = [project, ids, successor_id](store::Database& db) {
    for (const auto& sid : ids)
      if (Status st = db.stmt("UPDATE response_steers SET status='committed', successor_id=?3 WHERE project_id=?1 AND id=?2")
                          .bind(1, project).bind(2, sid).bind(3, successor_id).run();
          !st.ok())
        return st;
    return Status();
  };
  if (Status st = co_await write_async(store, std::move(commit)); !st.ok())
    spdlog::error("recording steering input committed to response {}: {}", successor_id, st.message());
}

Runtime::Impl::SteerClaim::SteerClaim(Impl& i, std::string proj, std::string prev)
    : im(i), project(std::move(proj)), previous(std::move(prev)) {
  if (!previous.empty()) steers = im.take_waiting_steers(project, previous);
}

Runtime::Impl::SteerClaim::~SteerClaim() { im.return_steers(project, previous, std::move(steers)); }

awaitable<void> Runtime::Impl::SteerClaim::commit(std::string successor_id) {
  if (steers.empty()) co_return;
  std::vector<std::string> ids;
  for (const auto& s : steers) ids.push_back(s.id);
  steers.clear();
  co_await im.commit_steers(project, std::move(ids), std::move(successor_id));
}

Status Runtime::Impl::fail_queued_steers(store::Database& db, const std::optional<std::string>& node) {
  // Queued submissions are few (a partial index holds them); each names its response's turn,
  // which names its node.
  std::string where = " WHERE status='queued'";
  if (node)
    where += " AND EXISTS (SELECT 1 FROM turns t WHERE t.project_id=response_steers.project_id"
             " AND t.id=response_steers.response_id AND t.node=?1)";
  auto& q = db.stmt("SELECT count(*) FROM response_steers" + where);
  if (node) q.bind(1, *node);
  int64_t n = q.step() ? q.int64(0) : 0;
  Status st = q.status();
  q.reset();
  if (!st.ok() || n == 0) return st;
  spdlog::warn("{} steering submissions were queued when {} stopped: returned as failed", n, node ? "a node" : "the server");
  auto& u = db.stmt("UPDATE response_steers SET status='failed', error_code=?2, error_message=?3" + where);
  if (node) u.bind(1, *node);
  else u.bind(1, std::string());  // unused: the statement names ?1 only with a node
  u.bind(2, std::string(steer_code::not_active))
      .bind(3, std::string("The server stopped before this steering input was committed; it was not applied. Send it again."));
  return u.run();
}

// ---- many nodes: steering input for a run on another node ------------------------------------

namespace {
constexpr auto kOfferWait = std::chrono::seconds(3);  // how long an offer waits for the run's node
constexpr auto kOfferPoll = std::chrono::milliseconds(20);
}  // namespace

awaitable<Result<SteerAck>> Runtime::Impl::offer_steer(Scope scope, std::string id, std::string owner, std::string input_json) {
  std::string project = scope.project, sid = new_id("steer");
  int64_t now = clock.now_seconds();
  std::function<Status(store::Database&)> put = [project, sid, id, owner, input_json, now](store::Database& db) -> Status {
    Status st = db.stmt("INSERT INTO response_steers(project_id, id, response_id, user_id, input, status, created_at)"
                        " VALUES (?1,?2,?3,?4,?5,'offered',?6)")
                    .bind(1, project).bind(2, sid).bind(3, id).bind(4, owner).bind(5, input_json).bind(6, now).run();
    if (!st.ok()) return st;
    return db.notify("steer:" + project + " " + id + " " + sid);
  };
  if (Status st = co_await write_async(store, std::move(put)); !st.ok())
    co_return Status(Code::unavailable, "Could not store the steering input: " + st.message());
  struct Answer {
    std::string status, code, message;
  };
  using R = Result<Answer>;
  std::function<R(store::Database&)> read = [project, sid](store::Database& db) -> R {
    auto& q = db.stmt("SELECT status, error_code, error_message FROM response_steers WHERE project_id=?1 AND id=?2");
    Answer a;
    if (q.bind(1, project).bind(2, sid).step()) a = {q.text(0), q.text_opt(1).value_or(""), q.text_opt(2).value_or("")};
    Status st = q.status();
    q.reset();
    if (!st.ok()) return st;
    return a;
  };
  net::steady_timer timer(co_await net::this_coro::executor);
  auto deadline = std::chrono::steady_clock::now() + kOfferWait;
  for (;;) {
    auto a = co_await read_async<R>(store, read);
    if (!a.ok()) co_return a.status();
    if (a->status == "failed") co_return refusal(a->code.c_str(), a->message);
    if (a->status != "offered") co_return SteerAck{sid, nullptr};  // accepted by the run's node
    if (std::chrono::steady_clock::now() >= deadline) break;
    timer.expires_after(kOfferPoll);
    co_await timer.async_wait(net::as_tuple(net::use_awaitable));
  }
  // No answer: the offer fails, unless the owner's answer is being written right now.
  std::string code = steer_code::not_active, msg = "The node running this response did not answer; the steering input was not applied.";
  auto withdrawn = std::make_shared<bool>(false);
  std::function<Status(store::Database&)> fail = [project, sid, code, msg, withdrawn](store::Database& db) {
    Status st = db.stmt("UPDATE response_steers SET status='failed', error_code=?3, error_message=?4"
                        " WHERE project_id=?1 AND id=?2 AND status='offered'")
                    .bind(1, project).bind(2, sid).bind(3, code).bind(4, msg).run();
    *withdrawn = st.ok() && db.changes() == 1;
    return st;
  };
  if (Status st = co_await write_async(store, std::move(fail)); !st.ok()) co_return st;
  if (*withdrawn) co_return Status(Code::unavailable, msg + " Send it again.");
  auto a = co_await read_async<R>(store, read);
  if (!a.ok()) co_return a.status();
  if (a->status == "failed") co_return refusal(a->code.c_str(), a->message);
  co_return SteerAck{sid, nullptr};
}

void Runtime::Impl::on_steer_offer(std::string_view rest) {
  // "<project> <response id> <steer id>"
  auto a = rest.find(' ');
  auto b = a == std::string_view::npos ? a : rest.find(' ', a + 1);
  if (b == std::string_view::npos) return;
  std::string project(rest.substr(0, a)), id(rest.substr(a + 1, b - a - 1)), sid(rest.substr(b + 1));
  std::shared_ptr<Run> run;
  {
    std::lock_guard lk(mu);
    if (auto it = live.find(key_of(project, id)); it != live.end()) run = it->second;
  }
  if (run) net::co_spawn(io, answer_offer(std::move(run), std::move(project), std::move(sid)), net::detached);
}

awaitable<void> Runtime::Impl::answer_offer(std::shared_ptr<Run> run, std::string project, std::string sid) {
  using R = Result<std::optional<std::string>>;  // the offered input, while it is still offered
  std::function<R(store::Database&)> read = [project, sid](store::Database& db) -> R {
    auto& q = db.stmt("SELECT input FROM response_steers WHERE project_id=?1 AND id=?2 AND status='offered'");
    std::optional<std::string> input;
    if (q.bind(1, project).bind(2, sid).step()) input = q.text(0);
    Status st = q.status();
    q.reset();
    if (!st.ok()) return st;
    return input;
  };
  auto offered = co_await read_async<R>(store, std::move(read));
  if (!offered.ok() || !*offered) co_return;
  SteerInput s{sid, {}, **offered};
  {
    boost::system::error_code ec;
    auto v = json::parse(s.input_json, ec);
    auto items = ec ? Result<std::vector<Item>>(Status(Code::invalid_argument, "unreadable")) : wire::parse_input(v, "input");
    if (items.ok())
      for (auto& it : *items) {
        if (it.id.empty()) it.id = new_id(wire::id_prefix(it.type));
        wire::finalize_wire(it);
        s.items.push_back(std::make_shared<const Item>(std::move(it)));
      }
  }
  Status refused = s.items.empty() ? refusal(steer_code::invalid_input, "The steering input could not be read.") : Status();
  if (refused.ok()) {
    std::lock_guard lk(run->mu_);
    refused = steer_refusal(*run);
  }
  if (refused.ok()) {
    auto won = std::make_shared<bool>(false);
    std::function<Status(store::Database&)> take = [project, sid, won](store::Database& db) -> Status {
      Status st = db.stmt("UPDATE response_steers SET status='queued' WHERE project_id=?1 AND id=?2 AND status='offered'")
                      .bind(1, project).bind(2, sid).run();
      *won = st.ok() && db.changes() == 1;
      return st;
    };
    Status st = co_await write_async(store, std::move(take));
    if (!st.ok() || !*won) co_return;  // the offering node gave up first
    std::lock_guard lk(run->mu_);
    refused = steer_refusal(*run);
    if (refused.ok()) {
      run->publish("response.steer.accepted", {{"steer", steer_ref(s, run->id())}});
      run->st_->steers.push_back(std::move(s));
    }
  }
  if (!refused.ok()) {
    std::string code = refused.api_code(), msg = refused.message();
    std::function<Status(store::Database&)> fail = [project, sid, code, msg](store::Database& db) {
      return db.stmt("UPDATE response_steers SET status='failed', error_code=?3, error_message=?4"
                     " WHERE project_id=?1 AND id=?2 AND status IN ('offered', 'queued')")
          .bind(1, project).bind(2, sid).bind(3, code).bind(4, msg).run();
    };
    Status ignored = co_await write_async(store, std::move(fail));
    (void)ignored;
    co_return;
  }
  run->wake_all();
  spdlog::info("response {}: steering input {} accepted from another node", run->id(), sid);
}

}  // namespace cn::runtime
