// The stored form of a turn: round trips (raw and compressed), and corrupt blobs are errors.
#include <gtest/gtest.h>
#include <zstd.h>

#include "runtime/turn_codec.hpp"
#include "wire/items.hpp"

namespace cn::runtime {
namespace {

ItemPtr message(const std::string& id, const std::string& text) {
  return std::make_shared<const Item>(wire::make_output_message(id, text, "completed"));
}

TEST(TurnCodec, RoundTripsBodyAndItemsInOrder) {
  std::string body = R"({"id":"resp_1","object":"response","output":[]})";
  std::vector<ItemPtr> in{message("msg_a", "hello")}, out{message("msg_b", std::string(2000, 'x')), message("msg_c", "")};
  std::string blob = encode_turn(body, in, out);
  EXPECT_EQ(blob[0], 'd');  // large enough to compress, primed with the dictionary
  EXPECT_LT(blob.size(), 1000u);
  auto d = decode_turn(blob);
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(d->body, body);
  ASSERT_EQ(d->item_wires.size(), 3u);
  EXPECT_EQ(d->item_wires[0], in[0]->wire);
  EXPECT_EQ(d->item_wires[1], out[0]->wire);
  EXPECT_EQ(d->item_wires[2], out[1]->wire);
  auto body_only = decode_turn(blob, false);
  ASSERT_TRUE(body_only.ok());
  EXPECT_EQ(body_only->body, body);
  EXPECT_TRUE(body_only->item_wires.empty());
}

TEST(TurnCodec, SmallTurnsAreStoredRaw) {
  std::string blob = encode_turn("{}", std::vector<std::string>{});
  EXPECT_EQ(blob[0], 'r');
  auto d = decode_turn(blob);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->body, "{}");
}

TEST(TurnCodec, DecodesPlainZstdFrames) {
  // Turns written before the dictionary: 'z' + a plain zstd frame of the same layout.
  std::string plain;
  auto u32 = [&](uint32_t v) { for (int i = 0; i < 4; ++i) plain.push_back(static_cast<char>(v >> (8 * i))); };
  std::string body(300, 'b');
  u32(static_cast<uint32_t>(body.size()));
  plain += body;
  u32(1);
  u32(2);
  plain += "{}";
  std::string frame(ZSTD_compressBound(plain.size()), '\0');
  frame.resize(ZSTD_compress(frame.data(), frame.size(), plain.data(), plain.size(), 1));
  auto d = decode_turn("z" + frame);
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(d->body, body);
  ASSERT_EQ(d->item_wires.size(), 1u);
  EXPECT_EQ(d->item_wires[0], "{}");
}

TEST(TurnCodec, CorruptBlobsAreErrors) {
  std::string blob = encode_turn(std::string(600, 'a'), std::vector<std::string>{"{\"id\":\"x\"}"});
  EXPECT_FALSE(decode_turn("").ok());
  EXPECT_FALSE(decode_turn("q123").ok());
  EXPECT_FALSE(decode_turn(blob.substr(0, blob.size() / 2)).ok());
  std::string raw = encode_turn("{}", std::vector<std::string>{"{}"});
  EXPECT_FALSE(decode_turn(raw.substr(0, raw.size() - 1)).ok());
}

}  // namespace
}  // namespace cn::runtime
