// The evals' graders: text metrics against hand-computed values, templates, the checks of a
// criteria list, and model graders' answers parsed from JSON only (a scripted Judge).
#include <gtest/gtest.h>

#include <boost/asio.hpp>

#include "evals/graders.hpp"
#include "evals/similarity.hpp"

namespace cn::evals {
namespace {

namespace net = boost::asio;

// A judge that answers what the test scripts and records what it was asked.
class ScriptedJudge final : public Judge {
 public:
  std::string answer;
  json::array asked;
  json::object schema;
  net::awaitable<Result<std::string>> ask(std::string, json::array messages, json::object s, json::object, Usage* usage) override {
    asked = std::move(messages);
    schema = std::move(s);
    if (usage) usage->input_tokens += 5;
    co_return answer;
  }
  net::awaitable<Result<std::vector<float>>> embed(std::string text) override {
    co_return std::vector<float>{text.find("cat") != std::string::npos ? 1.f : 0.f, 1.f};
  }
};

Verdict run_grade(const std::string& grader, const std::string& ns, Judge& judge) {
  net::io_context io;
  Verdict out;
  net::co_spawn(io, [&]() -> net::awaitable<void> {
    auto g = json::parse(grader).as_object();
    auto n = json::parse(ns).as_object();
    out = co_await grade(g, n, judge);
  }, net::detached);
  io.run();
  return out;
}

TEST(Similarity, KnownValues) {
  EXPECT_DOUBLE_EQ(fuzzy_match("kitten", "kitten"), 1.0);
  // LCS("kitten", "sitting") = 4 ("ittn"): 2 * 4 / 13.
  EXPECT_NEAR(fuzzy_match("kitten", "sitting"), 8.0 / 13.0, 1e-12);
  EXPECT_DOUBLE_EQ(fuzzy_match("", ""), 1.0);
  EXPECT_NEAR(fuzzy_match("héllo", "hello"), 8.0 / 10.0, 1e-12);  // code points, not bytes
  EXPECT_NEAR(bleu("the cat sat on the mat", "the cat sat on the mat"), 1.0, 1e-12);
  EXPECT_EQ(bleu("dog", "the cat sat on the mat"), 0.0);
  EXPECT_GT(bleu("the cat sat on a mat", "the cat sat on the mat"), 0.3);
  EXPECT_LT(bleu("the cat sat on a mat", "the cat sat on the mat"), 1.0);
  // ROUGE-1: 5 of 6 unigrams shared each way.
  EXPECT_NEAR(rouge_n("the cat sat on a mat", "the cat sat on the mat", 1), 5.0 / 6.0, 1e-12);
  // ROUGE-2: bigrams "the cat", "cat sat", "sat on" shared: 3 of 5.
  EXPECT_NEAR(rouge_n("the cat sat on a mat", "the cat sat on the mat", 2), 3.0 / 5.0, 1e-12);
  EXPECT_NEAR(rouge_l("a b c d", "a c d e"), 0.75, 1e-12);
  EXPECT_NEAR(cosine({1, 0}, {1, 1}), 1.0 / std::sqrt(2.0), 1e-6);
  EXPECT_EQ(tokenize("Hello, World!"), (std::vector<std::string>{"hello", ",", "world", "!"}));
}

TEST(Templates, RenderAndCheck) {
  auto ns = json::parse(R"({"item": {"q": "2+2?", "n": 4, "tags": ["a", "b"]}, "sample": {"output_text": "four"}})").as_object();
  EXPECT_EQ(render("Q: {{item.q}} A: {{ sample.output_text }} n={{item.n}} t={{item.tags[1]}} x={{item.none}}", ns),
            "Q: 2+2? A: four n=4 t=b x=");
  EXPECT_TRUE(check_template("{{item.q}} {{sample.output_text}}", "p").ok());
  Status bad = check_template("{{items.q}}", "testing_criteria[0].input");
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.param(), "testing_criteria[0].input");
}

TEST(Criteria, ChecksNameTheField) {
  auto check = [](const char* text) { return check_criteria(json::parse(text)); };
  EXPECT_TRUE(check(R"([{"type": "string_check", "name": "a", "input": "{{sample.output_text}}", "reference": "{{item.x}}", "operation": "eq"}])").ok());
  EXPECT_EQ(check(R"([{"type": "string_check", "name": "a", "input": "x", "reference": "y", "operation": "contains"}])").param(),
            "testing_criteria[0].operation");
  EXPECT_EQ(check(R"([{"type": "nope", "name": "a"}])").param(), "testing_criteria[0].type");
  EXPECT_EQ(check(R"([{"type": "text_similarity", "name": "a", "input": "x", "reference": "y", "evaluation_metric": "bleu"}])").param(),
            "testing_criteria[0].pass_threshold");
  EXPECT_EQ(check(R"([{"type": "string_check", "name": "a", "input": "{{foo.bar}}", "reference": "y", "operation": "eq"}])").param(),
            "testing_criteria[0].input");
  EXPECT_EQ(check(R"([{"type": "label_model", "name": "l", "model": "m", "input": [{"role": "user", "content": "x"}], "labels": ["a"], "passing_labels": ["b"]}])").param(),
            "testing_criteria[0].passing_labels");
  EXPECT_EQ(check(R"([{"type": "string_check", "name": "a", "input": "x", "reference": "y", "operation": "eq"},
                       {"type": "string_check", "name": "a", "input": "x", "reference": "y", "operation": "ne"}])").param(),
            "testing_criteria[1].name");
  EXPECT_EQ(check("[]").param(), "testing_criteria");
}

TEST(Graders, LocalOnes) {
  ScriptedJudge j;
  const char* ns = R"({"item": {"expected": "Paris"}, "sample": {"output_text": "paris is the capital"}})";
  auto eq = run_grade(R"({"type": "string_check", "name": "eq", "input": "{{sample.output_text}}", "reference": "{{item.expected}}", "operation": "eq"})", ns, j);
  EXPECT_FALSE(eq.passed);
  auto il = run_grade(R"({"type": "string_check", "name": "il", "input": "{{sample.output_text}}", "reference": "{{item.expected}}", "operation": "ilike"})", ns, j);
  EXPECT_TRUE(il.passed);
  EXPECT_EQ(il.score, 1);
  auto lk = run_grade(R"({"type": "string_check", "name": "lk", "input": "{{sample.output_text}}", "reference": "{{item.expected}}", "operation": "like"})", ns, j);
  EXPECT_FALSE(lk.passed);  // case matters for like
  auto sim = run_grade(R"({"type": "text_similarity", "name": "s", "input": "{{sample.output_text}}", "reference": "paris is the capital", "evaluation_metric": "rouge_l", "pass_threshold": 0.9})", ns, j);
  EXPECT_TRUE(sim.passed);
  EXPECT_DOUBLE_EQ(sim.score, 1.0);
  auto cos = run_grade(R"({"type": "text_similarity", "name": "c", "input": "a cat", "reference": "a dog", "evaluation_metric": "cosine", "pass_threshold": 0.9})", ns, j);
  EXPECT_NEAR(cos.score, 1.0 / std::sqrt(2.0), 1e-6);
  EXPECT_FALSE(cos.passed);
}

TEST(Graders, ModelGradersParseJsonOnly) {
  ScriptedJudge j;
  const char* ns = R"({"item": {"q": "capital of France?"}, "sample": {"output_text": "Paris"}})";
  const char* label = R"({"type": "label_model", "name": "l", "model": "judge", "labels": ["right", "wrong"], "passing_labels": ["right"],
                          "input": [{"role": "system", "content": "Grade."}, {"role": "user", "content": "Q: {{item.q}} A: {{sample.output_text}}"}]})";
  j.answer = R"({"label": "right"})";
  auto v = run_grade(label, ns, j);
  EXPECT_TRUE(v.passed) << v.error;
  EXPECT_EQ(json::serialize(j.asked[1].as_object().at("content")), "\"Q: capital of France? A: Paris\"");
  EXPECT_EQ(j.schema.at("properties").as_object().at("label").as_object().at("enum").as_array().size(), 2u);
  EXPECT_EQ(v.usage.input_tokens, 5);
  j.answer = "right";  // free text is not an answer
  v = run_grade(label, ns, j);
  EXPECT_FALSE(v.error.empty());
  j.answer = R"({"label": "maybe"})";
  v = run_grade(label, ns, j);
  EXPECT_FALSE(v.error.empty());

  const char* score = R"({"type": "score_model", "name": "s", "model": "judge", "range": [0, 10], "pass_threshold": 7,
                          "input": [{"role": "user", "content": "{{sample.output_text}}"}]})";
  j.answer = R"({"score": 8.5})";
  v = run_grade(score, ns, j);
  EXPECT_TRUE(v.passed);
  EXPECT_DOUBLE_EQ(v.score, 8.5);
  j.answer = R"({"score": 6})";
  EXPECT_FALSE(run_grade(score, ns, j).passed);
  j.answer = R"({"score": 11})";
  EXPECT_FALSE(run_grade(score, ns, j).error.empty());
  j.answer = "The score is 9";
  EXPECT_FALSE(run_grade(score, ns, j).error.empty());
}

}  // namespace
}  // namespace cn::evals
