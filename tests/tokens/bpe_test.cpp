// The BPE tokenizer against tiktoken's own encodings of the same strings (the reference ids were
// produced by the npm package `tiktoken` 1.0.22), and the counter's model mapping and framing.
#include <gtest/gtest.h>

#include "tokens/counter.hpp"

namespace cn::tokens {
namespace {

const std::string kDir = CONTINUUM_TEST_ENCODINGS_DIR;

struct Case {
  std::string text;
  std::vector<uint32_t> o200k, cl100k;
};

const std::vector<Case>& cases() {
  static const std::vector<Case> c = {
      {"hello world", {24912, 2375}, {15339, 1917}},
      {"It's 2026: na\xC3\xAFve caf\xC3\xA9, \xE6\x9D\xB1\xE4\xBA\xAC!  \n\n  x",
       {15834, 220, 1323, 21, 25, 153475, 737, 30469, 11, 185244, 0, 11691, 220, 1215},
       {2181, 596, 220, 2366, 21, 25, 95980, 588, 53050, 11, 61696, 109, 47653, 0, 19124, 220, 865}},
      {"    indented\n\tcode();", {271, 1383, 23537, 198, 86873, 4177}, {262, 1280, 16243, 198, 44443, 2178}},
      {std::string(50, 'a'), {117525, 117525, 117525, 117525, 117525, 117525, 3545}, {70540, 70540, 70540, 70540, 70540, 70540, 5418}},
  };
  return c;
}

TEST(TokensTest, EncodesAsTiktokenDoes) {
  Counter counter(kDir);
  const Encoding* o = counter.encoding("o200k_base");
  const Encoding* c = counter.encoding("cl100k_base");
  ASSERT_NE(o, nullptr) << "run scripts/setup.sh: no encoder files in " << kDir;
  ASSERT_NE(c, nullptr);
  for (const auto& k : cases()) {
    EXPECT_EQ(o->encode(k.text), k.o200k) << k.text;
    EXPECT_EQ(c->encode(k.text), k.cl100k) << k.text;
    EXPECT_EQ(o->decode(o->encode(k.text)), k.text);
    EXPECT_EQ(o->count(k.text), k.o200k.size());
  }
}

std::string repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

TEST(TokensTest, LongPiecesMergeAsTiktokenDoes) {
  // Pieces longer than the scan's limit go through the heap; the result must be the same.
  Counter counter(kDir);
  const Encoding* o = counter.encoding("o200k_base");
  ASSERT_NE(o, nullptr);
  const std::vector<std::pair<std::string, std::vector<uint32_t>>> long_cases = {
      {std::string(300, 'x'), {92984,92984,92984,92984,92984,92984,92984,92984,92984,92984,92984,92984,92984,92984,92984,92984,92984,92984,92984,92984,92984,92984,92984,92984,92984,92984,92984,92984,92984,92984,92984,92984,92984,92984,92984,92984,92984,30950}},
      {repeat("abcdefghij", 50), {130783,681,130783,681,130783,681,130783,681,130783,681,130783,681,130783,681,130783,681,130783,681,130783,681,130783,681,130783,681,130783,681,130783,681,130783,681,130783,681,130783,681,130783,681,130783,681,130783,681,130783,681,130783,681,130783,681,130783,681,130783,681,130783,681,130783,681,130783,681,130783,681,130783,681,130783,681,130783,681,130783,681,130783,681,130783,681,130783,681,130783,681,130783,681,130783,681,130783,681,130783,681,130783,681,130783,681,130783,681,130783,681,130783,681,130783,681,130783,681,130783,681,130783,681}},
      {repeat("Pneumonoultramicroscopicsilicovolcanoconiosis", 7), {47,611,394,263,9826,371,26169,2199,47750,1541,112176,47186,6929,29452,156038,47,611,394,263,9826,371,26169,2199,47750,1541,112176,47186,6929,29452,156038,47,611,394,263,9826,371,26169,2199,47750,1541,112176,47186,6929,29452,156038,47,611,394,263,9826,371,26169,2199,47750,1541,112176,47186,6929,29452,156038,47,611,394,263,9826,371,26169,2199,47750,1541,112176,47186,6929,29452,156038,47,611,394,263,9826,371,26169,2199,47750,1541,112176,47186,6929,29452,156038,47,611,394,263,9826,371,26169,2199,47750,1541,112176,47186,6929,29452,156038}},
      {repeat("=-", 200), {167412,167412,167412,167412,167412,167412,167412,167412,167412,167412,167412,167412,167412,167412,167412,167412,167412,167412,167412,167412,167412,167412,167412,167412,167412}}};
  for (const auto& [text, ids] : long_cases) EXPECT_EQ(o->encode(text), ids) << text.substr(0, 20);
  // One long word costs O(n log n): 2 MB of one letter is counted, not stuck.
  EXPECT_GT(o->count(std::string(2'000'000, 'x')), 0u);
}

TEST(TokensTest, TextThatIsNotUtf8IsStillEncodedFromItsBytes) {
  Counter counter(kDir);
  const Encoding* o = counter.encoding("o200k_base");
  ASSERT_NE(o, nullptr);
  std::string bad = "abc \xFF\xFE def";
  auto ids = o->encode(bad);
  EXPECT_FALSE(ids.empty());
  EXPECT_EQ(o->decode(ids), bad);
}

TEST(TokensTest, ModelsMapToTheirEncodings) {
  Counter counter(kDir, {{"my-llama*", "cl100k_base"}});
  EXPECT_EQ(counter.encoding_name("gpt-4o-mini"), "o200k_base");
  EXPECT_EQ(counter.encoding_name("gpt-5"), "o200k_base");
  EXPECT_EQ(counter.encoding_name("openai/o3-mini"), "o200k_base");
  EXPECT_EQ(counter.encoding_name("gpt-4-turbo"), "cl100k_base");
  EXPECT_EQ(counter.encoding_name("gpt-3.5-turbo"), "cl100k_base");
  EXPECT_EQ(counter.encoding_name("my-llama-3"), "cl100k_base");
  EXPECT_EQ(counter.encoding_name("continuum-local"), "");
  EXPECT_EQ(counter.meter("continuum-local").method(), "estimate");
  EXPECT_EQ(counter.meter("gpt-4o").method(), "o200k_base");
  EXPECT_EQ(Counter("").meter("gpt-4o").method(), "estimate");
  EXPECT_EQ(Counter("/nonexistent").meter("gpt-4o").method(), "estimate");
}

TEST(TokensTest, AMessageCostsItsTextAndItsFraming) {
  Counter counter(kDir);
  auto m = counter.meter("gpt-4o");
  Item it;
  it.role = "user";
  it.content.push_back({"input_text", "hello world"});
  EXPECT_EQ(m.item(it), 3 + 1 + 2);  // framing, "user", "hello world"
  EXPECT_EQ(m.item(it), 6);           // cached
  Item copy = it;
  copy.content[0].text = "hello";
  EXPECT_EQ(m.item(copy), 3 + 1 + 1);  // a copy starts uncounted
  Item call;
  call.type = ItemType::function_call;
  call.name = "get_weather";
  call.arguments = R"({"city":"Paris"})";
  EXPECT_EQ(m.item(call), 3 + static_cast<int64_t>(m.text("get_weather") + m.text(call.arguments)));
  EXPECT_EQ(m.tools(R"([{"name":"f"}])"), m.text(R"([{"name":"f"}])"));
  EXPECT_EQ(m.tools(R"([{"name":"f"}])"), m.text(R"([{"name":"f"}])"));  // remembered
}

}  // namespace
}  // namespace cn::tokens
