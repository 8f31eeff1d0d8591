// The evals' graders: text metrics against hand-computed values, templates, the checks of a
// criteria list, and model graders' answers parsed from JSON only (a scripted Judge).
#include <gtest/gtest.h>

#include <boost/asio.hpp>

#include "evals/graders.hpp"
#include "evals/formula.hpp"
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

TEST(Formula, EvaluatesAndChecks) {
  std::map<std::string, double> v{{"a", 0.5}, {"b", 2}};
  EXPECT_DOUBLE_EQ(*evaluate("a * b + 1", v), 2.0);
  EXPECT_DOUBLE_EQ(*evaluate("-(a + b) / 2", v), -1.25);
  EXPECT_DOUBLE_EQ(*evaluate("min(a, b, 0.1) + max(a, b)", v), 2.1);
  EXPECT_DOUBLE_EQ(*evaluate("abs(-3) + floor(2.7) + ceil(0.2)", v), 6.0);
  EXPECT_FALSE(evaluate("a / (b - 2)", v).ok());
  EXPECT_FALSE(evaluate("a +", v).ok());
  EXPECT_FALSE(evaluate("c", v).ok());
  EXPECT_FALSE(evaluate("pow(a)", v).ok());
  EXPECT_FALSE(evaluate(std::string(100, '(') + "a" + std::string(100, ')'), v).ok());  // too deep
  EXPECT_TRUE(check_formula("a / (b - 2)", v, "p").ok());  // a division by zero is found when grading
  EXPECT_EQ(check_formula("a + c", v, "testing_criteria[0].calculate_output").param(), "testing_criteria[0].calculate_output");
}

TEST(Graders, MultiAndTrajectory) {
  ScriptedJudge j;
  const char* ns = R"({"item": {"city": "Paris"}, "sample": {"output_text": "Paris",
    "tool_calls": [{"name": "search", "arguments": "{\"q\": \"weather\"}"}, {"name": "get_weather", "arguments": {"city": "Paris", "unit": "C"}}],
    "handoffs": ["billing"]}})";
  auto multi = run_grade(R"({"type": "multi", "name": "m", "calculate_output": "0.25 * exact + 0.75 * sim", "pass_threshold": 0.9,
    "graders": {"exact": {"type": "string_check", "name": "exact", "input": "{{sample.output_text}}", "reference": "Paris", "operation": "eq"},
                "sim": {"type": "text_similarity", "name": "sim", "input": "{{sample.output_text}}", "reference": "Pari", "evaluation_metric": "fuzzy_match", "pass_threshold": 0}}})",
                         ns, j);
  EXPECT_TRUE(multi.error.empty()) << multi.error;
  EXPECT_NEAR(multi.score, 0.25 + 0.75 * (8.0 / 9.0), 1e-12);
  EXPECT_TRUE(multi.passed);
  auto in_order = run_grade(R"({"type": "trajectory", "name": "t", "expected_tool_calls": [{"name": "search"}, {"name": "get_weather", "arguments": {"city": "{{item.city}}"}}],
                               "forbidden_tools": ["charge"], "max_calls": 2, "required_handoffs": ["billing"]})", ns, j);
  EXPECT_TRUE(in_order.passed) << json::serialize(in_order.sample);
  EXPECT_DOUBLE_EQ(in_order.score, 1.0);
  auto reversed = run_grade(R"({"type": "trajectory", "name": "t", "expected_tool_calls": [{"name": "get_weather"}, {"name": "search"}]})", ns, j);
  EXPECT_FALSE(reversed.passed);
  EXPECT_DOUBLE_EQ(reversed.score, 0.5);
  auto any = run_grade(R"({"type": "trajectory", "name": "t", "order": "any_order", "expected_tool_calls": [{"name": "get_weather"}, {"name": "search"}]})", ns, j);
  EXPECT_TRUE(any.passed);
  auto wrong_arg = run_grade(R"({"type": "trajectory", "name": "t", "expected_tool_calls": [{"name": "get_weather", "arguments": {"city": "Rome"}}]})", ns, j);
  EXPECT_FALSE(wrong_arg.passed);
  auto too_many = run_grade(R"({"type": "trajectory", "name": "t", "max_calls": 1, "forbidden_tools": ["search"], "forbidden_handoffs": ["billing"]})", ns, j);
  EXPECT_FALSE(too_many.passed);
  EXPECT_EQ(too_many.sample.as_object().at("violations").as_array().size(), 3u);
  auto exact = run_grade(R"({"type": "trajectory", "name": "t", "order": "exact", "expected_tool_calls": [{"name": "get_weather"}]})", ns, j);
  EXPECT_FALSE(exact.passed);
  // Checks name the field.
  EXPECT_EQ(check_criteria(json::parse(R"([{"type": "trajectory", "name": "t", "order": "sideways"}])")).param(), "testing_criteria[0].order");
  EXPECT_EQ(check_criteria(json::parse(R"([{"type": "python", "name": "p", "source": "def grade(s, i): return 1"}])")).param(), "testing_criteria[0].type");
  EXPECT_TRUE(check_criteria(json::parse(R"([{"type": "python", "name": "p", "source": "def grade(s, i): return 1"}])"), true).ok());
  EXPECT_EQ(check_criteria(json::parse(R"([{"type": "multi", "name": "m", "calculate_output": "x + 1", "graders": {"a": {"type": "string_check", "name": "a", "input": "x", "reference": "y", "operation": "eq"}}}])")).param(),
            "testing_criteria[0].calculate_output");
}

}  // namespace
}  // namespace cn::evals
