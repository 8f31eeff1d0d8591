#include <gtest/gtest.h>

#include "http/sse.hpp"

namespace cn::http {

TEST(SseParser, HandlesAnySplitAndLineEndings) {
  std::string stream = "data: {\"a\":1}\n\n: comment\r\nevent: x\r\ndata: two\r\ndata: lines\r\n\r\ndata: [DONE]\r\r";
  for (size_t split = 1; split < stream.size(); ++split) {
    std::vector<std::pair<std::string, std::string>> got;
    SseParser p([&](std::string_view e, std::string_view d) { got.emplace_back(e, d); });
    p.feed(stream.substr(0, split));
    p.feed(stream.substr(split));
    ASSERT_EQ(got.size(), 3u) << "split at " << split;
    EXPECT_EQ(got[0].second, "{\"a\":1}");
    EXPECT_EQ(got[1].first, "x");
    EXPECT_EQ(got[1].second, "two\nlines");
    EXPECT_EQ(got[2].second, "[DONE]");
  }
}

TEST(SseFrame, Format) {
  EXPECT_EQ(sse_frame("response.created", "{}"), "event: response.created\ndata: {}\n\n");
}

}  // namespace cn::http
