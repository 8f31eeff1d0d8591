// The model behind evals: a Judge over the model registry, for judges (a strict JSON schema) and
// for sampling answers (no schema), and the registry's embedder for cosine similarity.
#include "evals/judge.hpp"

#include <map>
#include <mutex>
#include <set>

#include "base/ids.hpp"
#include "http/client.hpp"
#include "wire/items.hpp"

namespace cn::evals {

namespace {

class ModelJudge final : public Judge {
 public:
  ModelJudge(model::Registry& models, std::shared_ptr<tools::sandbox::Sandbox> sandbox, memory::Memory* memory)
      : models_(models), sandbox_(std::move(sandbox)), memory_(memory) {}

  boost::asio::awaitable<Result<std::vector<std::string>>> memories(std::string project, std::string user, std::string agent) override {
    if (!memory_) co_return Status(Code::unavailable, "this server has no long-term memory");
    memory::Filter f;
    f.user_id = user;
    if (!agent.empty()) f.agent_id = agent;
    std::optional<std::string> after;
    auto records = co_await memory_->list(project, f, 1000, after);
    if (!records.ok()) co_return records.status();
    std::vector<std::string> out;
    for (const auto& r : *records) out.push_back(r.text);
    co_return out;
  }

  bool python_available() const override { return sandbox_ && sandbox_->available(); }

  // The source, then its grade(sample, item) called on the JSON it is given, the score printed
  // after a marker on the last line.
  boost::asio::awaitable<Result<double>> run_python(std::string project, std::string source, json::value sample,
                                                    json::value item) override {
    if (!python_available()) co_return Status(Code::unavailable, "the code sandbox is not available");
    static constexpr std::string_view kMarker = "__CONTINUUM_GRADE__";
    std::string code = source + "\n\nimport json as _cn_json\n";
    code += "_cn_sample = _cn_json.loads(" + json::serialize(json::value(json::serialize(sample))) + ")\n";
    code += "_cn_item = _cn_json.loads(" + json::serialize(json::value(json::serialize(item))) + ")\n";
    code += "print('\\n" + std::string(kMarker) + "' + _cn_json.dumps(float(grade(_cn_sample, _cn_item))))\n";
    auto cancel = std::make_shared<http::CancelToken>();
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    // A working directory of its own while it runs (graders of one project run at once); the
    // directories are reused, so there are only as many as ran at once.
    int slot = take_slot(project);
    std::string dir = project + "-eval-grader-" + std::to_string(slot);
    auto r = co_await sandbox_->run("python", std::move(code), dir, project, cancel, deadline);
    give_slot(project, slot);
    if (!r.ok()) co_return r.status();
    auto at = r->output.rfind(kMarker);
    if (r->exit_code != 0 || at == std::string::npos) {
      std::string tail = r->output.size() > 400 ? r->output.substr(r->output.size() - 400) : r->output;
      co_return Status(Code::invalid_argument, (r->timed_out ? std::string("timed out: ") : std::string()) + "exit code " +
                                                   std::to_string(r->exit_code) + ": " + tail);
    }
    try {
      co_return std::stod(r->output.substr(at + kMarker.size()));
    } catch (...) {
      co_return Status(Code::invalid_argument, "grade() did not return a number");
    }
  }

  boost::asio::awaitable<Result<std::string>> ask(std::string model, json::array messages, json::object schema,
                                                  json::object sampling, Usage* usage) override {
    auto prov = models_.route(model);
    if (!prov.ok()) co_return prov.status();
    model::ModelRequest mr;
    mr.model = model;
    for (const auto& m : messages) {
      const auto& o = m.as_object();
      Item it;
      it.id = new_id("msg");
      it.role = std::string(o.at("role").as_string());
      it.content.push_back({it.role == "assistant" ? "output_text" : "input_text", std::string(o.at("content").as_string())});
      wire::finalize_wire(it);
      mr.context.push_back(std::make_shared<const Item>(std::move(it)));
    }
    if (!schema.empty())
      mr.text_format_json = json::serialize(json::object{{"type", "json_schema"}, {"name", "grade"}, {"schema", std::move(schema)}, {"strict", true}});
    if (auto* t = sampling.if_contains("temperature"); t && t->is_number()) mr.temperature = t->to_number<double>();
    if (auto* t = sampling.if_contains("top_p"); t && t->is_number()) mr.top_p = t->to_number<double>();
    for (const char* k : {"max_completions_tokens", "max_completion_tokens", "max_output_tokens"})
      if (auto* t = sampling.if_contains(k); t && t->is_int64()) mr.max_output_tokens = t->as_int64();
    model::CollectingSink sink;
    auto cancel = std::make_shared<http::CancelToken>();
    auto res = co_await (*prov)->generate(mr, sink, cancel);
    if (!res.ok()) co_return res.status();
    if (usage) {
      usage->input_tokens += res->usage.input_tokens;
      usage->output_tokens += res->usage.output_tokens;
      usage->cached_tokens += res->usage.cached_tokens;
    }
    co_return std::move(sink.text);
  }

  boost::asio::awaitable<Result<std::vector<float>>> embed(std::string text) override {
    auto v = co_await models_.embedder().embed(std::move(text));
    co_return v;
  }

 private:
  int take_slot(const std::string& project) {
    std::lock_guard lk(mu_);
    auto& used = slots_[project];
    int s = 0;
    while (used.count(s)) ++s;
    used.insert(s);
    return s;
  }
  void give_slot(const std::string& project, int s) {
    std::lock_guard lk(mu_);
    slots_[project].erase(s);
  }

  std::mutex mu_;
  std::map<std::string, std::set<int>> slots_;  // guarded by mu_: working directories in use, per project
  model::Registry& models_;
  std::shared_ptr<tools::sandbox::Sandbox> sandbox_;
  memory::Memory* memory_;
};

}  // namespace

std::shared_ptr<Judge> make_model_judge(model::Registry& models, std::shared_ptr<tools::sandbox::Sandbox> sandbox, memory::Memory* memory) {
  return std::make_shared<ModelJudge>(models, std::move(sandbox), memory);
}

}  // namespace cn::evals
