// Text similarity metrics of the text_similarity grader, each a score in [0, 1]:
// - fuzzy_match: the normalized indel similarity of the two strings (1 - edits / total length,
//   insertions and deletions only, as RapidFuzz's ratio), over Unicode code points;
// - bleu: sentence BLEU up to 4-grams over whitespace tokens (lower-cased, punctuation split off),
//   with the brevity penalty and add-one smoothing of the higher orders (method 1 of Chen & Cherry);
// - rouge_n (n = 1..5): the F1 of n-gram overlap; rouge_l: the F1 of the longest common
//   subsequence of tokens;
// - cosine: of two embedding vectors.
// Pure functions, safe from any thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace cn::evals {

double fuzzy_match(std::string_view a, std::string_view b);
double bleu(std::string_view candidate, std::string_view reference);
double rouge_n(std::string_view candidate, std::string_view reference, int n);
double rouge_l(std::string_view candidate, std::string_view reference);
double cosine(const std::vector<float>& a, const std::vector<float>& b);

// The tokens the metrics compare: lower-cased words, punctuation as tokens of its own.
std::vector<std::string> tokenize(std::string_view text);

}  // namespace cn::evals
