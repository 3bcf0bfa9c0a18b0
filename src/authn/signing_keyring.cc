#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "kos/id.h"
#include "kos/status.h"
#include "kos/tokens.h"
#include "kos/vault.h"

namespace kos {
namespace {

int64_t Millis(absl::Time t) { return t == absl::InfiniteFuture() ? -1 : absl::ToUnixMillis(t); }
absl::Time FromMillis(int64_t ms) {
  return ms < 0 ? absl::InfiniteFuture() : absl::FromUnixMillis(ms);
}

}  // namespace

std::string SigningKeyring::Aad(absl::string_view kid) const {
  return absl::StrCat("kos.signing_key.v1/", options_.collection, "/", kid);
}

absl::StatusOr<std::unique_ptr<SigningKeyring>> SigningKeyring::Open(
    const SigningKeyringOptions& options) {
  if (options.store == nullptr)
    return absl::InvalidArgumentError("SigningKeyring: store is required");
  if (options.clock == nullptr)
    return absl::InvalidArgumentError("SigningKeyring: clock is required");
  if (options.vault == nullptr &&
      (!options.key_encryption_key || options.key_encryption_key->size() != kAeadKeyBytes)) {
    return absl::InvalidArgumentError(
        "SigningKeyring: a vault or a 32-byte key_encryption_key is required");
  }
  if (options.retire_after <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("SigningKeyring: retire_after must be positive");
  }
  KOS_RETURN_IF_ERROR(ValidateCollectionName(options.collection));
  KOS_RETURN_IF_ERROR(CryptoInit());
  std::unique_ptr<SigningKeyring> ring(new SigningKeyring(options));
  {
    absl::MutexLock l(&ring->mu_);
    KOS_RETURN_IF_ERROR(ring->LoadLocked());
    if (ring->signer_ != nullptr) return ring;
  }
  // No active key: make one. A concurrent Open on another replica may win the
  // race; CreateKey then fails its CAS and we simply load the winner's key.
  absl::Status created = ring->CreateKey(std::nullopt);
  if (!created.ok() && !absl::IsFailedPrecondition(created)) return created;
  absl::MutexLock l(&ring->mu_);
  KOS_RETURN_IF_ERROR(ring->LoadLocked());
  if (ring->signer_ == nullptr) return absl::InternalError("SigningKeyring: no active key");
  return ring;
}

absl::Status SigningKeyring::LoadLocked() {
  std::vector<Entry> keys;
  std::string active_sealed;
  const Entry* active = nullptr;
  ScanOptions scan;
  scan.limit = 1000;
  do {
    KOS_ASSIGN_OR_RETURN(ScanPage page, options_.store->Scan(options_.collection, scan));
    for (const Record& r : page.records) {
      auto j = ParseJson(r.value);
      if (!j.ok() || !j->is_object()) {
        return absl::DataLossError(absl::StrCat("signing key record '", r.key, "' is not JSON"));
      }
      Entry e;
      e.version = r.version;
      e.info.kid = r.key;
      KOS_ASSIGN_OR_RETURN(std::string x, GetString(*j, "x", "signing_key"));
      KOS_ASSIGN_OR_RETURN(e.info.public_key, Ed25519PublicKeyFromBase64Url(x));
      KOS_ASSIGN_OR_RETURN(int64_t created, GetInt(*j, "created_ms", "signing_key"));
      KOS_ASSIGN_OR_RETURN(int64_t deactivated, GetInt(*j, "deactivated_ms", "signing_key"));
      KOS_ASSIGN_OR_RETURN(int64_t retire, GetInt(*j, "retire_at_ms", "signing_key"));
      e.info.created = absl::FromUnixMillis(created);
      e.info.deactivated = FromMillis(deactivated);
      e.info.retire_at = FromMillis(retire);
      keys.push_back(std::move(e));
    }
    scan.page_token = page.next_page_token;
  } while (!scan.page_token.empty());

  // The signer is the newest key never deactivated (two replicas rotating at
  // once may both leave one; the newest wins everywhere).
  for (const Entry& e : keys) {
    if (e.info.deactivated == absl::InfiniteFuture() &&
        (active == nullptr || e.info.kid > active->info.kid)) {
      active = &e;
    }
  }
  if (active != nullptr && active->info.kid != signer_kid_) {
    KOS_ASSIGN_OR_RETURN(Record rec, options_.store->Get(options_.collection, active->info.kid));
    auto j = ParseJson(rec.value);
    if (!j.ok()) return absl::DataLossError("signing key record is not JSON");
    SecretBytes seed;
    if (j->contains("vault_path")) {
      KOS_ASSIGN_OR_RETURN(std::string path, GetString(*j, "vault_path", "signing_key"));
      if (options_.vault == nullptr) {
        return absl::FailedPreconditionError(
            "signing key is in a vault but no vault is configured");
      }
      KOS_ASSIGN_OR_RETURN(Secret secret, options_.vault->Get(options_.vault_actor, path));
      seed = std::move(secret.value);
    } else {
      KOS_ASSIGN_OR_RETURN(std::string sealed_b64, GetString(*j, "sealed_seed", "signing_key"));
      KOS_ASSIGN_OR_RETURN(std::string sealed, Base64UrlDecode(sealed_b64));
      if (!options_.key_encryption_key) {
        return absl::FailedPreconditionError(
            "signing key is sealed but no key_encryption_key is configured");
      }
      auto opened = kos::Open(*options_.key_encryption_key, options_.key_encryption_key_version,
                              sealed, Aad(active->info.kid));
      if (!opened.ok()) {
        return absl::UnauthenticatedError("signing key does not open under the key-encryption key");
      }
      seed = std::move(*opened);
    }
    KOS_ASSIGN_OR_RETURN(Ed25519KeyPair pair, Ed25519KeyPair::FromSeed(seed.view()));
    if (pair.public_key() != active->info.public_key) {
      return absl::DataLossError("signing key record: public key does not match private key");
    }
    signer_ = std::make_unique<Ed25519KeyPair>(std::move(pair));
    signer_kid_ = active->info.kid;
  } else if (active == nullptr) {
    signer_.reset();
    signer_kid_.clear();
  }
  for (Entry& e : keys) e.info.active = e.info.kid == signer_kid_;
  keys_ = std::move(keys);
  last_reload_ = options_.clock->Now();
  generation_.fetch_add(1, std::memory_order_acq_rel);
  return absl::OkStatus();
}

absl::Status SigningKeyring::CreateKey(std::optional<std::pair<std::string, uint64_t>> previous) {
  absl::Time now = options_.clock->Now();
  Ed25519KeyPair pair = Ed25519KeyPair::Generate();
  // ULIDs sort by creation, which LoadLocked relies on to pick the newest.
  std::string kid = IdGenerator(options_.clock).Next();
  SecretBytes seed = pair.ExportSeed();
  Json rec = {{"alg", "EdDSA"},
              {"x", pair.PublicKeyBase64Url()},
              {"created_ms", absl::ToUnixMillis(now)},
              {"deactivated_ms", -1},
              {"retire_at_ms", -1}};
  // The previous key's record is read before anything is written, so a
  // failure here leaves no orphan seed in the vault.
  std::vector<WriteOp> ops;
  if (previous) {
    KOS_ASSIGN_OR_RETURN(Record old, options_.store->Get(options_.collection, previous->first));
    auto j = ParseJson(old.value);
    if (!j.ok()) return absl::DataLossError("signing key record is not JSON");
    (*j)["deactivated_ms"] = Millis(now);
    (*j)["retire_at_ms"] = Millis(now + options_.retire_after);
    ops.push_back(
        WriteOp::Put(options_.collection, previous->first, DumpJson(*j), previous->second));
  }
  std::string vault_path;
  if (options_.vault != nullptr) {
    vault_path = options_.vault_path_prefix + kid;
    VaultPutOptions put;
    put.cas = 0;
    KOS_RETURN_IF_ERROR(
        options_.vault->Put(options_.vault_actor, vault_path, seed.view(), put).status());
    rec["vault_path"] = vault_path;
  } else {
    KOS_ASSIGN_OR_RETURN(std::string sealed,
                         Seal(*options_.key_encryption_key, options_.key_encryption_key_version,
                              seed.view(), Aad(kid)));
    rec["sealed_seed"] = Base64UrlEncode(sealed);
  }
  ops.insert(ops.begin(), WriteOp::Put(options_.collection, kid, DumpJson(rec), 0));
  absl::Status committed = options_.store->Commit(ops).status();
  if (!committed.ok() && !vault_path.empty()) {
    // Lost a race (or the Store failed): the seed belongs to no key record.
    (void)options_.vault->DeleteMetadata(options_.vault_actor, vault_path);
  }
  return committed;
}

absl::StatusOr<std::string> SigningKeyring::Rotate() {
  std::optional<std::pair<std::string, uint64_t>> previous;
  {
    absl::MutexLock l(&mu_);
    KOS_RETURN_IF_ERROR(LoadLocked());
    for (const Entry& e : keys_) {
      if (e.info.kid == signer_kid_) previous = std::make_pair(e.info.kid, e.version);
    }
  }
  absl::Status s = CreateKey(previous);
  if (absl::IsFailedPrecondition(s)) {
    return absl::FailedPreconditionError("signing keys were rotated concurrently; retry");
  }
  KOS_RETURN_IF_ERROR(s);
  absl::MutexLock l(&mu_);
  KOS_RETURN_IF_ERROR(LoadLocked());
  return signer_kid_;
}

absl::Status SigningKeyring::Reload() {
  absl::MutexLock l(&mu_);
  return LoadLocked();
}

absl::StatusOr<size_t> SigningKeyring::PurgeRetired() {
  absl::Time now = options_.clock->Now();
  std::vector<std::pair<std::string, uint64_t>> doomed;
  {
    absl::MutexLock l(&mu_);
    for (const Entry& e : keys_) {
      if (e.info.retire_at <= now) doomed.emplace_back(e.info.kid, e.version);
    }
  }
  size_t n = 0;
  for (const auto& [kid, version] : doomed) {
    if (!options_.store->Delete(options_.collection, kid, version).ok()) continue;
    ++n;
    if (options_.vault != nullptr) {
      // Best effort: a retired seed left in the vault signs nothing we accept.
      (void)options_.vault->DeleteMetadata(options_.vault_actor, options_.vault_path_prefix + kid);
    }
  }
  absl::MutexLock l(&mu_);
  KOS_RETURN_IF_ERROR(LoadLocked());
  return n;
}

absl::StatusOr<std::pair<std::string, std::string>> SigningKeyring::Sign(
    absl::string_view message) const {
  absl::ReaderMutexLock l(&mu_);
  if (signer_ == nullptr) return absl::FailedPreconditionError("no active signing key");
  return std::make_pair(signer_kid_, signer_->Sign(message));
}

absl::Status SigningKeyring::Verify(absl::string_view kid, absl::string_view message,
                                    absl::string_view signature) {
  absl::Time now = options_.clock->Now();
  std::string public_key;
  bool found = false, known = false;
  auto find = [&]() {
    for (const Entry& e : keys_) {
      if (e.info.kid == kid) {
        known = e.info.retire_at > now;
        public_key = e.info.public_key;
        return true;
      }
    }
    return false;
  };
  bool reload_due;
  {
    absl::ReaderMutexLock l(&mu_);
    found = find();
    reload_due = !found && now - last_reload_ >= options_.reload_interval;
  }
  // An unknown kid may come from a rotation on another replica; reloading
  // is rate-limited so a flood of random kids cannot hammer the Store.
  if (reload_due) {
    absl::MutexLock l(&mu_);
    if (now - last_reload_ >= options_.reload_interval && LoadLocked().ok()) find();
  }
  if (!known) return absl::UnauthenticatedError("unknown or retired key id");
  if (!Ed25519Verify(public_key, message, signature).ok()) {
    return absl::UnauthenticatedError("signature does not verify");
  }
  return absl::OkStatus();
}

Json SigningKeyring::Jwks() const {
  absl::Time now = options_.clock->Now();
  Json keys = Json::array();
  absl::MutexLock l(&mu_);
  for (const Entry& e : keys_) {
    if (e.info.retire_at <= now) continue;
    keys.push_back({{"kty", "OKP"},
                    {"crv", "Ed25519"},
                    {"x", Base64UrlEncode(e.info.public_key)},
                    {"kid", e.info.kid},
                    {"use", "sig"},
                    {"alg", "EdDSA"}});
  }
  return Json{{"keys", keys}};
}

std::vector<SigningKeyInfo> SigningKeyring::Keys() const {
  absl::MutexLock l(&mu_);
  std::vector<SigningKeyInfo> out;
  for (const Entry& e : keys_) out.push_back(e.info);
  return out;
}

std::string SigningKeyring::ActiveKid() const {
  absl::MutexLock l(&mu_);
  return signer_kid_;
}

std::optional<absl::Time> SigningKeyring::RetireAt(absl::string_view kid) const {
  absl::ReaderMutexLock l(&mu_);
  for (const Entry& e : keys_) {
    if (e.info.kid == kid) return e.info.retire_at;
  }
  return std::nullopt;
}

}  // namespace kos
