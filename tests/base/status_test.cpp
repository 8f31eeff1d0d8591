#include <gtest/gtest.h>

#include "base/ids.hpp"
#include "base/status.hpp"

namespace cn {

TEST(Status, OkAndError) {
  Status ok;
  EXPECT_TRUE(ok.ok());
  Status bad = invalid_param("model", "Missing model", "missing_required_parameter");
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.code(), Code::invalid_argument);
  EXPECT_EQ(bad.param(), "model");
  EXPECT_EQ(bad.api_code(), "missing_required_parameter");
}

TEST(Result, HoldsValueOrStatus) {
  Result<int> a = 5;
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, 5);
  Result<int> b = Status(Code::not_found, "nope");
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), Code::not_found);
}

TEST(Ids, PrefixedUniqueAndUrlSafe) {
  auto a = new_id("resp");
  auto b = new_id("resp");
  EXPECT_NE(a, b);
  EXPECT_EQ(a.rfind("resp_", 0), 0u);
  EXPECT_EQ(a.size(), 5u + 32u);
  EXPECT_TRUE(valid_id_syntax(a));
  EXPECT_FALSE(valid_id_syntax("resp x"));
  EXPECT_FALSE(valid_id_syntax(""));
  EXPECT_FALSE(valid_id_syntax(std::string(200, 'a')));
}

TEST(Ids, Sha256KnownVector) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace cn
