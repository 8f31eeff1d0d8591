// The stored form of a turn (see turn_codec.hpp): length-prefixed body and items, zstd-compressed.
#include "runtime/turn_codec.hpp"

#include <zstd.h>

#include <cstring>
#include <memory>

namespace cn::runtime {

namespace {

constexpr char kZstd = 'z', kRaw = 'r', kZstdDict1 = 'd';
constexpr size_t kMinCompress = 64;  // below this, compression rarely pays for its header
constexpr int kLevel = 1;             // fastest; turn JSON compresses ~3x at this level anyway

void put_u32(std::string& out, size_t v) {
  uint32_t x = static_cast<uint32_t>(v);
  char b[4] = {static_cast<char>(x), static_cast<char>(x >> 8), static_cast<char>(x >> 16), static_cast<char>(x >> 24)};
  out.append(b, 4);
}

bool get_u32(std::string_view& in, size_t& v) {
  if (in.size() < 4) return false;
  auto* p = reinterpret_cast<const unsigned char*>(in.data());
  v = static_cast<size_t>(p[0]) | static_cast<size_t>(p[1]) << 8 | static_cast<size_t>(p[2]) << 16 |
      static_cast<size_t>(p[3]) << 24;
  in.remove_prefix(4);
  return true;
}

// Dictionary 1: what every stored turn looks like (a Response body with its default fields, and
// message, function-call and reasoning items). A turn's JSON is mostly this structure; primed
// with it, zstd stores little more than the ids and the text (~5x smaller than without, which
// keeps a turn's row small and its B-tree leaf splitting rarely). Frozen: turns stored with it
// name it by their codec byte ('d'); a different dictionary needs a new codec byte.
constexpr std::string_view kDict1 =
    R"({"id":"msg_0000000000000000000000000000000","type":"message","status":"completed","role":"user","content":[{"type":"input_text","text":""}]})"
    R"({"id":"fc_00000000000000000000000000000000","type":"function_call","status":"completed","call_id":"call_","name":"","arguments":"{}"})"
    R"({"type":"function_call_output","call_id":"call_","output":""})"
    R"({"id":"rs_00000000000000000000000000000000","type":"reasoning","summary":[],"content":[{"type":"reasoning_text","text":""}]})"
    R"({"id":"resp_00000000000000000000000000000000","object":"response","created_at":1700000000,"status":"completed","background":false,"completed_at":1700000000,"conversation":null,"error":null,"incomplete_details":null,"instructions":null,"model":"","output":[],"previous_response_id":null,"tools":[],"tool_choice":"auto","parallel_tool_calls":true,"temperature":1E0,"top_p":1E0,"max_output_tokens":null,"max_tool_calls":null,"top_logprobs":0,"metadata":{},"truncation":"disabled","text":{"format":{"type":"text"},"verbosity":"medium"},"reasoning":{"effort":null,"summary":null},"user":null,"safety_identifier":null,"prompt_cache_key":null,"prompt_cache_retention":null,"service_tier":"default","store":true,"usage":{"input_tokens":0,"input_tokens_details":{"cached_tokens":0,"cache_write_tokens":0},"output_tokens":0,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":0}})"
    R"({"id":"msg_0000000000000000000000000000000","type":"message","status":"completed","role":"assistant","content":[{"type":"output_text","text":"","annotations":[],"logprobs":[]}]})";

struct CDictFree {
  void operator()(ZSTD_CDict* d) const { ZSTD_freeCDict(d); }
};
struct DDictFree {
  void operator()(ZSTD_DDict* d) const { ZSTD_freeDDict(d); }
};
const ZSTD_CDict* cdict1() {
  static std::unique_ptr<ZSTD_CDict, CDictFree> d(ZSTD_createCDict(kDict1.data(), kDict1.size(), kLevel));
  return d.get();
}
const ZSTD_DDict* ddict1() {
  static std::unique_ptr<ZSTD_DDict, DDictFree> d(ZSTD_createDDict(kDict1.data(), kDict1.size()));
  return d.get();
}

struct CCtxFree {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct DCtxFree {
  void operator()(ZSTD_DCtx* c) const { ZSTD_freeDCtx(c); }
};

std::string seal(const std::string& plain) {
  std::string out;
  if (plain.size() >= kMinCompress) {
    thread_local std::unique_ptr<ZSTD_CCtx, CCtxFree> cctx(ZSTD_createCCtx());
    out.resize(1 + ZSTD_compressBound(plain.size()));
    out[0] = kZstdDict1;
    size_t n = ZSTD_compress_usingCDict(cctx.get(), out.data() + 1, out.size() - 1, plain.data(), plain.size(), cdict1());
    if (!ZSTD_isError(n) && n + 1 < plain.size()) {
      out.resize(n + 1);
      return out;
    }
  }
  out.clear();
  out.reserve(plain.size() + 1);
  out.push_back(kRaw);
  out += plain;
  return out;
}

Status corrupt() { return Status(Code::internal, "a stored turn is corrupt"); }


// The plain layout (see turn_codec.hpp), sealed.
std::string encode(std::string_view body, const std::vector<std::string_view>& wires) {
  std::string plain;
  size_t n = 8 + body.size();
  for (auto w : wires) n += 4 + w.size();
  plain.reserve(n);
  put_u32(plain, body.size());
  plain += body;
  put_u32(plain, wires.size());
  for (auto w : wires) {
    put_u32(plain, w.size());
    plain += w;
  }
  return seal(plain);
}

}  // namespace

std::string encode_turn(std::string_view body, const std::vector<std::string>& item_wires) {
  return encode(body, std::vector<std::string_view>(item_wires.begin(), item_wires.end()));
}

std::string encode_turn(std::string_view body, const std::vector<ItemPtr>& inputs, const std::vector<ItemPtr>& outputs) {
  std::vector<std::string_view> wires;
  wires.reserve(inputs.size() + outputs.size());
  for (const auto& i : inputs) wires.push_back(i->wire);
  for (const auto& i : outputs) wires.push_back(i->wire);
  return encode(body, wires);
}

Result<DecodedTurn> decode_turn(std::string_view data, bool with_items) {
  if (data.empty()) return corrupt();
  std::string plain;
  std::string_view in;
  if (data[0] == kRaw) {
    in = data.substr(1);
  } else if (data[0] == kZstd || data[0] == kZstdDict1) {
    unsigned long long size = ZSTD_getFrameContentSize(data.data() + 1, data.size() - 1);
    if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN || size > (64u << 20)) return corrupt();
    plain.resize(size);
    thread_local std::unique_ptr<ZSTD_DCtx, DCtxFree> dctx(ZSTD_createDCtx());
    size_t n = data[0] == kZstd
        ? ZSTD_decompressDCtx(dctx.get(), plain.data(), plain.size(), data.data() + 1, data.size() - 1)
        : ZSTD_decompress_usingDDict(dctx.get(), plain.data(), plain.size(), data.data() + 1, data.size() - 1, ddict1());
    if (ZSTD_isError(n) || n != size) return corrupt();
    in = plain;
  } else {
    return corrupt();
  }
  DecodedTurn out;
  size_t len;
  if (!get_u32(in, len) || len > in.size()) return corrupt();
  out.body.assign(in.substr(0, len));
  in.remove_prefix(len);
  if (!with_items) return out;
  size_t count;
  if (!get_u32(in, count) || count > in.size()) return corrupt();
  out.item_wires.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    if (!get_u32(in, len) || len > in.size()) return corrupt();
    out.item_wires.emplace_back(in.substr(0, len));
    in.remove_prefix(len);
  }
  return out;
}

}  // namespace cn::runtime
