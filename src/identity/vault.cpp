// The vault: envelope encryption (XChaCha20-Poly1305 data keys wrapped by the master key, scope
// bound as associated data), the vault_secrets table, audited reveals, master-key rewrapping.
#include "identity/vault.hpp"

#include <sodium.h>

#include <future>

#include "base/ids.hpp"
#include "store/async.hpp"

namespace cn::identity {

namespace {

constexpr size_t kKey = crypto_aead_xchacha20poly1305_ietf_KEYBYTES;
constexpr size_t kNonce = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr size_t kTag = crypto_aead_xchacha20poly1305_ietf_ABYTES;

const unsigned char* u(const std::string& s) { return reinterpret_cast<const unsigned char*>(s.data()); }

std::string random_bytes(size_t n) {
  std::string s(n, '\0');
  randombytes_buf(s.data(), n);
  return s;
}

std::string encrypt(const std::string& plain, const std::string& aad, const std::string& nonce, const std::string& key) {
  std::string out(plain.size() + kTag, '\0');
  unsigned long long len = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(reinterpret_cast<unsigned char*>(out.data()), &len, u(plain), plain.size(),
                                             u(aad), aad.size(), nullptr, u(nonce), u(key));
  out.resize(len);
  return out;
}

std::optional<std::string> decrypt(const std::string& sealed, const std::string& aad, const std::string& nonce,
                                   const std::string& key) {
  if (sealed.size() < kTag || nonce.size() != kNonce || key.size() != kKey) return std::nullopt;
  std::string out(sealed.size() - kTag, '\0');
  unsigned long long len = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(reinterpret_cast<unsigned char*>(out.data()), &len, nullptr, u(sealed),
                                                 sealed.size(), u(aad), aad.size(), u(nonce), u(key)) != 0)
    return std::nullopt;
  out.resize(len);
  return out;
}

std::string key_id_of(const std::string& master) {
  unsigned char h[8];
  static const std::string ctx = "continuum vault master key id";
  crypto_generichash(h, sizeof h, u(master), master.size(), u(ctx), ctx.size());
  static constexpr char hex[] = "0123456789abcdef";
  std::string s;
  for (unsigned char c : h) {
    s += hex[c >> 4];
    s += hex[c & 15];
  }
  return s;
}

constexpr const char* kCols =
    "id, project_id, owner_kind, owner_id, provider, kind, metadata, created_at, updated_at, expires_at, key_id,"
    " wrapped, wrap_nonce, ciphertext, nonce";

SecretInfo info_from(store::Statement& q) {
  SecretInfo s;
  s.id = q.text(0);
  s.project_id = q.text(1);
  s.owner = SecretOwner{q.text(2), q.text(3)};
  s.provider = q.text(4);
  s.kind = q.text(5);
  s.metadata = q.text(6);
  s.created_at = q.int64(7);
  s.updated_at = q.int64(8);
  if (!q.is_null(9)) s.expires_at = q.int64(9);
  s.key_id = q.text(10);
  return s;
}

Status not_found_secret(const std::string& id) { return Status(Code::not_found, "Secret with id '" + id + "' not found."); }

}  // namespace

std::string vault_aad(const std::string& project, const SecretOwner& owner, const std::string& provider,
                      const std::string& id) {
  return "continuum-vault-v1\x1f" + project + "\x1f" + owner.kind + "\x1f" + owner.id + "\x1f" + provider + "\x1f" + id;
}

std::vector<store::Migration> Vault::migrations() {
  return {{"vault", 1, R"sql(
CREATE TABLE vault_secrets (
  project_id TEXT NOT NULL,
  id TEXT NOT NULL,
  owner_kind TEXT NOT NULL,
  owner_id TEXT NOT NULL,
  provider TEXT NOT NULL,
  kind TEXT NOT NULL,
  metadata TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  expires_at INTEGER,
  key_id TEXT NOT NULL,
  wrapped BLOB NOT NULL,
  wrap_nonce BLOB NOT NULL,
  ciphertext BLOB NOT NULL,
  nonce BLOB NOT NULL,
  PRIMARY KEY (project_id, id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX vault_owner ON vault_secrets(project_id, owner_kind, owner_id, provider);
CREATE INDEX vault_key ON vault_secrets(key_id);
)sql"}};
}

Result<std::string> Vault::parse_master_key(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ' || text.back() == '\r')) text.remove_suffix(1);
  std::string out(kKey, '\0');
  size_t len = 0;
  if (text.size() == 2 * kKey &&
      sodium_hex2bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(), text.size(), nullptr, &len,
                     nullptr) == 0 &&
      len == kKey)
    return out;
  for (int variant : {sodium_base64_VARIANT_ORIGINAL, sodium_base64_VARIANT_URLSAFE,
                      sodium_base64_VARIANT_ORIGINAL_NO_PADDING, sodium_base64_VARIANT_URLSAFE_NO_PADDING}) {
    std::string buf(text.size(), '\0');
    if (sodium_base642bin(reinterpret_cast<unsigned char*>(buf.data()), buf.size(), text.data(), text.size(), nullptr,
                          &len, nullptr, variant) == 0 &&
        len == kKey)
      return buf.substr(0, kKey);
  }
  return Status(Code::invalid_argument, "a vault master key must be 32 bytes, as 64 hex digits or base64");
}

Vault::Vault(store::Executor& store, std::string master, std::vector<std::string> previous, Audit* audit, Clock& clock)
    : store_(store), master_(std::move(master)), key_id_(key_id_of(master_)), audit_(audit), clock_(clock) {
  for (auto& k : previous) previous_.emplace_back(key_id_of(k), std::move(k));
}

const std::string* Vault::master_for(const std::string& key_id) const {
  if (key_id == key_id_) return &master_;
  for (const auto& [id, k] : previous_)
    if (id == key_id) return &k;
  return nullptr;
}

Vault::Sealed Vault::seal(const std::string& aad, const std::string& value) const {
  Sealed s;
  std::string dek = random_bytes(kKey);
  s.nonce = random_bytes(kNonce);
  s.ciphertext = encrypt(value, aad, s.nonce, dek);
  s.wrap_nonce = random_bytes(kNonce);
  s.wrapped = encrypt(dek, aad + "\x1f" + key_id_, s.wrap_nonce, master_);
  sodium_memzero(dek.data(), dek.size());
  return s;
}

Result<std::string> Vault::open(const std::string& aad, const std::string& key_id, const Sealed& s) const {
  const std::string* master = master_for(key_id);
  if (!master) return Status(Code::failed_precondition, "the secret is wrapped by a master key this server does not have");
  auto dek = decrypt(s.wrapped, aad + "\x1f" + key_id, s.wrap_nonce, *master);
  if (!dek) return Status(Code::failed_precondition, "the secret does not decrypt in its scope");
  auto value = decrypt(s.ciphertext, aad, s.nonce, *dek);
  sodium_memzero(dek->data(), dek->size());
  if (!value) return Status(Code::failed_precondition, "the secret does not decrypt in its scope");
  return *value;
}

boost::asio::awaitable<Result<SecretInfo>> Vault::put(std::string project, SecretOwner owner, std::string provider,
                                                      std::string kind, std::string value, std::string metadata,
                                                      std::optional<int64_t> expires_at) {
  auto info = std::make_shared<SecretInfo>();
  info->project_id = project;
  info->owner = owner;
  info->provider = provider;
  info->kind = kind;
  info->metadata = metadata.empty() ? "{}" : metadata;
  info->created_at = info->updated_at = clock_.now_seconds();
  info->expires_at = expires_at;
  info->key_id = key_id_;
  auto plain = std::make_shared<std::string>(std::move(value));
  std::function<Status(store::Database&)> fn = [this, info, plain](store::Database& db) -> Status {
    // Same owner and provider: the secret is replaced in place, keeping its id.
    auto& q = db.stmt("SELECT id, created_at FROM vault_secrets WHERE project_id=?1 AND owner_kind=?2 AND owner_id=?3 AND provider=?4");
    q.bind(1, info->project_id).bind(2, info->owner.kind).bind(3, info->owner.id).bind(4, info->provider);
    if (q.step()) {
      info->id = q.text(0);
      info->created_at = q.int64(1);
    }
    Status st = q.status();
    q.reset();
    if (!st.ok()) return st;
    if (info->id.empty()) info->id = new_id("secret");
    Sealed s = seal(vault_aad(info->project_id, info->owner, info->provider, info->id), *plain);
    sodium_memzero(plain->data(), plain->size());
    auto& ins = db.stmt(
        "INSERT OR REPLACE INTO vault_secrets(project_id, id, owner_kind, owner_id, provider, kind, metadata, created_at,"
        " updated_at, expires_at, key_id, wrapped, wrap_nonce, ciphertext, nonce)"
        " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15)");
    ins.bind(1, info->project_id).bind(2, info->id).bind(3, info->owner.kind).bind(4, info->owner.id);
    ins.bind(5, info->provider).bind(6, info->kind).bind(7, info->metadata).bind(8, info->created_at);
    ins.bind(9, info->updated_at);
    if (info->expires_at) ins.bind(10, *info->expires_at); else ins.bind_null(10);
    ins.bind(11, info->key_id).bind_blob(12, s.wrapped).bind_blob(13, s.wrap_nonce).bind_blob(14, s.ciphertext);
    return ins.bind_blob(15, s.nonce).run();
  };
  Status st = co_await store::write_async(store_, std::move(fn));
  if (!st.ok()) co_return st;
  co_return *info;
}

boost::asio::awaitable<Result<std::vector<SecretInfo>>> Vault::list(std::string project, std::optional<SecretOwner> owner) {
  using R = Result<std::vector<SecretInfo>>;
  std::function<R(store::Database&)> fn = [project, owner](store::Database& db) -> R {
    auto& q = db.stmt(std::string("SELECT ") + kCols +
                      " FROM vault_secrets WHERE project_id=?1 AND (?2 IS NULL OR (owner_kind=?2 AND owner_id=?3))"
                      " ORDER BY provider, id");
    q.bind(1, project);
    if (owner) q.bind(2, owner->kind).bind(3, owner->id); else q.bind_null(2).bind_null(3);
    std::vector<SecretInfo> out;
    while (q.step()) out.push_back(info_from(q));
    Status st = q.status();
    q.reset();
    if (!st.ok()) return st;
    return out;
  };
  co_return co_await store::read_async<R>(store_, std::move(fn));
}

boost::asio::awaitable<Result<SecretInfo>> Vault::get(std::string project, std::string id) {
  using R = Result<SecretInfo>;
  std::function<R(store::Database&)> fn = [project, id](store::Database& db) -> R {
    auto& q = db.stmt(std::string("SELECT ") + kCols + " FROM vault_secrets WHERE project_id=?1 AND id=?2");
    q.bind(1, project).bind(2, id);
    if (!q.step()) {
      Status st = q.status();
      q.reset();
      return st.ok() ? not_found_secret(id) : st;
    }
    SecretInfo s = info_from(q);
    q.reset();
    return s;
  };
  co_return co_await store::read_async<R>(store_, std::move(fn));
}

boost::asio::awaitable<Status> Vault::remove(std::string project, std::string id) {
  std::function<Status(store::Database&)> fn = [project, id](store::Database& db) -> Status {
    auto& st = db.stmt("DELETE FROM vault_secrets WHERE project_id=?1 AND id=?2");
    if (Status s = st.bind(1, project).bind(2, id).run(); !s.ok()) return s;
    return db.changes() ? Status() : not_found_secret(id);
  };
  co_return co_await store::write_async(store_, std::move(fn));
}

boost::asio::awaitable<Result<std::string>> Vault::reveal(std::string project, SecretOwner owner, std::string provider,
                                                          std::string run_id, std::string actor) {
  struct Row {
    SecretInfo info;
    Sealed sealed;
  };
  using R = Result<Row>;
  std::function<R(store::Database&)> fn = [project, owner, provider](store::Database& db) -> R {
    auto& q = db.stmt(std::string("SELECT ") + kCols +
                      " FROM vault_secrets WHERE project_id=?1 AND owner_kind=?2 AND owner_id=?3 AND provider=?4");
    q.bind(1, project).bind(2, owner.kind).bind(3, owner.id).bind(4, provider);
    if (!q.step()) {
      Status st = q.status();
      q.reset();
      return st.ok() ? Status(Code::not_found, "No '" + provider + "' credential is stored for this " + owner.kind + ".")
                     : st;
    }
    Row r{info_from(q), Sealed{std::string(q.blob(13)), std::string(q.blob(14)), std::string(q.blob(11)),
                               std::string(q.blob(12))}};
    q.reset();
    return r;
  };
  auto row = co_await store::read_async<R>(store_, std::move(fn));
  if (!row.ok()) co_return row.status();
  auto value = open(vault_aad(project, row->info.owner, provider, row->info.id), row->info.key_id, row->sealed);
  if (audit_) {
    boost::json::object d{{"run", run_id}, {"secret", row->info.id}, {"provider", provider},
                          {"owner_kind", owner.kind}, {"owner_id", owner.id}, {"ok", value.ok()}};
    AuditEntry e{0, 0, project, actor, "vault.read", row->info.id, boost::json::serialize(d), ""};
    Status logged = co_await audit_->record(std::move(e));
    if (!logged.ok()) co_return logged;
  }
  co_return value;
}

Result<int64_t> Vault::rewrap(int batch) {
  auto count = std::make_shared<int64_t>(0);
  std::promise<Status> p;
  auto f = p.get_future();
  store_.submit(
      [this, batch, count](store::Database& db) -> Status {
        auto& q = db.stmt(std::string("SELECT ") + kCols + " FROM vault_secrets WHERE key_id != ?1 LIMIT ?2");
        q.bind(1, key_id_).bind(2, static_cast<int64_t>(batch));
        struct Item {
          SecretInfo info;
          std::string wrapped, wrap_nonce;
        };
        std::vector<Item> items;
        while (q.step()) items.push_back({info_from(q), std::string(q.blob(11)), std::string(q.blob(12))});
        Status st = q.status();
        q.reset();
        if (!st.ok()) return st;
        auto& up = db.stmt("UPDATE vault_secrets SET key_id=?3, wrapped=?4, wrap_nonce=?5 WHERE project_id=?1 AND id=?2");
        for (auto& it : items) {
          const std::string* old = master_for(it.info.key_id);
          if (!old) continue;  // a key nobody configured: left as it is (and reported by reads)
          std::string aad = vault_aad(it.info.project_id, it.info.owner, it.info.provider, it.info.id);
          auto dek = decrypt(it.wrapped, aad + "\x1f" + it.info.key_id, it.wrap_nonce, *old);
          if (!dek) continue;
          std::string nonce = random_bytes(kNonce);
          std::string wrapped = encrypt(*dek, aad + "\x1f" + key_id_, nonce, master_);
          sodium_memzero(dek->data(), dek->size());
          up.bind(1, it.info.project_id).bind(2, it.info.id).bind(3, key_id_).bind_blob(4, wrapped).bind_blob(5, nonce);
          if (Status s = up.run(); !s.ok()) return s;
          ++*count;
        }
        return Status();
      },
      [&p](Status s) { p.set_value(std::move(s)); });
  Status st = f.get();
  if (!st.ok()) return st;
  return *count;
}

}  // namespace cn::identity
