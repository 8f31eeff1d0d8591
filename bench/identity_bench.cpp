// continuum-identity-bench: what authentication and authorization cost a request, measured in
// one process: the same request through api::authorize (bearer key -> principal, scope, acting
// user, rate limiter) and through a route that does no auth (the baseline), interleaved; and
// the p50 of verifying an end user's JWT (RS256, ES256, EdDSA) with its JWKS cached.
#include <CLI/CLI.hpp>
#include <boost/asio.hpp>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "api/api.hpp"
#include "base/log.hpp"
#include "identity/jwt.hpp"
#include "identity/oidc.hpp"

using namespace cn;
namespace net = boost::asio;
using Clock_ = std::chrono::steady_clock;

namespace {

struct Signer {
  std::string alg, kid;
  EVP_PKEY* key = nullptr;
  std::string jwk;
};

std::string b64(const std::string& s) { return identity::base64url_encode(s); }

std::string bn_bytes(EVP_PKEY* k, const char* name) {
  BIGNUM* bn = nullptr;
  EVP_PKEY_get_bn_param(k, name, &bn);
  std::string out(static_cast<size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
  BN_free(bn);
  return out;
}

Signer make_signer(const std::string& alg) {
  Signer s{alg, "bench-" + alg};
  if (alg == "RS256") {
    s.key = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048));
    s.jwk = R"({"kty":"RSA","kid":")" + s.kid + R"(","n":")" + b64(bn_bytes(s.key, OSSL_PKEY_PARAM_RSA_N)) +
            R"(","e":")" + b64(bn_bytes(s.key, OSSL_PKEY_PARAM_RSA_E)) + R"("})";
  } else if (alg == "ES256") {
    s.key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
    unsigned char pt[65];
    size_t len = 0;
    EVP_PKEY_get_octet_string_param(s.key, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof pt, &len);
    std::string x(reinterpret_cast<char*>(pt) + 1, 32), y(reinterpret_cast<char*>(pt) + 33, 32);
    s.jwk = R"({"kty":"EC","crv":"P-256","kid":")" + s.kid + R"(","x":")" + b64(x) + R"(","y":")" + b64(y) + R"("})";
  } else {
    s.key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
    unsigned char raw[32];
    size_t len = sizeof raw;
    EVP_PKEY_get_raw_public_key(s.key, raw, &len);
    s.jwk = R"({"kty":"OKP","crv":"Ed25519","kid":")" + s.kid + R"(","x":")" + b64(std::string(reinterpret_cast<char*>(raw), 32)) + R"("})";
  }
  return s;
}

std::string sign_jwt(const Signer& s, const std::string& claims) {
  std::string input = b64(R"({"alg":")" + s.alg + R"(","kid":")" + s.kid + R"("})") + "." + b64(claims);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestSignInit(ctx, nullptr, s.alg == "EdDSA" ? nullptr : EVP_sha256(), nullptr, s.key);
  size_t len = 0;
  EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()), input.size());
  std::string sig(len, '\0');
  EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len, reinterpret_cast<const unsigned char*>(input.data()), input.size());
  sig.resize(len);
  EVP_MD_CTX_free(ctx);
  if (s.alg == "ES256") {  // DER -> r || s
    const unsigned char* p = reinterpret_cast<const unsigned char*>(sig.data());
    ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
    std::string raw(64, '\0');
    BN_bn2binpad(ECDSA_SIG_get0_r(es), reinterpret_cast<unsigned char*>(raw.data()), 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(es), reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
    ECDSA_SIG_free(es);
    sig = raw;
  }
  return input + "." + b64(sig);
}

double pct(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(p * static_cast<double>(v.size() - 1))];
}

// Times `n` awaits of `f` (one sample each), on one thread.
std::vector<double> time_us(net::io_context& io, int n, std::function<net::awaitable<void>()> f) {
  std::vector<double> out;
  out.reserve(static_cast<size_t>(n));
  net::co_spawn(io, [&]() -> net::awaitable<void> {
    for (int i = 0; i < n; ++i) {
      auto t0 = Clock_::now();
      co_await f();
      out.push_back(std::chrono::duration<double, std::micro>(Clock_::now() - t0).count());
    }
  }, net::detached);
  io.restart();
  io.run();
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"continuum-identity-bench"};
  int n = 20000, rounds = 5;
  std::string out_dir;
  cli.add_option("-n", n, "requests per round and variant");
  cli.add_option("--rounds", rounds, "interleaved rounds");
  cli.add_option("--out", out_dir, "write identity.md here");
  CLI11_PARSE(cli, argc, argv);
  spdlog::set_level(spdlog::level::warn);

  auto dir = std::filesystem::temp_directory_path() / ("cn-identity-bench-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto migrations = identity::Keys::migrations();
  for (auto& m : identity::Audit::migrations()) migrations.push_back(m);
  auto store = store::Executor::start({(dir / "db").string()}, migrations);
  if (!store.ok()) return 1;
  identity::Keys keys(**store, std::string(32, 'k'));
  identity::NewKey nk;
  nk.scopes = identity::kAllScopes;
  nk.act_as_user = true;
  auto key = keys.create_blocking(nk);
  std::vector<Signer> signers{make_signer("RS256"), make_signer("ES256"), make_signer("EdDSA")};
  std::string jwks = R"({"keys":[)" + signers[0].jwk + "," + signers[1].jwk + "," + signers[2].jwk + "]}";
  std::ofstream(dir / "jwks.json") << jwks;
  identity::OidcOptions oo;
  oo.issuer = "https://idp.bench/";
  oo.audience = "bench";
  oo.jwks = (dir / "jwks.json").string();
  auto oidc = std::make_shared<identity::OidcVerifier>(oo, nullptr);
  if (!oidc->start().ok()) return 1;
  identity::Audit audit(**store);
  identity::Authenticator auth(keys, oidc, &audit);
  identity::RateLimiter limiter({100'000'000, 100'000'000, 0});
  auth.set_limiter(&limiter);

  http::Request with_key;
  with_key.method = "POST";
  with_key.path = "/v1/responses";
  with_key.headers = {{"authorization", "Bearer " + key->plaintext}, {"content-type", "application/json"},
                      {"x-continuum-user", "ada"}};
  http::Request no_auth = with_key;
  int64_t exp = std::time(nullptr) + 3600;
  std::string claims = R"({"iss":"https://idp.bench/","aud":"bench","sub":"ada","exp":)" + std::to_string(exp) + "}";
  // Per algorithm: one token sent again and again (verified once, then remembered), and
  // distinct tokens (each verified: the signature check's cost).
  int fresh = std::max(1, n / 20);
  std::vector<http::Request> jwt_reqs;
  std::vector<std::vector<http::Request>> fresh_reqs(3);
  for (size_t i = 0; i < signers.size(); ++i) {
    http::Request r = with_key;
    r.headers = {{"authorization", "Bearer " + sign_jwt(signers[i], claims)}, {"content-type", "application/json"}};
    jwt_reqs.push_back(r);
    for (int j = 0; j < fresh * rounds; ++j) {
      std::string c = R"({"iss":"https://idp.bench/","aud":"bench","sub":"ada","jti":")" + std::to_string(j) +
                      R"(","exp":)" + std::to_string(exp) + "}";
      r.headers[0].second = "Bearer " + sign_jwt(signers[i], c);
      fresh_reqs[i].push_back(r);
    }
  }

  net::io_context io;
  // Baseline: the same request object reaching a route that checks nothing.
  auto baseline = [&]() -> net::awaitable<void> {
    auto user = api::acting_user(no_auth);
    if (!user.ok()) throw std::runtime_error("baseline");
    co_return;
  };
  auto authorized = [&]() -> net::awaitable<void> {
    with_key.answer_headers.clear();
    auto p = co_await api::authorize(with_key, auth, identity::kResponses);
    if (!p.ok()) throw std::runtime_error(p.status().message());
  };
  std::vector<double> base, authd;
  std::vector<std::vector<double>> jwt(3), verify(3);
  for (int r = 0; r < rounds; ++r) {
    auto b = time_us(io, n, baseline);
    auto a = time_us(io, n, authorized);
    base.insert(base.end(), b.begin(), b.end());
    authd.insert(authd.end(), a.begin(), a.end());
    for (size_t i = 0; i < 3; ++i) {
      auto j = time_us(io, n / 10, [&, i]() -> net::awaitable<void> {
        auto p = co_await api::authorize(jwt_reqs[i], auth, identity::kResponses);
        if (!p.ok()) throw std::runtime_error(p.status().message());
      });
      jwt[i].insert(jwt[i].end(), j.begin(), j.end());
      size_t next = static_cast<size_t>(r * fresh);
      auto v = time_us(io, fresh, [&, i]() -> net::awaitable<void> {
        auto p = co_await api::authorize(fresh_reqs[i][next++], auth, identity::kResponses);
        if (!p.ok()) throw std::runtime_error(p.status().message());
      });
      verify[i].insert(verify[i].end(), v.begin(), v.end());
    }
  }
  std::ostringstream md;
  md << "# Identity: what authentication costs a request\n\n"
     << "`continuum-identity-bench -n " << n << " --rounds " << rounds << "` (one thread, interleaved rounds; "
     << "microseconds per request).\n\n"
     << "| path | p50 µs | p99 µs |\n|---|---|---|\n"
     << "| no auth (baseline: the route reads the acting user) | " << pct(base, 0.5) << " | " << pct(base, 0.99) << " |\n"
     << "| API key: authorize (keyed hash, principal, scope, acting user, rate limiter) | " << pct(authd, 0.5) << " | "
     << pct(authd, 0.99) << " |\n";
  for (size_t i = 0; i < 3; ++i)
    md << "| OIDC token " << signers[i].alg << ", sent again (verified once, remembered) | " << pct(jwt[i], 0.5) << " | "
       << pct(jwt[i], 0.99) << " |\n";
  for (size_t i = 0; i < 3; ++i)
    md << "| OIDC token " << signers[i].alg << ", new each time (JWT verification, JWKS cached) | " << pct(verify[i], 0.5)
       << " | " << pct(verify[i], 0.99) << " |\n";
  md << "\nAdded by key auth at p50: " << (pct(authd, 0.5) - pct(base, 0.5)) << " µs (target: under 20 µs).\n";
  std::cout << md.str();
  if (!out_dir.empty()) std::ofstream(std::filesystem::path(out_dir) / "identity.md") << md.str();
  (*store)->stop();
  std::filesystem::remove_all(dir);
  return 0;
}
