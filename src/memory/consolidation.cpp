// Consolidation: a new memory against the most similar active records of its namespace (add,
// update, supersede, ignore, decided by the model with a strict schema), and session summaries
// that replace the previous one.
#include "memory/impl.hpp"

#include <algorithm>

#include "base/ids.hpp"
#include "base/log.hpp"
#include "model/embed.hpp"

namespace cn::memory {

awaitable<Status> Memory::Impl::replace_summary(const std::string& project, const Namespace& ns, std::string text, Source src) {
  int64_t now = clock.now_seconds();
  Record r{new_id("mem"), project, ns, "summary", std::move(text), "{}", std::move(src), now, now, now, std::nullopt, "active"};
  auto vr = co_await embed(r.text);
  if (!vr.ok()) co_return vr.status();
  auto vec = std::move(*vr);
  auto ch = std::make_shared<Changes>();
  std::function<Status(store::Database&)> fn = [r, vec, ch](store::Database& db) -> Status {
    auto& q = db.stmt("SELECT id FROM memory_records WHERE project_id=?1 AND user_id=?2 AND session_id=?3"
                      " AND agent_id=?4 AND kind='summary' AND status='active'");
    q.bind(1, r.project_id).bind(2, r.ns.user_id).bind(3, r.ns.session_id).bind(4, r.ns.agent_id);
    std::vector<std::string> old;
    while (q.step()) old.push_back(q.text(0));
    q.reset();
    if (Status s = insert_record(db, r, "session summary", vec, ch.get()); !s.ok()) return s;
    for (const auto& id : old) {
      int64_t seq;
      auto o = load(db, r.project_id, id, &seq);
      if (!o.ok()) return o.status();
      if (Status s = retire(db, *o, seq, "superseded", r.id, "extraction", "newer session summary", r.created_at, ch.get());
          !s.ok())
        return s;
    }
    return Status();
  };
  Status st = co_await write_async(store, std::move(fn));
  if (st.ok()) apply(project, *ch);
  co_return st;
}

awaitable<Status> Memory::Impl::consolidate(const std::string& project, const Namespace& ns, const std::string& kind,
                                            const std::string& text, const Source& src, const std::string& model_name) {
  Filter f;
  f.user_id = ns.user_id;
  if (!ns.agent_id.empty()) f.agent_id = ns.agent_id;
  auto similar = co_await search(project, text, f, 5);
  if (!similar.ok()) co_return similar.status();
  std::erase_if(*similar, [](const Record& r) { return r.kind == "summary"; });
  std::string decision = "add", new_text = text;
  std::optional<size_t> target;
  auto norm = [](std::string s) {
    auto ws = model::words(s);
    std::string o;
    for (auto& w : ws) o += w + " ";
    return o;
  };
  for (size_t i = 0; i < similar->size(); ++i)
    if (norm((*similar)[i].text) == norm(text)) decision = "ignore";
  if (decision != "ignore" && !similar->empty()) {
    std::string task = "Existing memories:\n";
    for (size_t i = 0; i < similar->size(); ++i) task += std::to_string(i) + ". " + (*similar)[i].text + "\n";
    task += "\nNew memory: " + text + "\n";
    const char* prompt = opts.consolidation_prompt.empty() ? kConsolidationPrompt : opts.consolidation_prompt.c_str();
    auto out = co_await ask(model_name, prompt, task, "memory_consolidation", consolidation_schema());
    if (!out.ok()) co_return out.status();
    auto* d = out->if_contains("decision");
    auto* t = out->if_contains("text");
    auto* tg = out->if_contains("target");
    if (!d || !d->is_string() || !t || !t->is_string())
      co_return Status(Code::invalid_argument, "consolidation output lacks 'decision' or 'text'");
    decision = std::string(d->as_string());
    if (decision != "add" && decision != "update" && decision != "supersede" && decision != "ignore")
      co_return Status(Code::invalid_argument, "consolidation output: unknown decision '" + decision + "'");
    if (!t->as_string().empty()) new_text = std::string(t->as_string());
    if (decision == "update" || decision == "supersede") {
      if (!tg || !tg->is_int64() || tg->as_int64() < 0 || static_cast<size_t>(tg->as_int64()) >= similar->size())
        co_return Status(Code::invalid_argument, "consolidation output: 'target' is not one of the listed memories");
      target = static_cast<size_t>(tg->as_int64());
    }
  }
  if (decision == "ignore") co_return Status();
  int64_t now = clock.now_seconds();
  Record r{new_id("mem"), project, ns, kind, new_text, "{}", src, now, now, now, std::nullopt, "active"};
  std::optional<std::string> target_id;
  if (target) target_id = (*similar)[*target].id;
  auto vr = co_await embed(r.text);
  if (!vr.ok()) co_return vr.status();
  auto vec = std::move(*vr);
  auto ch = std::make_shared<Changes>();
  std::function<Status(store::Database&)> fn = [r, vec, decision, target_id, now, ch](store::Database& db) -> Status {
    if (decision == "add") return insert_record(db, r, "extracted", vec, ch.get());
    int64_t seq;
    auto old = load(db, r.project_id, *target_id, &seq);
    if (!old.ok()) return old.status();
    if (old->status != "active") return insert_record(db, r, "extracted (target no longer active)", vec, ch.get());
    if (decision == "update") return set_text(db, *old, seq, r.text, vec, "extraction", "refined by a later turn", now, ch.get());
    if (Status s = insert_record(db, r, "supersedes " + old->id, vec, ch.get()); !s.ok()) return s;
    return retire(db, *old, seq, "superseded", r.id, "extraction", "contradicted by a later turn", now, ch.get());
  };
  Status st = co_await write_async(store, std::move(fn));
  if (st.ok()) apply(project, *ch);
  co_return st;
}

}  // namespace cn::memory
