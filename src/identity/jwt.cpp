// JWT decoding and signature verification over OpenSSL (RS256, ES256, EdDSA).
#include "identity/jwt.hpp"

#include <boost/json/parse.hpp>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <sodium.h>

#include <cstring>

namespace cn::identity {

namespace json = boost::json;

struct Jwk::Impl {
  EVP_PKEY* key = nullptr;
  ~Impl() { EVP_PKEY_free(key); }
};

namespace {

Status unauth(std::string msg) { return Status(Code::unauthenticated, std::move(msg), "", "invalid_token"); }

std::optional<std::string> get_str(const json::object& o, std::string_view k) {
  auto it = o.find(k);
  if (it == o.end() || !it->value().is_string()) return std::nullopt;
  return std::string(it->value().as_string());
}

EVP_PKEY* from_params(const char* type, OSSL_PARAM_BLD* bld) {
  OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr);
  EVP_PKEY* key = nullptr;
  if (params && ctx && EVP_PKEY_fromdata_init(ctx) == 1) EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params);
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  return key;
}

EVP_PKEY* rsa_key(const std::string& n, const std::string& e) {
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  BIGNUM* bn = BN_bin2bn(reinterpret_cast<const unsigned char*>(n.data()), static_cast<int>(n.size()), nullptr);
  BIGNUM* be = BN_bin2bn(reinterpret_cast<const unsigned char*>(e.data()), static_cast<int>(e.size()), nullptr);
  EVP_PKEY* key = nullptr;
  if (bld && bn && be && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) == 1 &&
      OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) == 1)
    key = from_params("RSA", bld);
  BN_free(bn);
  BN_free(be);
  OSSL_PARAM_BLD_free(bld);
  if (key && EVP_PKEY_get_bits(key) < 2048) {
    EVP_PKEY_free(key);
    return nullptr;
  }
  return key;
}

EVP_PKEY* p256_key(const std::string& x, const std::string& y) {
  if (x.size() != 32 || y.size() != 32) return nullptr;
  std::string point = "\x04" + x + y;
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  EVP_PKEY* key = nullptr;
  if (bld && OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) == 1 &&
      OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) == 1)
    key = from_params("EC", bld);
  OSSL_PARAM_BLD_free(bld);
  return key;
}

// JWS carries an ECDSA signature as r || s; OpenSSL wants DER.
std::optional<std::string> ecdsa_der(std::string_view raw) {
  if (raw.size() != 64) return std::nullopt;
  ECDSA_SIG* sig = ECDSA_SIG_new();
  BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()), 32, nullptr);
  BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()) + 32, 32, nullptr);
  if (!sig || !r || !s || ECDSA_SIG_set0(sig, r, s) != 1) {
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    return std::nullopt;
  }
  unsigned char* der = nullptr;
  int len = i2d_ECDSA_SIG(sig, &der);
  ECDSA_SIG_free(sig);
  if (len <= 0) return std::nullopt;
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return out;
}

}  // namespace

Result<std::string> base64url_decode(std::string_view in) {
  std::string out(in.size() * 3 / 4 + 3, '\0');
  size_t len = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), in.data(), in.size(), nullptr, &len,
                        nullptr, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
    return unauth("Invalid token: malformed base64url.");
  out.resize(len);
  return out;
}

std::string base64url_encode(std::string_view in) {
  std::string out(sodium_base64_ENCODED_LEN(in.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(in.data()), in.size(),
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  out.resize(std::strlen(out.c_str()));
  return out;
}

bool Jwk::accepts(std::string_view a) const {
  if (!alg.empty() && alg != a) return false;
  if (a == "RS256") return kty == "RSA";
  if (a == "ES256") return kty == "EC";
  if (a == "EdDSA") return kty == "OKP";
  return false;
}

bool Jwk::verify(std::string_view a, std::string_view data, std::string_view signature) const {
  if (!impl || !impl->key || !accepts(a)) return false;
  std::string sig(signature);
  if (a == "ES256") {
    auto der = ecdsa_der(signature);
    if (!der) return false;
    sig = std::move(*der);
  }
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (!ctx) return false;
  const EVP_MD* md = a == "EdDSA" ? nullptr : EVP_sha256();
  bool ok = EVP_DigestVerifyInit(ctx, nullptr, md, nullptr, impl->key) == 1 &&
            EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                             reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

Result<std::vector<Jwk>> parse_jwks(std::string_view text) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec || !v.is_object()) return Status(Code::invalid_argument, "JWKS is not a JSON object");
  auto it = v.as_object().find("keys");
  if (it == v.as_object().end() || !it->value().is_array())
    return Status(Code::invalid_argument, "JWKS has no 'keys' array");
  std::vector<Jwk> out;
  for (const auto& kv : it->value().as_array()) {
    if (!kv.is_object()) continue;
    const auto& o = kv.as_object();
    Jwk k;
    k.kid = get_str(o, "kid").value_or("");
    k.kty = get_str(o, "kty").value_or("");
    k.alg = get_str(o, "alg").value_or("");
    if (auto use = get_str(o, "use"); use && *use != "sig") continue;
    EVP_PKEY* key = nullptr;
    auto field = [&](std::string_view name) -> std::optional<std::string> {
      auto s = get_str(o, name);
      if (!s) return std::nullopt;
      auto d = base64url_decode(*s);
      if (!d.ok()) return std::nullopt;
      return *d;
    };
    if (k.kty == "RSA") {
      auto n = field("n"), e = field("e");
      if (n && e) key = rsa_key(*n, *e);
    } else if (k.kty == "EC" && get_str(o, "crv").value_or("") == "P-256") {
      auto x = field("x"), y = field("y");
      if (x && y) key = p256_key(*x, *y);
    } else if (k.kty == "OKP" && get_str(o, "crv").value_or("") == "Ed25519") {
      auto x = field("x");
      if (x && x->size() == 32)
        key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(x->data()), 32);
    }
    if (!key) continue;
    k.impl = std::make_shared<Jwk::Impl>();
    k.impl->key = key;
    out.push_back(std::move(k));
  }
  if (out.empty()) return Status(Code::invalid_argument, "JWKS has no usable RSA (2048+ bits), P-256 or Ed25519 key");
  return out;
}

Result<DecodedJwt> decode_jwt(std::string_view token) {
  if (token.size() > 16 * 1024) return unauth("Invalid token: longer than 16 KiB.");
  size_t d1 = token.find('.');
  size_t d2 = d1 == std::string_view::npos ? d1 : token.find('.', d1 + 1);
  if (d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos)
    return unauth("Invalid token: expected three dot-separated parts.");
  auto header = base64url_decode(token.substr(0, d1));
  auto payload = base64url_decode(token.substr(d1 + 1, d2 - d1 - 1));
  auto sig = base64url_decode(token.substr(d2 + 1));
  if (!header.ok() || !payload.ok() || !sig.ok()) return unauth("Invalid token: malformed base64url.");
  boost::system::error_code ec;
  auto h = json::parse(*header, ec);
  if (ec || !h.is_object()) return unauth("Invalid token: the header is not a JSON object.");
  auto p = json::parse(*payload, ec);
  if (ec || !p.is_object()) return unauth("Invalid token: the payload is not a JSON object.");
  DecodedJwt out;
  auto alg = get_str(h.as_object(), "alg");
  if (!alg) return unauth("Invalid token: the header has no 'alg'.");
  if (*alg != "RS256" && *alg != "ES256" && *alg != "EdDSA")
    return unauth("Invalid token: algorithm '" + alg->substr(0, 16) + "' is not accepted (RS256, ES256 or EdDSA).");
  if (auto crit = h.as_object().find("crit"); crit != h.as_object().end())
    return unauth("Invalid token: critical header parameters are not supported.");
  out.alg = *alg;
  out.kid = get_str(h.as_object(), "kid").value_or("");
  out.claims = std::move(p.as_object());
  out.signing_input = std::string(token.substr(0, d2));
  out.signature = std::move(*sig);
  return out;
}

}  // namespace cn::identity
