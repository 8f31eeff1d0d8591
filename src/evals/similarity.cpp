// The text similarity metrics (see similarity.hpp).
#include "evals/similarity.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>

namespace cn::evals {

namespace {

// UTF-8 text as code points (invalid bytes count as one each).
std::vector<uint32_t> code_points(std::string_view s) {
  std::vector<uint32_t> out;
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
    if (i + static_cast<size_t>(len) > s.size()) len = 1;
    uint32_t cp = len == 1 ? c : c & (0x7F >> len);
    for (int k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + static_cast<size_t>(k)]) & 0x3F);
    out.push_back(cp);
    i += static_cast<size_t>(len);
  }
  return out;
}

// The length of the longest common subsequence of a and b.
template <typename T>
size_t lcs(const std::vector<T>& a, const std::vector<T>& b) {
  if (a.empty() || b.empty()) return 0;
  std::vector<size_t> prev(b.size() + 1, 0), cur(b.size() + 1, 0);
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = a[i - 1] == b[j - 1] ? prev[j - 1] + 1 : std::max(prev[j], cur[j - 1]);
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::map<std::vector<std::string>, int> ngrams(const std::vector<std::string>& t, size_t n) {
  std::map<std::vector<std::string>, int> out;
  for (size_t i = 0; i + n <= t.size(); ++i) ++out[std::vector<std::string>(t.begin() + static_cast<std::ptrdiff_t>(i), t.begin() + static_cast<std::ptrdiff_t>(i + n))];
  return out;
}

// Clipped n-gram matches of `cand` against `ref`, and cand's n-gram count.
std::pair<int, int> overlap(const std::vector<std::string>& cand, const std::vector<std::string>& ref, size_t n) {
  auto c = ngrams(cand, n), r = ngrams(ref, n);
  int matches = 0, total = 0;
  for (const auto& [g, k] : c) {
    total += k;
    if (auto it = r.find(g); it != r.end()) matches += std::min(k, it->second);
  }
  return {matches, total};
}

double f1(double precision, double recall) {
  return precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall);
}

}  // namespace

std::vector<std::string> tokenize(std::string_view text) {
  std::vector<std::string> out;
  std::string cur;
  auto flush = [&] {
    if (!cur.empty()) out.push_back(std::move(cur));
    cur.clear();
  };
  for (char ch : text) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (std::isspace(c)) {
      flush();
    } else if (c < 0x80 && std::ispunct(c)) {
      flush();
      out.emplace_back(1, ch);
    } else {
      cur += c < 0x80 ? static_cast<char>(std::tolower(c)) : ch;
    }
  }
  flush();
  return out;
}

double fuzzy_match(std::string_view a, std::string_view b) {
  auto x = code_points(a), y = code_points(b);
  if (x.empty() && y.empty()) return 1.0;
  // Indel distance = |x| + |y| - 2 * LCS.
  double common = static_cast<double>(lcs(x, y));
  return 2 * common / static_cast<double>(x.size() + y.size());
}

double bleu(std::string_view candidate, std::string_view reference) {
  auto c = tokenize(candidate), r = tokenize(reference);
  if (c.empty() || r.empty()) return c.empty() && r.empty() ? 1.0 : 0.0;
  double log_sum = 0;
  for (size_t n = 1; n <= 4; ++n) {
    auto [m, t] = overlap(c, r, n);
    double p;
    if (t == 0) p = 1.0 / (1.0 + 1.0);  // a candidate shorter than n: smoothed
    else if (m == 0) p = (n == 1) ? 0.0 : 1.0 / (static_cast<double>(t) + 1.0);
    else p = static_cast<double>(m) / t;
    if (p == 0) return 0.0;
    log_sum += std::log(p) / 4.0;
  }
  double bp = c.size() >= r.size() ? 1.0 : std::exp(1.0 - static_cast<double>(r.size()) / static_cast<double>(c.size()));
  return bp * std::exp(log_sum);
}

double rouge_n(std::string_view candidate, std::string_view reference, int n) {
  auto c = tokenize(candidate), r = tokenize(reference);
  size_t k = static_cast<size_t>(std::max(1, n));
  auto [m, t] = overlap(c, r, k);
  int ref_total = r.size() >= k ? static_cast<int>(r.size() - k + 1) : 0;
  if (t == 0 || ref_total == 0) return 0.0;
  return f1(static_cast<double>(m) / t, static_cast<double>(m) / ref_total);
}

double rouge_l(std::string_view candidate, std::string_view reference) {
  auto c = tokenize(candidate), r = tokenize(reference);
  if (c.empty() || r.empty()) return 0.0;
  double common = static_cast<double>(lcs(c, r));
  return f1(common / static_cast<double>(c.size()), common / static_cast<double>(r.size()));
}

double cosine(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size() || a.empty()) return 0.0;
  double dot = 0, na = 0, nb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    dot += static_cast<double>(a[i]) * b[i];
    na += static_cast<double>(a[i]) * a[i];
    nb += static_cast<double>(b[i]) * b[i];
  }
  if (na == 0 || nb == 0) return 0.0;
  return std::clamp(dot / (std::sqrt(na) * std::sqrt(nb)), -1.0, 1.0);
}

}  // namespace cn::evals
