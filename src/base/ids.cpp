// Identifiers (time-ordered, CSPRNG-random), SHA-256 and constant-time comparison.
#include "base/ids.hpp"

#include <sodium.h>

#include <chrono>
#include <cstdint>
#include <stdexcept>

namespace cn {

namespace {
constexpr char kAlphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

// libsodium (CSPRNG, SHA-256, constant-time compare): unlike OpenSSL 3, it costs nothing to
// initialize, which keeps a cold start short. sodium_init() is thread-safe and idempotent.
void sodium() {
  static const bool ok = sodium_init() >= 0;
  if (!ok) throw std::runtime_error("libsodium failed to initialize");
}

void random_bytes(unsigned char* buf, size_t n) {
  sodium();
  randombytes_buf(buf, n);
}
}

std::string random_token(size_t n) {
  std::string out(n, '0');
  unsigned char buf[64];
  size_t i = 0;
  while (i < n) {
    random_bytes(buf, sizeof buf);
    for (unsigned char b : buf) {
      if (b >= 248) continue;  // 248 = 62 * 4: rejection keeps the distribution uniform
      out[i++] = kAlphabet[b % 62];
      if (i == n) break;
    }
  }
  return out;
}

std::string id_lower_bound(std::string_view prefix, int64_t ms) {
  uint64_t v = ms < 0 ? 0 : static_cast<uint64_t>(ms);
  char t[8];
  for (int i = 7; i >= 0; --i) {
    t[i] = kAlphabet[v % 62];
    v /= 62;
  }
  std::string id(prefix);
  id += '_';
  id.append(t, 8);
  return id;
}

std::string owned_id(std::string_view prefix, std::string_view owner, size_t index) {
  std::string id(prefix);
  id += '_';
  auto us = owner.find('_');
  id += owner.substr(us == std::string_view::npos ? 0 : us + 1);
  do {
    id += kAlphabet[index % 62];
    index /= 62;
  } while (index);
  return id;
}

std::string owner_of(std::string_view id, std::string_view owner_prefix) {
  auto us = id.find('_');
  if (us == std::string_view::npos || id.size() <= us + 1 + 32) return {};
  std::string owner(owner_prefix);
  owner += '_';
  owner += id.substr(us + 1, 32);
  return owner;
}

std::string new_id(std::string_view prefix) {
  // 8 base62 characters of milliseconds since the epoch (good until the year 8900), then 24
  // random ones (~143 bits). Ids of one kind sort by creation time, so B-tree inserts land on
  // the right edge of the index: a turn dirties few pages, and grouped turns share them.
  using namespace std::chrono;
  int64_t ms = duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  return id_lower_bound(prefix, ms) + random_token(24);
}

bool valid_id_syntax(std::string_view id, size_t max_len) {
  if (id.empty() || id.size() > max_len) return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string sha256_hex(std::string_view data) {
  sodium();
  unsigned char md[crypto_hash_sha256_BYTES];
  unsigned len = crypto_hash_sha256_BYTES;
  crypto_hash_sha256(md, reinterpret_cast<const unsigned char*>(data.data()), data.size());
  static const char* hex = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned i = 0; i < len; ++i) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  return out;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  sodium();
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace cn
