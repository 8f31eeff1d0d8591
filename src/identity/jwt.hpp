// JWT (RFC 7519) decoding and JWS signature verification against JSON Web Keys (RFC 7517).
//
// Accepted algorithms: RS256 (RSA keys of 2048 bits or more), ES256 (P-256) and EdDSA
// (Ed25519). Everything else is refused, "none" and the HMAC family included: a token cannot
// choose a symmetric algorithm and have a public key used as its secret. A key's type must match
// the token's algorithm, and a key that names an algorithm or a use other than "sig" is not used.
// Built on OpenSSL's EVP interface; no state, safe from any thread.
#pragma once

#include <boost/json/object.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.hpp"

namespace cn::identity {

// A public key from a JWKS.
class Jwk {
 public:
  std::string kid, kty, alg;  // alg may be empty (any algorithm its type allows)
  // Whether a token signed with `token_alg` may be verified with this key.
  bool accepts(std::string_view token_alg) const;
  bool verify(std::string_view token_alg, std::string_view data, std::string_view signature) const;

  struct Impl;
  std::shared_ptr<Impl> impl;  // the OpenSSL key
};

// Parses a JWKS document ({"keys": [...]}). Keys of unsupported types are skipped; a document
// with no usable key is an error.
Result<std::vector<Jwk>> parse_jwks(std::string_view json);

// A JWT split and decoded, not yet verified.
struct DecodedJwt {
  std::string alg, kid;
  boost::json::object claims;
  std::string signing_input;  // header.payload, as sent
  std::string signature;      // raw bytes
};

// Splits and decodes a compact JWS; checks structure only. Errors are unauthenticated with a
// message that says what is wrong (and never contains the token).
Result<DecodedJwt> decode_jwt(std::string_view token);

// base64url without padding (RFC 7515 §2), both directions.
Result<std::string> base64url_decode(std::string_view in);
std::string base64url_encode(std::string_view in);

}  // namespace cn::identity
