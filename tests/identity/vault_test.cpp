// The vault against a real SQLite store: round trips, scope binding (a ciphertext copied into
// another row does not decrypt), master-key rotation by rewrapping, and the audit of reveals.
#include <gtest/gtest.h>

#include <boost/asio.hpp>

#include <filesystem>
#include <fstream>

#include "identity/audit.hpp"
#include "identity/vault.hpp"

namespace cn::identity {
namespace {

namespace net = boost::asio;

class VaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("cn_vault_" + std::to_string(::getpid()) + "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto m = Vault::migrations();
    for (auto& x : Audit::migrations()) m.push_back(x);
    auto s = store::Executor::start({(dir_ / "db").string()}, m);
    ASSERT_TRUE(s.ok()) << s.status().to_string();
    store_ = std::move(*s);
    audit_ = std::make_unique<Audit>(*store_);
  }
  void TearDown() override {
    audit_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  template <typename T>
  T run(std::function<net::awaitable<T>()> f) {
    std::optional<T> out;
    net::co_spawn(io_, [&]() -> net::awaitable<void> { out.emplace(co_await f()); }, net::detached);
    io_.restart();
    io_.run();
    return std::move(*out);
  }
  Result<std::string> reveal(Vault& v, const SecretOwner& owner, const std::string& provider) {
    return run<Result<std::string>>([&]() { return v.reveal("proj_a", owner, provider, "resp_1", "key_1"); });
  }
  void sql(const std::string& s) {
    auto db = store::Database::open((dir_ / "db").string(), store::Database::Mode::read_write);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)->exec(s).ok()) << s;
  }

  net::io_context io_;
  std::filesystem::path dir_;
  std::unique_ptr<store::Executor> store_;
  std::unique_ptr<Audit> audit_;
  const std::string k1_ = std::string(32, 'a'), k2_ = std::string(32, 'b');
};

TEST_F(VaultTest, RoundTripStoresOnlyCiphertextAndAuditsReveals) {
  Vault v(*store_, k1_, {}, audit_.get());
  SecretOwner alice{"user", "alice"};
  auto put = run<Result<SecretInfo>>([&]() { return v.put("proj_a", alice, "github", "api_key", "ghp_SECRET_123", "{}"); });
  ASSERT_TRUE(put.ok()) << put.status().to_string();
  auto value = reveal(v, alice, "github");
  ASSERT_TRUE(value.ok()) << value.status().to_string();
  EXPECT_EQ(*value, "ghp_SECRET_123");
  // Another user, another provider, another project: nothing.
  EXPECT_EQ(reveal(v, SecretOwner{"user", "bob"}, "github").status().code(), Code::not_found);
  EXPECT_EQ(run<Result<std::string>>([&]() { return v.reveal("proj_b", alice, "github", "r", "k"); }).status().code(),
            Code::not_found);
  // Replacing keeps the id.
  auto again = run<Result<SecretInfo>>([&]() { return v.put("proj_a", alice, "github", "api_key", "ghp_NEW", "{}"); });
  EXPECT_EQ(again->id, put->id);
  EXPECT_EQ(*reveal(v, alice, "github"), "ghp_NEW");
  // The plaintext is nowhere in the database file.
  store_->stop();
  std::ifstream f(dir_ / "db", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::ifstream w(dir_ / "db-wal", std::ios::binary);
  bytes += std::string((std::istreambuf_iterator<char>(w)), std::istreambuf_iterator<char>());
  EXPECT_EQ(bytes.find("ghp_SECRET_123"), std::string::npos);
  EXPECT_EQ(bytes.find("ghp_NEW"), std::string::npos);
  EXPECT_NE(bytes.find("vault.read"), std::string::npos);  // the reveals were audited
}

TEST_F(VaultTest, CiphertextCopiedToAnotherScopeDoesNotDecrypt) {
  Vault v(*store_, k1_, {}, audit_.get());
  SecretOwner alice{"user", "alice"}, bob{"user", "bob"};
  ASSERT_TRUE(run<Result<SecretInfo>>([&]() { return v.put("proj_a", alice, "github", "api_key", "alice-token", "{}"); }).ok());
  ASSERT_TRUE(run<Result<SecretInfo>>([&]() { return v.put("proj_a", bob, "github", "api_key", "bob-token", "{}"); }).ok());
  store_->stop();
  // Bob's row gets alice's sealed bytes.
  sql("UPDATE vault_secrets SET wrapped=(SELECT wrapped FROM vault_secrets WHERE owner_id='alice'),"
      " wrap_nonce=(SELECT wrap_nonce FROM vault_secrets WHERE owner_id='alice'),"
      " ciphertext=(SELECT ciphertext FROM vault_secrets WHERE owner_id='alice'),"
      " nonce=(SELECT nonce FROM vault_secrets WHERE owner_id='alice') WHERE owner_id='bob'");
  auto m = Vault::migrations();
  for (auto& x : Audit::migrations()) m.push_back(x);
  auto reopened = store::Executor::start({(dir_ / "db").string()}, m);
  ASSERT_TRUE(reopened.ok());
  store_ = std::move(*reopened);
  Vault v2(*store_, k1_, {}, nullptr);
  auto stolen = reveal(v2, bob, "github");
  EXPECT_FALSE(stolen.ok());
  EXPECT_EQ(stolen.status().message().find("alice-token"), std::string::npos);
  EXPECT_EQ(*reveal(v2, alice, "github"), "alice-token");
}

TEST_F(VaultTest, MasterKeyRotationRewrapsWhileReadsKeepWorking) {
  {
    Vault v(*store_, k1_, {}, nullptr);
    for (int i = 0; i < 7; ++i) {
      std::string provider = "p" + std::to_string(i);
      ASSERT_TRUE(run<Result<SecretInfo>>([&]() {
                    return v.put("proj_a", SecretOwner{}, provider, "api_key", "value-" + provider, "{}");
                  }).ok());
    }
  }
  // A server with the new key, the old one still configured: reads work before any rewrap.
  Vault v(*store_, k2_, {k1_}, nullptr);
  EXPECT_EQ(*reveal(v, SecretOwner{}, "p3"), "value-p3");
  int64_t total = 0;
  for (;;) {
    auto n = v.rewrap(3);
    ASSERT_TRUE(n.ok());
    if (*n == 0) break;
    total += *n;
  }
  EXPECT_EQ(total, 7);
  // With only the new key, everything still reads; the old key alone reads nothing.
  Vault only_new(*store_, k2_, {}, nullptr);
  for (int i = 0; i < 7; ++i) EXPECT_EQ(*reveal(only_new, SecretOwner{}, "p" + std::to_string(i)), "value-p" + std::to_string(i));
  Vault only_old(*store_, k1_, {}, nullptr);
  EXPECT_FALSE(reveal(only_old, SecretOwner{}, "p0").ok());
}

TEST_F(VaultTest, MasterKeysParseFromHexOrBase64) {
  EXPECT_EQ(*Vault::parse_master_key(std::string(64, 'a')), std::string(32, '\xaa'));
  EXPECT_EQ(Vault::parse_master_key("YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWE=\n")->size(), 32u);
  EXPECT_FALSE(Vault::parse_master_key("short").ok());
}

}  // namespace
}  // namespace cn::identity
