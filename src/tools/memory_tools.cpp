// memory_search and memory_write: the memory tools on the Tool interface.
#include "tools/memory_tools.hpp"

#include <boost/json.hpp>

#include <algorithm>

namespace cn::tools {

namespace json = boost::json;

namespace {

Result<json::object> parse_args(const std::string& arguments) {
  boost::system::error_code ec;
  auto args = json::parse(arguments, ec);
  if (ec || !args.is_object()) return Status(Code::invalid_argument, "arguments must be a JSON object");
  return args.as_object();
}

class MemorySearch final : public Tool {
 public:
  explicit MemorySearch(memory::Memory& m) : m_(m) {}
  const std::string& name() const override { return name_; }
  bool idempotent() const override { return true; }
  ItemType item_type() const override { return ItemType::memory_call; }
  json::object definition() const override {
    return {{"type", "function"},
            {"name", name_},
            {"description", "Search what you remember about the user from earlier conversations."},
            {"parameters", json::object{{"type", "object"},
                                        {"properties", json::object{{"query", json::object{{"type", "string"}}},
                                                                    {"top_k", json::object{{"type", "integer"}}}}},
                                        {"required", json::array{"query"}}}}};
  }
  awaitable<Outcome> execute(const CallContext& ctx, std::string arguments) override {
    auto a = parse_args(arguments);
    if (!a.ok()) co_return error_outcome(a.status().message());
    auto* q = a->if_contains("query");
    if (!q || !q->is_string() || q->as_string().empty()) co_return error_outcome("'query' must be a non-empty string");
    size_t k = 5;
    if (auto* t = a->if_contains("top_k"); t && t->is_int64()) k = static_cast<size_t>(std::clamp<int64_t>(t->as_int64(), 1, 20));
    memory::Filter f;
    f.user_id = ctx.user_id;
    std::string query(q->as_string());
    auto r = co_await m_.search(ctx.project_id, std::move(query), f, k * 2);
    if (!r.ok()) co_return error_outcome(r.status().message());
    json::array results;
    memory::Namespace ns{ctx.user_id, ctx.agent_id, ctx.conversation_id};
    for (const auto& rec : *r)
      if (results.size() < k && memory::visible(rec, ns))
        results.push_back(json::object{{"id", rec.id}, {"text", rec.text}, {"kind", rec.kind}});
    co_return Outcome{json::serialize(json::object{{"results", std::move(results)}})};
  }

 private:
  memory::Memory& m_;
  const std::string name_ = "memory_search";
};

class MemoryWrite final : public Tool {
 public:
  explicit MemoryWrite(memory::Memory& m) : m_(m) {}
  const std::string& name() const override { return name_; }
  // A repeated write adds a duplicate record (consolidation does not run on explicit writes).
  bool idempotent() const override { return false; }
  ItemType item_type() const override { return ItemType::memory_call; }
  json::object definition() const override {
    return {{"type", "function"},
            {"name", name_},
            {"description", "Remember a durable fact or preference about the user for future conversations."},
            {"parameters",
             json::object{{"type", "object"},
                          {"properties", json::object{{"text", json::object{{"type", "string"}}},
                                                      {"kind", json::object{{"type", "string"}, {"enum", json::array{"fact", "preference"}}}}}},
                          {"required", json::array{"text"}}}}};
  }
  awaitable<Outcome> execute(const CallContext& ctx, std::string arguments) override {
    auto a = parse_args(arguments);
    if (!a.ok()) co_return error_outcome(a.status().message());
    auto* t = a->if_contains("text");
    if (!t || !t->is_string() || t->as_string().empty() || t->as_string().size() > 4000)
      co_return error_outcome("'text' must be a string of 1 to 4000 characters");
    std::string kind = "fact";
    if (auto* kv = a->if_contains("kind"); kv && kv->is_string() && (kv->as_string() == "preference" || kv->as_string() == "fact"))
      kind = std::string(kv->as_string());
    if (ctx.cancel && ctx.cancel->cancelled()) co_return error_outcome("the run was cancelled");
    memory::Source src{"tool", ctx.response_id, ctx.conversation_id, {}};
    memory::Namespace ns{ctx.user_id, ctx.agent_id, ""};
    std::string text(t->as_string());
    auto r = co_await m_.write(ctx.project_id, std::move(ns), std::move(kind), std::move(text), "{}", std::move(src));
    if (!r.ok()) co_return error_outcome(r.status().message());
    co_return Outcome{json::serialize(json::object{{"id", r->id}, {"status", "remembered"}})};
  }

 private:
  memory::Memory& m_;
  const std::string name_ = "memory_write";
};

}  // namespace

MemoryToolSource::MemoryToolSource(memory::Memory& memory)
    : search_(std::make_shared<MemorySearch>(memory)), write_(std::make_shared<MemoryWrite>(memory)) {}

Status MemoryToolSource::add_tools(const ToolRequest& req, ToolSet& out) {
  if (req.user_id.empty())
    return invalid_param("tools", "Memory tools need an end user: send 'safety_identifier' (or 'user') or the X-Continuum-User header.");
  if (!req.memory_on) return invalid_param("tools", "Memory tools cannot be used with \"memory\": \"off\".");
  if (Status s = out.add(search_); !s.ok()) return s;
  return out.add(write_);
}

}  // namespace cn::tools
