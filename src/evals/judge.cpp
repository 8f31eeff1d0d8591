// The model behind evals: a Judge over the model registry, for judges (a strict JSON schema) and
// for sampling answers (no schema), and the registry's embedder for cosine similarity.
#include "evals/judge.hpp"

#include "base/ids.hpp"
#include "http/client.hpp"
#include "wire/items.hpp"

namespace cn::evals {

namespace {

class ModelJudge final : public Judge {
 public:
  explicit ModelJudge(model::Registry& models) : models_(models) {}

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
  model::Registry& models_;
};

}  // namespace

std::shared_ptr<Judge> make_model_judge(model::Registry& models) { return std::make_shared<ModelJudge>(models); }

}  // namespace cn::evals
