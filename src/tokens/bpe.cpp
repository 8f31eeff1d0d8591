// Encoding (see bpe.hpp): loading a tiktoken rank table, the pre-tokenizer split, and the merge.
#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokens/bpe.hpp"

#include <boost/json.hpp>
#include <pcre2.h>
#include <sodium.h>

#include <algorithm>
#include <queue>
#include <fstream>
#include <limits>
#include <sstream>

namespace cn::tokens {

namespace json = boost::json;

namespace {

constexpr uint32_t kNoRank = std::numeric_limits<uint32_t>::max();
constexpr size_t kLongPiece = 128;  // pieces longer than this are merged with a heap

// One JIT stack and match block per thread, for every encoding (the pattern's lookahead over a
// long run of spaces needs more than PCRE2's default 32 KB JIT stack).
struct Matcher {
  pcre2_jit_stack* stack = nullptr;
  pcre2_match_context* ctx = nullptr;
  pcre2_match_data* data = nullptr;
  Matcher() {
    stack = pcre2_jit_stack_create(32 * 1024, 4 * 1024 * 1024, nullptr);
    ctx = pcre2_match_context_create(nullptr);
    pcre2_jit_stack_assign(ctx, nullptr, stack);
    data = pcre2_match_data_create(1, nullptr);
  }
  ~Matcher() {
    pcre2_match_data_free(data);
    pcre2_match_context_free(ctx);
    pcre2_jit_stack_free(stack);
  }
};

Matcher& matcher() {
  thread_local Matcher m;
  return m;
}

}  // namespace

Encoding::~Encoding() {
  if (code_) pcre2_code_free(static_cast<pcre2_code*>(code_));
}

Result<std::shared_ptr<const Encoding>> Encoding::load(const std::string& path, std::string name) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return Status(Code::not_found, "no encoder file at " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  boost::system::error_code ec;
  json::value v = json::parse(ss.str(), ec);
  if (ec || !v.is_object()) return Status(Code::invalid_argument, path + " is not a tiktoken encoder file (not JSON)");
  const auto& o = v.as_object();
  auto* pat = o.if_contains("pat_str");
  auto* ranks = o.if_contains("bpe_ranks");
  if (!pat || !pat->is_string() || !ranks || !ranks->is_string())
    return Status(Code::invalid_argument, path + " is not a tiktoken encoder file (pat_str, bpe_ranks)");

  std::shared_ptr<Encoding> e(new Encoding());
  e->name_ = std::move(name);
  int err = 0;
  PCRE2_SIZE off = 0;
  const auto& ps = pat->as_string();
  auto* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(ps.data()), ps.size(), PCRE2_UTF | PCRE2_UCP, &err, &off, nullptr);
  if (!code) return Status(Code::invalid_argument, path + ": its pattern does not compile at offset " + std::to_string(off));
  e->code_ = code;
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // without JIT (unsupported CPU) pcre2_match interprets

  // First pass: every (rank, token) of the file, decoded.
  std::string_view text = ranks->as_string();
  std::vector<std::pair<uint32_t, std::string>> all;
  all.reserve(text.size() / 10);
  std::string bytes;
  uint32_t max_rank = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    // "<key> <first rank> <token> <token> ..."
    size_t a = line.find(' ');
    if (a == std::string_view::npos) continue;
    size_t b = line.find(' ', a + 1);
    std::string_view first = line.substr(a + 1, b == std::string_view::npos ? std::string_view::npos : b - a - 1);
    uint32_t rank = 0;
    for (char c : first) {
      if (c < '0' || c > '9' || rank > 100'000'000) return Status(Code::invalid_argument, path + ": a malformed rank line");
      rank = rank * 10 + static_cast<uint32_t>(c - '0');
    }
    while (b != std::string_view::npos) {
      size_t c = line.find(' ', b + 1);
      std::string_view tok = line.substr(b + 1, c == std::string_view::npos ? std::string_view::npos : c - b - 1);
      b = c;
      if (tok.empty()) continue;
      bytes.assign(tok.size(), '\0');
      size_t len = 0;
      if (sodium_base642bin(reinterpret_cast<unsigned char*>(bytes.data()), bytes.size(), tok.data(), tok.size(),
                            nullptr, &len, nullptr, sodium_base64_VARIANT_ORIGINAL) != 0 || len == 0)
        return Status(Code::invalid_argument, path + ": a token is not base64");
      bytes.resize(len);
      max_rank = std::max(max_rank, rank);
      all.emplace_back(rank, bytes);
      ++rank;
    }
  }
  if (all.size() < 256) return Status(Code::invalid_argument, path + ": fewer than 256 ranks");
  // Second: the buffer in rank order, then the hash.
  std::sort(all.begin(), all.end());
  e->offset_.assign(static_cast<size_t>(max_rank) + 2, 0);
  size_t total = 0;
  for (const auto& [r, t] : all) total += t.size();
  e->bytes_.reserve(total);
  size_t next = 0;
  for (uint32_t r = 0; r <= max_rank; ++r) {
    e->offset_[r] = static_cast<uint32_t>(e->bytes_.size());
    if (next < all.size() && all[next].first == r) e->bytes_ += all[next++].second;
    while (next < all.size() && all[next].first == r) ++next;  // a rank given twice keeps its first token
  }
  e->offset_[static_cast<size_t>(max_rank) + 1] = static_cast<uint32_t>(e->bytes_.size());
  size_t cap = 1;
  while (cap < all.size() * 2) cap <<= 1;
  e->slots_.assign(cap, 0);
  for (uint32_t r = 0; r <= max_rank; ++r) {
    std::string_view t = e->token(r);
    if (t.empty() || e->rank(t) != kNoRank) continue;  // a token given twice keeps its lowest rank
    size_t i = std::hash<std::string_view>()(t) & (cap - 1);
    while (e->slots_[i]) i = (i + 1) & (cap - 1);
    e->slots_[i] = r + 1;
    ++e->count_;
  }
  return std::shared_ptr<const Encoding>(std::move(e));
}

uint32_t Encoding::rank(std::string_view bytes) const {
  if (slots_.empty()) return kNoRank;
  size_t mask = slots_.size() - 1;
  for (size_t i = std::hash<std::string_view>()(bytes) & mask;; i = (i + 1) & mask) {
    uint32_t s = slots_[i];
    if (!s) return kNoRank;
    if (token(s - 1) == bytes) return s - 1;
  }
}

template <class Emit>
void Encoding::merge_long(std::string_view piece, Emit&& emit) const {
  // The same merges as below, in O(n log n): a heap of candidate pairs (rank, then position,
  // so that ties go to the leftmost pair as in the scan), entries checked against the current
  // tokens when they come up. next[i] is where the token starting at i ends.
  const uint32_t n = static_cast<uint32_t>(piece.size());
  std::vector<uint32_t> next(n), prev(n);
  std::vector<char> alive(n, 1);
  for (uint32_t i = 0; i < n; ++i) {
    next[i] = i + 1;
    prev[i] = i ? i - 1 : n;
  }
  struct Cand {
    uint32_t rank, at, second, end;
    bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : at > o.at; }
  };
  std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>> heap;
  auto consider = [&](uint32_t i) {
    uint32_t j = next[i];
    if (j >= n) return;
    uint32_t r = rank(piece.substr(i, next[j] - i));
    if (r != kNoRank) heap.push({r, i, j, next[j]});
  };
  for (uint32_t i = 0; i + 1 < n; ++i) consider(i);
  while (!heap.empty()) {
    Cand c = heap.top();
    heap.pop();
    if (!alive[c.at] || next[c.at] != c.second || !alive[c.second] || next[c.second] != c.end) continue;  // stale
    alive[c.second] = 0;
    next[c.at] = c.end;
    if (c.end < n) prev[c.end] = c.at;
    if (prev[c.at] < n) consider(prev[c.at]);
    consider(c.at);
  }
  for (uint32_t i = 0; i < n; i = next[i])
    if (uint32_t r = rank(piece.substr(i, next[i] - i)); r != kNoRank) emit(r);
}

template <class Emit>
void Encoding::encode_piece(std::string_view piece, Emit&& emit) const {
  if (uint32_t r = rank(piece); r != kNoRank) {
    emit(r);
    return;
  }
  // A long piece (a run of letters or symbols with no break) would make the scan below
  // quadratic: a client could stall a thread with one long word.
  if (piece.size() > kLongPiece) {
    merge_long(piece, emit);
    return;
  }
  auto rank_of = [&](size_t from, size_t to) { return rank(piece.substr(from, to - from)); };
  // parts[i]: where the i-th current token starts, and the rank of it merged with the next one.
  struct Part {
    size_t start;
    uint32_t rank;
  };
  std::vector<Part> parts;
  parts.reserve(piece.size() + 1);
  for (size_t i = 0; i + 1 < piece.size(); ++i) parts.push_back({i, rank_of(i, i + 2)});
  parts.push_back({piece.size() - 1, kNoRank});
  parts.push_back({piece.size(), kNoRank});
  // The rank of the token parts[i] would make with parts[i + 1] after a merge at i.
  auto pair_rank = [&](size_t i) { return i + 3 < parts.size() ? rank_of(parts[i].start, parts[i + 3].start) : kNoRank; };
  for (;;) {
    uint32_t best = kNoRank;
    size_t at = 0;
    for (size_t i = 0; i + 1 < parts.size(); ++i)
      if (parts[i].rank < best) {
        best = parts[i].rank;
        at = i;
      }
    if (best == kNoRank) break;
    if (at > 0) parts[at - 1].rank = pair_rank(at - 1);
    parts[at].rank = pair_rank(at);
    parts.erase(parts.begin() + static_cast<std::ptrdiff_t>(at) + 1);
  }
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    uint32_t r = rank_of(parts[i].start, parts[i + 1].start);
    // Every single byte has a rank in these tables; a table without one cannot encode it.
    if (r != kNoRank) emit(r);
  }
}

template <class Emit>
void Encoding::encode_text(std::string_view text, Emit&& emit) const {
  auto* code = static_cast<const pcre2_code*>(code_);
  auto& m = matcher();
  auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t at = 0;
  uint32_t options = 0;
  while (at < text.size()) {
    int rc = pcre2_match(code, subject, text.size(), at, options, m.data, m.ctx);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      // Not UTF-8 (or out of match resources): the rest is merged from its bytes, in bounded
      // pieces so that the quadratic merge stays cheap.
      for (size_t i = at; i < text.size(); i += 64) encode_piece(text.substr(i, 64), emit);
      return;
    }
    options = PCRE2_NO_UTF_CHECK;  // the subject was checked whole on the first call
    PCRE2_SIZE* ov = pcre2_get_ovector_pointer(m.data);
    size_t s = ov[0], e = ov[1];
    if (e == s) {  // an empty match: step over one code point
      ++at;
      while (at < text.size() && (static_cast<unsigned char>(text[at]) & 0xC0) == 0x80) ++at;
      continue;
    }
    encode_piece(text.substr(s, e - s), emit);
    at = e;
  }
}

std::vector<uint32_t> Encoding::encode(std::string_view text) const {
  std::vector<uint32_t> out;
  encode_text(text, [&](uint32_t r) { out.push_back(r); });
  return out;
}

size_t Encoding::count(std::string_view text) const {
  size_t n = 0;
  encode_text(text, [&](uint32_t) { ++n; });
  return n;
}

std::string Encoding::decode(const std::vector<uint32_t>& tokens) const {
  std::string out;
  for (uint32_t t : tokens)
    if (t + 1 < offset_.size()) out += token(t);
  return out;
}

}  // namespace cn::tokens
