// Sealed tokens: data a client carries back to the server but cannot read or forge (the
// `encrypted_content` of compaction items).
//
// A sealed value is base64 of: a version byte (1), the project id's length (one byte) and the
// project id, a 24-byte random nonce, then XChaCha20-Poly1305 (libsodium) of the plaintext with
// the version and project bound as associated data. Opening checks the tag under the server's key
// and returns the plaintext and the project it was sealed for; the caller compares that project
// with the request's, so a value sealed for one project is refused in another.
//
// Threads: immutable after construction; seal/open from any thread. The process has one sealer,
// installed at start-up (install/installed) before any request is served.
#pragma once

#include <string>
#include <string_view>

#include "base/status.hpp"

namespace cn {

class Sealer {
 public:
  // `key`: 32 bytes.
  explicit Sealer(std::string key);
  std::string seal(std::string_view project, std::string_view plaintext) const;
  struct Opened {
    std::string project, plaintext;
  };
  // invalid_argument when `sealed` is malformed, was made under another key, or was altered.
  Result<Opened> open(std::string_view sealed) const;

  // The process's sealer (null until installed). Install once, before serving.
  static void install(const Sealer* s);
  static const Sealer* installed();

 private:
  std::string key_;
};

}  // namespace cn
