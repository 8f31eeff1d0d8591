// Fuzz target: any bytes as a bearer JWT (decoding, header and claim parsing) and as a JWKS
// document (key import), and a signature check of the one against the other.
#include "identity/jwt.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto split = in.find('\n');
  std::string_view token = in.substr(0, split);
  std::string_view jwks = split == std::string_view::npos ? std::string_view() : in.substr(split + 1);
  auto jwt = cn::identity::decode_jwt(token);
  auto keys = cn::identity::parse_jwks(jwks);
  if (jwt.ok() && keys.ok())
    for (const auto& k : *keys) (void)k.verify(jwt->alg, jwt->signing_input, jwt->signature);
  return 0;
}
