// Graders: an eval's testing criteria, checked when the eval is created and applied to each item
// of a run. Kinds (OpenAI's Evals shapes):
// - string_check {input, reference, operation: eq | ne | like | ilike}: 1 or 0;
// - text_similarity {input, reference, evaluation_metric, pass_threshold}: fuzzy_match, bleu,
//   rouge_1..5, rouge_l (similarity.hpp) or cosine (through the embedding model);
// - label_model {input: messages, model, labels, passing_labels} and score_model {input, model,
//   range?, pass_threshold?, sampling_params?}: a judge model asked for a JSON object
//   ({"label": one of labels} / {"score": number}) under a strict JSON schema; the result is
//   parsed from that JSON, never from free text, and an answer outside the schema is an error;
// - python {source, pass_threshold?}: `grade(sample, item)` of the source, run in the code
//   sandbox (tools/sandbox) with its limits; passes at pass_threshold (default 0.5);
// - multi {graders: {name: grader}, calculate_output, pass_threshold?}: the formula
//   (formula.hpp) over the sub-graders' scores; passes at pass_threshold (default 0.5);
// - trajectory (a Continuum extension, trajectory.hpp): a sample's tool calls and handoffs;
// - memory (a Continuum extension) {user, agent?, must_contain, must_not_contain}: what a user's
//   long-term memory holds now — each must_contain phrase in some active record, no
//   must_not_contain phrase in any (case-insensitive); the score is the share of assertions met.
// Strings of a grader are templates: {{item.path}} and {{sample.path}} (sample.output_text, the
// sampled answer) are replaced by the item's and the sample's values.
// Thread-safety: Judge implementations are called from any coroutine; the functions here are
// pure apart from the judge they are given.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/json.hpp>

#include <string>
#include <vector>

#include "base/status.hpp"
#include "domain/item.hpp"

namespace cn::evals {

namespace json = boost::json;

// What a grader needs beyond the item: a model to ask and an embedding model.
class Judge {
 public:
  virtual ~Judge() = default;
  // A model's answer to `messages` ({role, content} objects) under the JSON schema `schema`
  // (a strict json_schema response format), with `sampling` ({temperature, top_p, seed,
  // max_completions_tokens}: any may be absent). The text, and the tokens it cost in `usage`.
  virtual boost::asio::awaitable<Result<std::string>> ask(std::string model, json::array messages, json::object schema,
                                                          json::object sampling, Usage* usage) = 0;
  virtual boost::asio::awaitable<Result<std::vector<float>>> embed(std::string text) = 0;
  // Python graders: whether they can run here (the code sandbox), and the score `grade(sample,
  // item)` of `source` returns, run in the sandbox with its limits for `project`.
  // Memory assertions: the texts of the active long-term memory records of `user` in `project`
  // (of `agent` too, when set).
  virtual boost::asio::awaitable<Result<std::vector<std::string>>> memories(std::string project, std::string user, std::string agent) {
    (void)project, (void)user, (void)agent;
    co_return Status(Code::unavailable, "This server has no long-term memory.");
  }
  virtual bool python_available() const { return false; }
  virtual boost::asio::awaitable<Result<double>> run_python(std::string project, std::string source, json::value sample,
                                                            json::value item) {
    (void)project, (void)source, (void)sample, (void)item;
    co_return Status(Code::unavailable, "Python graders need the code sandbox, which this server does not have.");
  }
};

// One criterion's verdict on one item.
struct Verdict {
  std::string name, type;
  double score = 0;
  bool passed = false;
  std::string error;        // set: the grader could not grade (the item is errored)
  json::value sample;       // the judge's exchange, for model graders (null otherwise)
  Usage usage;              // model graders: the judge's tokens
  std::string model;        // model graders: the judge
};

// Checks `criteria` (testing_criteria): each entry's type and fields, and its templates' references
// (item.* or sample.*). 400 naming the field ("testing_criteria[i].operation", ...). `python`:
// whether python graders can run here.
Status check_criteria(const json::value& criteria, bool python = false);

// Replaces {{item.x.y}} and {{sample.x}} in `text` with the values at those paths in `ns` (an
// object with "item" and "sample"); strings are inserted as they are, other values as JSON, and
// missing paths as "".
std::string render(std::string_view text, const json::object& ns);
// Checks the references of a template: 400 naming `param` for one outside item.* and sample.*,
// or a malformed one.
Status check_template(std::string_view text, const std::string& param);

// Applies one criterion to an item and its sample, for `project` (python graders' sandbox).
boost::asio::awaitable<Verdict> grade(const json::object& criterion, const json::object& ns, Judge& judge, std::string project = {});

}  // namespace cn::evals
