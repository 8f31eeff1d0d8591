// Sealed values open only under the key and for the project they were sealed with; owned ids
// name their owner.
#include <gtest/gtest.h>

#include "base/ids.hpp"
#include "base/sealer.hpp"

namespace cn {
namespace {

TEST(SealerTest, OpensWhatItSealedAndNothingElse) {
  Sealer s(std::string(32, 'k'));
  std::string sealed = s.seal("proj_a", "the summary");
  auto opened = s.open(sealed);
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(opened->plaintext, "the summary");
  EXPECT_EQ(opened->project, "proj_a");
  EXPECT_EQ(sealed.find("summary"), std::string::npos);
  EXPECT_NE(s.seal("proj_a", "the summary"), sealed);  // a fresh nonce each time

  Sealer other(std::string(32, 'x'));
  EXPECT_FALSE(other.open(sealed).ok());
  for (size_t i = 0; i + 1 < sealed.size(); i += 7) {  // any altered character (header, nonce, text, tag)
    std::string bad = sealed;
    bad[i] = bad[i] == 'A' ? 'B' : 'A';
    EXPECT_FALSE(s.open(bad).ok()) << i;
  }
  EXPECT_FALSE(s.open("").ok());
  EXPECT_FALSE(s.open("not base64 !").ok());
  EXPECT_FALSE(s.open(sealed.substr(0, 20)).ok());
}

TEST(SealerTest, OwnedIdsNameTheirOwner) {
  std::string resp = new_id("resp");
  std::string id = owned_id("msg", resp, 7);
  EXPECT_EQ(id.substr(0, 4), "msg_");
  EXPECT_EQ(owner_of(id, "resp"), resp);
  EXPECT_NE(owned_id("msg", resp, 8), id);
  EXPECT_EQ(owner_of(new_id("msg"), "resp"), "");  // a random id has no owner
  EXPECT_EQ(owner_of("msg_short", "resp"), "");
  EXPECT_TRUE(valid_id_syntax(owned_id("fc", resp, 1u << 20)));
}

}  // namespace
}  // namespace cn
