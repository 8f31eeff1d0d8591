// The parser of WWW-Authenticate Bearer challenges that MCP authorization discovery starts from.
#include "tools/mcp/authorization.hpp"

#include <gtest/gtest.h>

using cn::tools::mcp::bearer_challenge;

TEST(BearerChallenge, QuotedAndTokenParameters) {
  auto p = bearer_challenge(R"(Bearer error="invalid_token", resource_metadata="https://a.example/.well-known/oauth-protected-resource/mcp", scope=files:read)");
  EXPECT_EQ(p["error"], "invalid_token");
  EXPECT_EQ(p["resource_metadata"], "https://a.example/.well-known/oauth-protected-resource/mcp");
  EXPECT_EQ(p["scope"], "files:read");
}

TEST(BearerChallenge, SchemeIsCaseInsensitiveAndFoundAmongOthers) {
  auto p = bearer_challenge(R"(Basic realm="x", bearer Resource_Metadata="https://b.example/m", scope="a b")");
  EXPECT_EQ(p["resource_metadata"], "https://b.example/m");
  EXPECT_EQ(p["scope"], "a b");
  EXPECT_EQ(p.count("realm"), 0u);
}

TEST(BearerChallenge, EscapesAndOddInput) {
  EXPECT_EQ(bearer_challenge(R"(Bearer scope="a\"b")")["scope"], "a\"b");
  EXPECT_TRUE(bearer_challenge("").empty());
  EXPECT_TRUE(bearer_challenge("Basic realm=x").empty());
  EXPECT_TRUE(bearer_challenge("Bearer").empty());
  EXPECT_TRUE(bearer_challenge("Bearerish x=1").empty());
  auto p = bearer_challenge(R"(Bearer scope="unterminated)");
  EXPECT_EQ(p["scope"], "unterminated");
}
