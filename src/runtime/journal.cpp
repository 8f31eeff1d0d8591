// The run journal (see journal.hpp): SQL for a tool-running turn's parameters and calls, and
// the JSON form of CreateParams kept in it.
#include "runtime/journal.hpp"

#include <boost/json.hpp>

#include "wire/items.hpp"

namespace cn::runtime {

namespace json = boost::json;

namespace {

json::value opt(const std::optional<std::string>& v) { return v ? json::value(*v) : json::value(nullptr); }
std::optional<std::string> opt_str(const json::object& o, const char* k) {
  auto* v = o.if_contains(k);
  if (!v || !v->is_string()) return std::nullopt;
  return std::string(v->as_string());
}
std::string str(const json::object& o, const char* k) { return opt_str(o, k).value_or(""); }

}  // namespace

std::string encode_params(const CreateParams& p, const std::vector<ItemPtr>& inputs) {
  json::object o;
  o["project"] = p.scope.project;
  o["user"] = p.scope.user ? json::value(*p.scope.user) : json::value(nullptr);
  o["project_objects"] = p.scope.project_objects;
  o["model"] = p.model;
  o["instructions"] = opt(p.instructions);
  json::array in;
  for (const auto& i : inputs) in.push_back(json::parse(i->wire));
  o["input"] = std::move(in);
  o["previous_response_id"] = opt(p.previous_response_id);
  o["conversation_id"] = opt(p.conversation_id);
  o["store"] = p.store;
  o["stream"] = p.stream;
  o["background"] = p.background;
  o["truncation_auto"] = p.truncation_auto;
  o["tools_json"] = p.tools_json;
  o["tool_choice_json"] = p.tool_choice_json;
  o["text_format_json"] = p.text_format_json;
  o["user_field"] = p.user;
  o["parallel_tool_calls"] = p.parallel_tool_calls ? json::value(*p.parallel_tool_calls) : json::value(nullptr);
  o["max_output_tokens"] = p.max_output_tokens ? json::value(*p.max_output_tokens) : json::value(nullptr);
  o["temperature"] = p.temperature ? json::value(*p.temperature) : json::value(nullptr);
  o["top_p"] = p.top_p ? json::value(*p.top_p) : json::value(nullptr);
  o["memory_user"] = p.memory_user;
  o["memory_agent"] = p.memory_agent;
  o["memory_on"] = p.memory_on;
  o["memory_settings"] = memory::settings_json(p.memory_settings);
  o["max_total_tokens"] = p.max_total_tokens ? json::value(*p.max_total_tokens) : json::value(nullptr);
  o["max_run_ms"] = p.max_run_time ? json::value(p.max_run_time->count()) : json::value(nullptr);
  json::array st;
  for (const auto& t : p.server_tools) st.push_back(t);
  o["server_tools"] = std::move(st);
  o["credential_id"] = p.credential_id;
  o["claims_json"] = p.claims_json;
  o["max_tool_calls"] = p.max_tool_calls ? json::value(*p.max_tool_calls) : json::value(nullptr);
  o["agent_depth"] = p.agent_depth;
  o["generate"] = p.generate;
  o["compact_threshold"] = p.compact_threshold ? json::value(*p.compact_threshold) : json::value(nullptr);
  o["logprobs"] = p.logprobs;
  o["top_logprobs"] = p.top_logprobs;
  o["echo"] = p.echo;
  return json::serialize(o);
}

Result<CreateParams> decode_params(const std::string& text) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec || !v.is_object()) return Status(Code::internal, "journaled parameters are not JSON");
  const auto& o = v.as_object();
  CreateParams p;
  p.scope.project = str(o, "project");
  p.scope.user = opt_str(o, "user");
  if (auto* b = o.if_contains("project_objects"); b && b->is_bool()) p.scope.project_objects = b->as_bool();
  p.model = str(o, "model");
  p.instructions = opt_str(o, "instructions");
  if (auto* in = o.if_contains("input"); in && in->is_array()) {
    for (const auto& i : in->as_array()) {
      auto item = wire::item_from_wire(json::serialize(i));
      if (!item.ok()) return item.status();
      p.input.push_back(std::move(*item));
    }
  }
  p.previous_response_id = opt_str(o, "previous_response_id");
  p.conversation_id = opt_str(o, "conversation_id");
  auto flag = [&](const char* k, bool dflt) {
    auto* b = o.if_contains(k);
    return b && b->is_bool() ? b->as_bool() : dflt;
  };
  p.store = flag("store", true);
  p.stream = flag("stream", false);
  p.background = flag("background", false);
  p.truncation_auto = flag("truncation_auto", false);
  p.generate = flag("generate", true);
  p.logprobs = flag("logprobs", false);
  if (auto* n = o.if_contains("top_logprobs"); n && n->is_int64()) p.top_logprobs = static_cast<int>(n->as_int64());
  if (auto* n = o.if_contains("compact_threshold"); n && n->is_int64()) p.compact_threshold = n->as_int64();
  p.memory_on = flag("memory_on", true);
  if (auto* m = o.if_contains("memory_settings"))
    if (Status s = memory::parse_settings(*m, "memory", p.memory_settings); !s.ok()) return s;
  if (auto* n = o.if_contains("max_total_tokens"); n && n->is_int64()) p.max_total_tokens = n->as_int64();
  if (auto* n = o.if_contains("max_run_ms"); n && n->is_int64()) p.max_run_time = std::chrono::milliseconds(n->as_int64());
  p.tools_json = str(o, "tools_json");
  p.tool_choice_json = str(o, "tool_choice_json");
  p.text_format_json = str(o, "text_format_json");
  p.user = str(o, "user_field");
  if (auto* b = o.if_contains("parallel_tool_calls"); b && b->is_bool()) p.parallel_tool_calls = b->as_bool();
  if (auto* n = o.if_contains("max_output_tokens"); n && n->is_int64()) p.max_output_tokens = n->as_int64();
  if (auto* n = o.if_contains("temperature"); n && n->is_number()) p.temperature = n->to_number<double>();
  if (auto* n = o.if_contains("top_p"); n && n->is_number()) p.top_p = n->to_number<double>();
  p.memory_user = str(o, "memory_user");
  p.memory_agent = str(o, "memory_agent");
  if (auto* st = o.if_contains("server_tools"); st && st->is_array())
    for (const auto& t : st->as_array())
      if (t.is_object()) p.server_tools.push_back(t.as_object());
  p.credential_id = str(o, "credential_id");
  p.claims_json = str(o, "claims_json");
  if (auto* n = o.if_contains("max_tool_calls"); n && n->is_int64()) p.max_tool_calls = n->as_int64();
  if (auto* n = o.if_contains("agent_depth"); n && n->is_int64()) p.agent_depth = static_cast<int>(n->as_int64());
  if (auto* e = o.if_contains("echo"); e && e->is_object()) p.echo = e->as_object();
  return p;
}

namespace journal {

std::vector<store::Migration> migrations() {
  return {{"runtime", 4, R"sql(
CREATE TABLE run_journal (
  project_id TEXT NOT NULL,
  response_id TEXT NOT NULL,
  params TEXT NOT NULL,
  PRIMARY KEY (project_id, response_id)
) WITHOUT ROWID;
CREATE TABLE tool_calls (
  project_id TEXT NOT NULL,
  response_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  name TEXT NOT NULL,
  arguments TEXT NOT NULL,
  finished INTEGER NOT NULL,
  output TEXT,
  error INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (project_id, response_id, seq)
) WITHOUT ROWID;
)sql"}};
}

Status put_params(store::Database& db, const std::string& project, const std::string& id, const std::string& json) {
  return db.stmt("INSERT OR REPLACE INTO run_journal(project_id, response_id, params) VALUES (?1,?2,?3)")
      .bind(1, project).bind(2, id).bind(3, json).run();
}

Status call_started(store::Database& db, const std::string& project, const std::string& id, const JournaledCall& c) {
  return db.stmt("INSERT OR REPLACE INTO tool_calls(project_id, response_id, seq, name, arguments, finished, output, error)"
                 " VALUES (?1,?2,?3,?4,?5,0,NULL,0)")
      .bind(1, project).bind(2, id).bind(3, c.seq).bind(4, c.name).bind(5, c.arguments).run();
}

Status call_finished(store::Database& db, const std::string& project, const std::string& id, const JournaledCall& c) {
  return db.stmt("INSERT OR REPLACE INTO tool_calls(project_id, response_id, seq, name, arguments, finished, output, error)"
                 " VALUES (?1,?2,?3,?4,?5,1,?6,?7)")
      .bind(1, project).bind(2, id).bind(3, c.seq).bind(4, c.name).bind(5, c.arguments).bind(6, c.output)
      .bind(7, c.error ? 1 : 0).run();
}

Status forget(store::Database& db, const std::string& project, const std::string& id) {
  if (Status s = db.stmt("DELETE FROM tool_calls WHERE project_id=?1 AND response_id=?2").bind(1, project).bind(2, id).run();
      !s.ok())
    return s;
  return db.stmt("DELETE FROM run_journal WHERE project_id=?1 AND response_id=?2").bind(1, project).bind(2, id).run();
}

Result<std::vector<JournaledCall>> calls(store::Database& db, const std::string& project, const std::string& id) {
  auto& q = db.stmt("SELECT seq, name, arguments, finished, output, error FROM tool_calls"
                    " WHERE project_id=?1 AND response_id=?2 ORDER BY seq");
  q.bind(1, project).bind(2, id);
  std::vector<JournaledCall> out;
  while (q.step()) {
    JournaledCall c;
    c.seq = q.int64(0);
    c.name = q.text(1);
    c.arguments = q.text(2);
    c.finished = q.int64(3) != 0;
    c.output = q.text_opt(4).value_or("");
    c.error = q.int64(5) != 0;
    out.push_back(std::move(c));
  }
  Status st = q.status();
  q.reset();
  if (!st.ok()) return st;
  return out;
}

Result<std::optional<std::string>> params(store::Database& db, const std::string& project, const std::string& id) {
  auto& q = db.stmt("SELECT params FROM run_journal WHERE project_id=?1 AND response_id=?2");
  q.bind(1, project).bind(2, id);
  std::optional<std::string> out;
  if (q.step()) out = q.text(0);
  Status st = q.status();
  q.reset();
  if (!st.ok()) return st;
  return out;
}

}  // namespace journal
}  // namespace cn::runtime
