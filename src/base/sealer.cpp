// Sealer (see sealer.hpp): XChaCha20-Poly1305 with the project bound as associated data.
#include "base/sealer.hpp"

#include <sodium.h>

#include <atomic>
#include <cstring>

namespace cn {

namespace {

constexpr unsigned char kVersion = 1;
std::atomic<const Sealer*> g_sealer{nullptr};

std::string header(std::string_view project) {
  std::string h;
  h += static_cast<char>(kVersion);
  h += static_cast<char>(project.size());
  h += project;
  return h;
}

}  // namespace

Sealer::Sealer(std::string key) : key_(std::move(key)) {
  if (sodium_init() < 0 || key_.size() != crypto_aead_xchacha20poly1305_ietf_KEYBYTES) key_.assign(32, '\0');
}

void Sealer::install(const Sealer* s) { g_sealer.store(s); }
const Sealer* Sealer::installed() { return g_sealer.load(); }

std::string Sealer::seal(std::string_view project, std::string_view plaintext) const {
  std::string h = header(project.substr(0, 255));
  unsigned char nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
  randombytes_buf(nonce, sizeof nonce);
  std::string raw = h;
  raw.append(reinterpret_cast<const char*>(nonce), sizeof nonce);
  size_t at = raw.size();
  raw.resize(at + plaintext.size() + crypto_aead_xchacha20poly1305_ietf_ABYTES);
  unsigned long long len = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(reinterpret_cast<unsigned char*>(raw.data() + at), &len,
                                             reinterpret_cast<const unsigned char*>(plaintext.data()), plaintext.size(),
                                             reinterpret_cast<const unsigned char*>(h.data()), h.size(), nullptr, nonce,
                                             reinterpret_cast<const unsigned char*>(key_.data()));
  raw.resize(at + len);
  std::string out(sodium_base64_ENCODED_LEN(raw.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(raw.data()), raw.size(),
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  out.resize(std::strlen(out.c_str()));
  return out;
}

Result<Sealer::Opened> Sealer::open(std::string_view sealed) const {
  Status bad(Code::invalid_argument, "The encrypted_content is not one this server sealed (or it was altered).");
  std::string raw(sealed.size(), '\0');
  size_t len = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(raw.data()), raw.size(), sealed.data(), sealed.size(), nullptr, &len,
                        nullptr, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
    return bad;
  raw.resize(len);
  if (raw.size() < 2 || static_cast<unsigned char>(raw[0]) != kVersion) return bad;
  size_t plen = static_cast<unsigned char>(raw[1]);
  size_t hlen = 2 + plen;
  constexpr size_t nlen = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
  if (raw.size() < hlen + nlen + crypto_aead_xchacha20poly1305_ietf_ABYTES) return bad;
  Opened out;
  out.project = raw.substr(2, plen);
  const auto* nonce = reinterpret_cast<const unsigned char*>(raw.data() + hlen);
  const auto* c = reinterpret_cast<const unsigned char*>(raw.data() + hlen + nlen);
  size_t clen = raw.size() - hlen - nlen;
  out.plaintext.resize(clen);
  unsigned long long mlen = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(reinterpret_cast<unsigned char*>(out.plaintext.data()), &mlen, nullptr, c, clen,
                                                 reinterpret_cast<const unsigned char*>(raw.data()), hlen, nonce,
                                                 reinterpret_cast<const unsigned char*>(key_.data())) != 0)
    return bad;
  out.plaintext.resize(mlen);
  return out;
}

}  // namespace cn
