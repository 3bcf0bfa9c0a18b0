#include "kos/vault.h"

#include <sodium.h>

#include <algorithm>
#include <cctype>
#include <functional>
#include <set>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "kos/status.h"
#include "vault/vault_impl.h"

namespace kos {

using vault_internal::KeySet;

namespace {

constexpr char kKeyringCollection[] = "vault_keyring";
constexpr char kKeyringKey[] = "keyring";
constexpr char kKeyringAad[] = "kos-vault-keyring";
constexpr char kMetaCollection[] = "vault_meta";
constexpr char kDataCollection[] = "vault_data";
// Optimistic-concurrency retries for writes that lost a CAS race to another
// writer (without a caller CAS); each retry re-reads the fresh state.
constexpr int kWriteRetries = 64;

int64_t ToMicros(absl::Time t) { return absl::ToUnixMicros(t); }
absl::Time FromMicros(int64_t us) { return absl::FromUnixMicros(us); }

std::string DataKey(absl::string_view path, uint64_t version) {
  // '@' cannot occur in a path, so "path@" prefixes never collide.
  return absl::StrFormat("%s@%020d", path, version);
}

std::string DekAad(absl::string_view path, uint64_t version) {
  return absl::StrCat("kos-vault-dek", absl::string_view("\0", 1), path, absl::string_view("\0", 1),
                      version);
}

std::string ValueAad(absl::string_view path, uint64_t version) {
  return absl::StrCat("kos-vault-value", absl::string_view("\0", 1), path,
                      absl::string_view("\0", 1), version);
}

// Metadata record (stored in clear, JSON).
struct Meta {
  SecretMetadata md;
  uint64_t record_version = 0;  // Store version of the metadata record (0: new)
};

Json MetaToJson(const SecretMetadata& md) {
  Json versions = Json::object();
  for (const SecretVersionInfo& v : md.versions) {
    Json e = {{"created", ToMicros(v.created)}, {"destroyed", v.destroyed}};
    if (v.deletion_time) e["deleted"] = ToMicros(*v.deletion_time);
    versions[std::to_string(v.version)] = e;
  }
  return {{"created", ToMicros(md.created)}, {"updated", ToMicros(md.updated)},
          {"current", md.current_version},   {"max_versions", md.max_versions},
          {"custom", md.custom_metadata},    {"versions", versions}};
}

absl::StatusOr<SecretMetadata> MetaFromJson(absl::string_view path, absl::string_view text) {
  auto j = ParseJson(text);
  auto bad = [&] {
    return absl::DataLossError(absl::StrCat("vault metadata of '", path, "' is malformed"));
  };
  if (!j.ok() || !j->is_object()) return bad();
  SecretMetadata md;
  md.path = std::string(path);
  auto created = GetInt(*j, "created");
  auto updated = GetInt(*j, "updated");
  auto current = GetInt(*j, "current");
  auto maxv = GetInt(*j, "max_versions");
  if (!created.ok() || !updated.ok() || !current.ok() || !maxv.ok() || *current < 0 || *maxv < 0) {
    return bad();
  }
  md.created = FromMicros(*created);
  md.updated = FromMicros(*updated);
  md.current_version = static_cast<uint64_t>(*current);
  md.max_versions = static_cast<uint32_t>(*maxv);
  const Json& custom = (*j)["custom"];
  if (!custom.is_object()) return bad();
  for (const auto& [k, v] : custom.items()) {
    if (!v.is_string()) return bad();
    md.custom_metadata[k] = v.get<std::string>();
  }
  const Json& versions = (*j)["versions"];
  if (!versions.is_object()) return bad();
  for (const auto& [k, v] : versions.items()) {
    SecretVersionInfo info;
    auto c = GetInt(v, "created");
    auto d = GetBool(v, "destroyed");
    if (!absl::SimpleAtoi(k, &info.version) || !c.ok() || !d.ok()) return bad();
    info.created = FromMicros(*c);
    info.destroyed = *d;
    if (v.contains("deleted")) {
      auto del = GetInt(v, "deleted");
      if (!del.ok()) return bad();
      info.deletion_time = FromMicros(*del);
    }
    md.versions.push_back(info);
  }
  std::sort(md.versions.begin(), md.versions.end(),
            [](const auto& a, const auto& b) { return a.version < b.version; });
  md.oldest_version = md.versions.empty() ? 0 : md.versions.front().version;
  return md;
}

SecretVersionInfo* FindVersion(SecretMetadata& md, uint64_t version) {
  for (auto& v : md.versions) {
    if (v.version == version) return &v;
  }
  return nullptr;
}

}  // namespace

// ---------------------------------------------------------------------------
// Impl: setup, audit, keyring
// ---------------------------------------------------------------------------

Vault::Impl::Impl(const VaultOptions& options, SecretBytes master)
    : options_(options), master_(std::move(master)) {}

absl::Status Vault::Impl::Init() {
  Store* store = options_.store;
  auto rec = store->Get(kKeyringCollection, kKeyringKey);
  if (rec.ok()) {
    auto set = vault_internal::OpenKeySet(rec->value, master_, kKeyringAad);
    if (!set.ok()) {
      if (set.status().code() == absl::StatusCode::kUnauthenticated) {
        return absl::UnauthenticatedError(
            "vault master key does not match the stored keyring (wrong master key, or the "
            "keyring record was modified)");
      }
      return set.status();
    }
    absl::MutexLock l(&mu_);
    keyring_ = std::move(*set);
    keyring_record_version_ = rec->version;
    return absl::OkStatus();
  }
  if (rec.status().code() != absl::StatusCode::kNotFound) return rec.status();
  KeySet set;
  set.AddRandomKey();
  KOS_ASSIGN_OR_RETURN(std::string sealed, vault_internal::SealKeySet(set, master_, kKeyringAad));
  auto put = store->Put(kKeyringCollection, kKeyringKey, sealed, /*expected_version=*/0);
  if (!put.ok()) {
    // Another process created it first: use theirs.
    if (put.status().code() == absl::StatusCode::kFailedPrecondition) return Init();
    return put.status();
  }
  absl::MutexLock l(&mu_);
  keyring_ = std::move(set);
  keyring_record_version_ = put->version;
  return absl::OkStatus();
}

absl::Status Vault::Impl::ReloadKeyringLocked() {
  KOS_ASSIGN_OR_RETURN(Record rec, options_.store->Get(kKeyringCollection, kKeyringKey));
  auto set = vault_internal::OpenKeySet(rec.value, master_, kKeyringAad);
  if (!set.ok()) {
    if (set.status().code() == absl::StatusCode::kUnauthenticated) {
      return absl::DataLossError("stored vault keyring fails authentication under the master key");
    }
    return set.status();
  }
  keyring_ = std::move(*set);
  keyring_record_version_ = rec.version;
  return absl::OkStatus();
}

absl::StatusOr<std::pair<uint32_t, SecretBytes>> Vault::Impl::CurrentKek() {
  absl::MutexLock l(&mu_);
  return std::make_pair(keyring_.current, keyring_.keys.at(keyring_.current).Clone());
}

absl::StatusOr<SecretBytes> Vault::Impl::KekForDecrypt(uint32_t version) {
  absl::MutexLock l(&mu_);
  if (keyring_.keys.count(version) == 0 || version < keyring_.min_decryption) {
    // Possibly rotated or re-enabled by another Vault on the same store.
    KOS_RETURN_IF_ERROR(ReloadKeyringLocked());
  }
  KOS_ASSIGN_OR_RETURN(const SecretBytes* k, keyring_.ForDecrypt(version, "vault keyring"));
  return k->Clone();
}

absl::Status Vault::Impl::UpdateKeyring(const std::function<absl::Status(KeySet*)>& change) {
  absl::MutexLock l(&mu_);
  for (int attempt = 0; attempt < kWriteRetries; ++attempt) {
    KeySet next = keyring_.Clone();
    KOS_RETURN_IF_ERROR(change(&next));
    KOS_ASSIGN_OR_RETURN(std::string sealed,
                         vault_internal::SealKeySet(next, master_, kKeyringAad));
    auto put =
        options_.store->Put(kKeyringCollection, kKeyringKey, sealed, keyring_record_version_);
    if (put.ok()) {
      keyring_ = std::move(next);
      keyring_record_version_ = put->version;
      return absl::OkStatus();
    }
    if (put.status().code() != absl::StatusCode::kFailedPrecondition) return put.status();
    KOS_RETURN_IF_ERROR(ReloadKeyringLocked());  // changed elsewhere: retry on fresh state
  }
  return absl::AbortedError("vault keyring kept changing concurrently; retry");
}

// ---------------------------------------------------------------------------
// KV
// ---------------------------------------------------------------------------

absl::StatusOr<std::optional<Vault::Impl::LoadedMeta>> Vault::Impl::LoadMeta(
    absl::string_view path) {
  auto rec = options_.store->Get(kMetaCollection, path);
  if (!rec.ok()) {
    if (rec.status().code() == absl::StatusCode::kNotFound) return std::optional<LoadedMeta>();
    return rec.status();
  }
  KOS_ASSIGN_OR_RETURN(SecretMetadata md, MetaFromJson(path, rec->value));
  return std::optional<LoadedMeta>(LoadedMeta{std::move(md), rec->version});
}

absl::StatusOr<Vault::Impl::LoadedMeta> Vault::Impl::RequireMeta(absl::string_view path) {
  KOS_ASSIGN_OR_RETURN(auto m, LoadMeta(path));
  if (!m) return absl::NotFoundError(absl::StrCat("no secret at '", path, "'"));
  return std::move(*m);
}

absl::StatusOr<uint64_t> Vault::Impl::PutLocked(absl::string_view path, absl::string_view value,
                                                const VaultPutOptions& options,
                                                AuditFields* fields) {
  KOS_RETURN_IF_ERROR(ValidateSecretPath(path));
  if (value.size() > options_.max_value_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "secret value is ", value.size(), " bytes; the limit is ", options_.max_value_bytes));
  }
  if (options.cas) (*fields)["cas"] = std::to_string(*options.cas);
  for (int attempt = 0; attempt < kWriteRetries; ++attempt) {
    KOS_ASSIGN_OR_RETURN(auto loaded, LoadMeta(path));
    LoadedMeta m = loaded ? std::move(*loaded) : LoadedMeta{};
    const absl::Time now = options_.clock->Now();
    if (!loaded) {
      m.md.path = std::string(path);
      m.md.created = now;
    }
    if (options.cas && *options.cas != m.md.current_version) {
      return absl::FailedPreconditionError(
          absl::StrCat("check-and-set failed for '", path, "': expected version ", *options.cas,
                       ", current version is ", m.md.current_version));
    }
    const uint64_t version = m.md.current_version + 1;

    // Envelope: fresh DEK seals the value; the current keyring key seals the DEK.
    SecretBytes dek = SecretBytes::Random(kAeadKeyBytes);
    KOS_ASSIGN_OR_RETURN(std::string ct,
                         Seal(dek, 0, value, ValueAad(path, version), options_.algorithm));
    KOS_ASSIGN_OR_RETURN(auto kek, CurrentKek());
    KOS_ASSIGN_OR_RETURN(std::string wrapped, Seal(kek.second, kek.first, dek.view(),
                                                   DekAad(path, version), options_.algorithm));
    Json data = {{"dek", Base64UrlEncode(wrapped)}, {"ct", Base64UrlEncode(ct)}};

    m.md.current_version = version;
    m.md.updated = now;
    m.md.versions.push_back(SecretVersionInfo{version, now, std::nullopt, false});
    std::vector<WriteOp> ops;
    const uint32_t max = m.md.max_versions != 0 ? m.md.max_versions : options_.default_max_versions;
    while (max > 0 && m.md.versions.size() > max) {
      const SecretVersionInfo& oldest = m.md.versions.front();
      if (!oldest.destroyed)
        ops.push_back(WriteOp::Delete(kDataCollection, DataKey(path, oldest.version)));
      m.md.versions.erase(m.md.versions.begin());
    }
    ops.push_back(WriteOp::Put(kMetaCollection, std::string(path), DumpJson(MetaToJson(m.md)),
                               m.record_version));
    ops.push_back(WriteOp::Put(kDataCollection, DataKey(path, version), DumpJson(data), 0));
    auto committed = options_.store->Commit(ops);
    if (committed.ok()) {
      (*fields)["version"] = std::to_string(version);
      (*fields)["key_version"] = std::to_string(kek.first);
      return version;
    }
    if (committed.status().code() != absl::StatusCode::kFailedPrecondition) {
      return committed.status();
    }
    // A concurrent writer got there first. With CAS that is a conflict the
    // caller must see; without, write on top of the new state.
    if (options.cas) {
      return absl::FailedPreconditionError(absl::StrCat(
          "check-and-set failed for '", path, "': a concurrent write changed the secret"));
    }
  }
  return absl::AbortedError(absl::StrCat("'", path, "' kept changing concurrently; retry"));
}

absl::StatusOr<Secret> Vault::Impl::GetLocked(absl::string_view path, uint64_t version,
                                              AuditFields* fields) {
  KOS_RETURN_IF_ERROR(ValidateSecretPath(path));
  KOS_ASSIGN_OR_RETURN(LoadedMeta m, RequireMeta(path));
  if (version == 0) version = m.md.current_version;
  (*fields)["version"] = std::to_string(version);
  if (version == 0) return absl::NotFoundError(absl::StrCat("'", path, "' has no versions"));
  const SecretVersionInfo* info = FindVersion(m.md, version);
  if (info == nullptr) {
    return absl::NotFoundError(absl::StrCat("'", path, "' has no version ", version,
                                            version > m.md.current_version ? "" : " (pruned)"));
  }
  if (info->destroyed) {
    return absl::NotFoundError(absl::StrCat("version ", version, " of '", path, "' is destroyed"));
  }
  if (info->deletion_time) {
    return absl::NotFoundError(
        absl::StrCat("version ", version, " of '", path, "' is deleted (undelete to restore)"));
  }
  auto rec = options_.store->Get(kDataCollection, DataKey(path, version));
  if (!rec.ok()) {
    if (rec.status().code() == absl::StatusCode::kNotFound) {
      return absl::DataLossError(
          absl::StrCat("ciphertext of version ", version, " of '", path, "' is missing"));
    }
    return rec.status();
  }
  auto j = ParseJson(rec->value);
  std::optional<std::string> wrapped, ct;
  if (j.ok() && j->is_object()) {
    auto w = GetString(*j, "dek");
    auto c = GetString(*j, "ct");
    if (w.ok() && c.ok()) {
      auto wd = Base64UrlDecode(*w);
      auto cd = Base64UrlDecode(*c);
      if (wd.ok() && cd.ok()) {
        wrapped = std::move(*wd);
        ct = std::move(*cd);
      }
    }
  }
  const std::string where = absl::StrCat("version ", version, " of '", path, "'");
  if (!wrapped) return absl::DataLossError(absl::StrCat("record of ", where, " is malformed"));
  auto header = ParseSealedHeader(*wrapped);
  if (!header.ok()) {
    return absl::DataLossError(absl::StrCat("wrapped data key of ", where, " is malformed"));
  }
  (*fields)["key_version"] = std::to_string(header->key_version);
  auto kek = KekForDecrypt(header->key_version);
  if (!kek.ok()) {
    if (kek.status().code() == absl::StatusCode::kFailedPrecondition) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cannot read ", where, ": its data key is wrapped with ", kek.status().message()));
    }
    return kek.status();
  }
  auto dek = ::kos::Open(*kek, header->key_version, *wrapped, DekAad(path, version));
  if (!dek.ok()) {
    return absl::DataLossError(
        absl::StrCat("data key of ", where, " fails authentication (corrupted or moved)"));
  }
  auto value = ::kos::Open(*dek, 0, *ct, ValueAad(path, version));
  if (!value.ok()) {
    return absl::DataLossError(
        absl::StrCat("ciphertext of ", where, " fails authentication (corrupted or moved)"));
  }
  Secret s;
  s.path = std::string(path);
  s.version = version;
  s.created = info->created;
  s.value = std::move(*value);
  return s;
}

absl::Status Vault::Impl::ChangeVersions(absl::string_view path, std::vector<uint64_t> versions,
                                         VersionChange change, AuditFields* fields) {
  KOS_RETURN_IF_ERROR(ValidateSecretPath(path));
  for (int attempt = 0; attempt < kWriteRetries; ++attempt) {
    KOS_ASSIGN_OR_RETURN(LoadedMeta m, RequireMeta(path));
    std::vector<uint64_t> targets = versions;
    if (targets.empty()) {
      if (change != VersionChange::kDelete) {
        return absl::InvalidArgumentError("list the versions to undelete or destroy");
      }
      targets.push_back(m.md.current_version);
    }
    (*fields)["versions"] = absl::StrJoin(targets, ",");
    const absl::Time now = options_.clock->Now();
    std::vector<WriteOp> ops;
    for (uint64_t v : targets) {
      SecretVersionInfo* info = FindVersion(m.md, v);
      if (info == nullptr) {
        return absl::NotFoundError(absl::StrCat("'", path, "' has no version ", v));
      }
      switch (change) {
        case VersionChange::kDelete:
          if (!info->deletion_time && !info->destroyed) info->deletion_time = now;
          break;
        case VersionChange::kUndelete:
          if (info->destroyed) {
            return absl::FailedPreconditionError(absl::StrCat(
                "version ", v, " of '", path, "' is destroyed and cannot be restored"));
          }
          info->deletion_time.reset();
          break;
        case VersionChange::kDestroy:
          if (!info->destroyed) ops.push_back(WriteOp::Delete(kDataCollection, DataKey(path, v)));
          info->destroyed = true;
          break;
      }
    }
    m.md.updated = now;
    ops.push_back(WriteOp::Put(kMetaCollection, std::string(path), DumpJson(MetaToJson(m.md)),
                               m.record_version));
    auto committed = options_.store->Commit(ops);
    if (committed.ok()) return absl::OkStatus();
    if (committed.status().code() != absl::StatusCode::kFailedPrecondition) {
      return committed.status();
    }
  }
  return absl::AbortedError(absl::StrCat("'", path, "' kept changing concurrently; retry"));
}

absl::Status Vault::Impl::DeleteMetadataLocked(absl::string_view path) {
  KOS_RETURN_IF_ERROR(ValidateSecretPath(path));
  for (int attempt = 0; attempt < kWriteRetries; ++attempt) {
    KOS_ASSIGN_OR_RETURN(LoadedMeta m, RequireMeta(path));
    std::vector<WriteOp> ops;
    for (const auto& v : m.md.versions) {
      if (!v.destroyed) ops.push_back(WriteOp::Delete(kDataCollection, DataKey(path, v.version)));
    }
    ops.push_back(WriteOp::Delete(kMetaCollection, std::string(path), m.record_version));
    auto committed = options_.store->Commit(ops);
    if (committed.ok()) return absl::OkStatus();
    if (committed.status().code() != absl::StatusCode::kFailedPrecondition) {
      return committed.status();
    }
  }
  return absl::AbortedError(absl::StrCat("'", path, "' kept changing concurrently; retry"));
}

absl::Status Vault::Impl::UpdateMetadataLocked(absl::string_view path,
                                               const VaultMetadataUpdate& update) {
  KOS_RETURN_IF_ERROR(ValidateSecretPath(path));
  if (update.custom_metadata) {
    if (update.custom_metadata->size() > 64) {
      return absl::InvalidArgumentError("custom metadata has more than 64 entries");
    }
    for (const auto& [k, v] : *update.custom_metadata) {
      if (k.empty() || k.size() > 128 || v.size() > 512 || !IsValidUtf8(k) || !IsValidUtf8(v)) {
        return absl::InvalidArgumentError(
            "custom metadata keys must be 1..128 and values 0..512 bytes of UTF-8");
      }
    }
  }
  for (int attempt = 0; attempt < kWriteRetries; ++attempt) {
    KOS_ASSIGN_OR_RETURN(auto loaded, LoadMeta(path));
    LoadedMeta m = loaded ? std::move(*loaded) : LoadedMeta{};
    const absl::Time now = options_.clock->Now();
    if (!loaded) {
      m.md.path = std::string(path);
      m.md.created = now;
    }
    m.md.updated = now;
    std::vector<WriteOp> ops;
    if (update.max_versions) {
      m.md.max_versions = *update.max_versions;
      const uint32_t max =
          m.md.max_versions != 0 ? m.md.max_versions : options_.default_max_versions;
      while (max > 0 && m.md.versions.size() > max) {
        const SecretVersionInfo& oldest = m.md.versions.front();
        if (!oldest.destroyed) {
          ops.push_back(WriteOp::Delete(kDataCollection, DataKey(path, oldest.version)));
        }
        m.md.versions.erase(m.md.versions.begin());
      }
    }
    if (update.custom_metadata) m.md.custom_metadata = *update.custom_metadata;
    ops.push_back(WriteOp::Put(kMetaCollection, std::string(path), DumpJson(MetaToJson(m.md)),
                               m.record_version));
    auto committed = options_.store->Commit(ops);
    if (committed.ok()) return absl::OkStatus();
    if (committed.status().code() != absl::StatusCode::kFailedPrecondition) {
      return committed.status();
    }
  }
  return absl::AbortedError(absl::StrCat("'", path, "' kept changing concurrently; retry"));
}

absl::StatusOr<std::vector<std::string>> Vault::Impl::ListLocked(absl::string_view prefix) {
  if (!prefix.empty()) {
    absl::string_view p = prefix;
    if (p.back() == '/') p.remove_suffix(1);
    // A prefix may end mid-segment ("kv/te"), so validate its characters only.
    for (char c : p) {
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' ||
            c == '/')) {
        return absl::InvalidArgumentError("list prefix may contain only A-Z a-z 0-9 _ - . /");
      }
    }
    if (prefix.size() > 256) return absl::InvalidArgumentError("list prefix too long");
  }
  std::vector<std::string> out;
  ScanOptions so;
  so.prefix = std::string(prefix);
  so.keys_only = true;
  so.limit = 1000;
  do {
    KOS_ASSIGN_OR_RETURN(ScanPage page, options_.store->Scan(kMetaCollection, so));
    for (const Record& r : page.records) out.push_back(r.key);
    so.page_token = page.next_page_token;
  } while (!so.page_token.empty());
  return out;
}

absl::StatusOr<RewrapResult> Vault::Impl::RewrapLocked(size_t batch_size,
                                                       absl::string_view resume_token,
                                                       AuditFields* fields) {
  if (batch_size == 0 || batch_size > 10000) {
    return absl::InvalidArgumentError("rewrap batch_size must be 1..10000");
  }
  ScanOptions so;
  so.page_token = std::string(resume_token);
  so.limit = batch_size;
  auto page = options_.store->Scan(kDataCollection, so);
  if (!page.ok()) {
    if (page.status().code() == absl::StatusCode::kInvalidArgument) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad rewrap resume token: ", page.status().message()));
    }
    return page.status();
  }
  KOS_ASSIGN_OR_RETURN(auto kek, CurrentKek());
  RewrapResult result;
  for (const Record& rec : page->records) {
    ++result.scanned;
    auto j = ParseJson(rec.value);
    if (!j.ok() || !j->is_object()) {
      return absl::DataLossError(absl::StrCat("vault data record '", rec.key, "' is malformed"));
    }
    auto w = GetString(*j, "dek");
    if (!w.ok()) {
      return absl::DataLossError(absl::StrCat("vault data record '", rec.key, "' is malformed"));
    }
    auto wrapped = Base64UrlDecode(*w);
    if (!wrapped.ok()) {
      return absl::DataLossError(absl::StrCat("vault data record '", rec.key, "' is malformed"));
    }
    auto header = ParseSealedHeader(*wrapped);
    if (!header.ok()) {
      return absl::DataLossError(absl::StrCat("vault data record '", rec.key, "' is malformed"));
    }
    if (header->key_version == kek.first) continue;
    // Record key is "<path>@<20-digit version>".
    const size_t at = rec.key.rfind('@');
    uint64_t version = 0;
    if (at == std::string::npos || !absl::SimpleAtoi(rec.key.substr(at + 1), &version)) {
      return absl::DataLossError(
          absl::StrCat("vault data record key '", rec.key, "' is malformed"));
    }
    const std::string path = rec.key.substr(0, at);
    auto old_kek = KekForDecrypt(header->key_version);
    if (!old_kek.ok()) {
      return absl::FailedPreconditionError(absl::StrCat("cannot rewrap '", path, "' version ",
                                                        version, ": ", old_kek.status().message()));
    }
    auto dek = ::kos::Open(*old_kek, header->key_version, *wrapped, DekAad(path, version));
    if (!dek.ok()) {
      return absl::DataLossError(
          absl::StrCat("data key of '", path, "' version ", version, " fails authentication"));
    }
    KOS_ASSIGN_OR_RETURN(std::string rewrapped, Seal(kek.second, kek.first, dek->view(),
                                                     DekAad(path, version), header->algorithm));
    (*j)["dek"] = Base64UrlEncode(rewrapped);
    auto put = options_.store->Put(kDataCollection, rec.key, DumpJson(*j), rec.version);
    if (put.ok()) {
      ++result.rewrapped;
    } else if (put.status().code() != absl::StatusCode::kFailedPrecondition) {
      return put.status();
    }
    // FAILED_PRECONDITION: destroyed or pruned meanwhile; nothing to rewrap.
  }
  result.resume_token = page->next_page_token;
  (*fields)["scanned"] = std::to_string(result.scanned);
  (*fields)["rewrapped"] = std::to_string(result.rewrapped);
  (*fields)["key_version"] = std::to_string(kek.first);
  return result;
}

// ---------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------

Vault::Vault(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Vault::~Vault() = default;

absl::StatusOr<std::unique_ptr<Vault>> Vault::Open(const VaultOptions& options) {
  if (options.store == nullptr)
    return absl::InvalidArgumentError("VaultOptions::store is required");
  if (options.audit == nullptr)
    return absl::InvalidArgumentError("VaultOptions::audit is required");
  if (options.clock == nullptr) return absl::InvalidArgumentError("VaultOptions::clock is null");
  if (options.algorithm != AeadAlgorithm::kXChaCha20Poly1305 &&
      options.algorithm != AeadAlgorithm::kAes256Gcm) {
    return absl::InvalidArgumentError(
        "VaultOptions::algorithm must be XChaCha20-Poly1305 or AES-256-GCM");
  }
  if (options.algorithm == AeadAlgorithm::kAes256Gcm && !Aes256GcmAvailable()) {
    return absl::FailedPreconditionError("AES-256-GCM is not available on this CPU");
  }
  KOS_RETURN_IF_ERROR(CryptoInit());
  KOS_ASSIGN_OR_RETURN(std::optional<SecretBytes> master, vault_internal::LoadMasterKey(options));
  bool generated = false;
  if (!master) {
    auto existing = options.store->Get(kKeyringCollection, kKeyringKey);
    if (existing.ok()) {
      return absl::FailedPreconditionError(
          "no vault master key configured, but this store already has a vault keyring; set the "
          "master key (environment variable or key file) it was created with");
    }
    if (existing.status().code() != absl::StatusCode::kNotFound) return existing.status();
    if (!options.development_mode) {
      return absl::FailedPreconditionError(absl::StrCat(
          "no vault master key: set $",
          options.master_key_env.empty() ? "KOS_VAULT_MASTER_KEY" : options.master_key_env,
          " (base64url of 32 bytes) or VaultOptions::master_key_file, or enable "
          "development_mode to generate one"));
    }
    master = SecretBytes::Random(vault_internal::kMasterKeyBytes);
    if (!options.master_key_file.empty()) {
      KOS_RETURN_IF_ERROR(vault_internal::WriteKeyFile(options.master_key_file, *master));
    }
    generated = true;
  }
  auto impl = std::make_unique<Impl>(options, std::move(*master));
  if (generated) {
    AuditEvent ev;
    ev.time = options.clock->Now();
    ev.actor = "kos-vault";
    ev.action = "vault.master_key.generated";
    ev.resource = options.master_key_file.empty() ? "(memory only)" : options.master_key_file;
    ev.outcome = "ok";
    ev.fields["warning"] =
        "development mode generated a vault master key; do not use in production";
    KOS_RETURN_IF_ERROR(options.audit->Record(ev));
  }
  KOS_RETURN_IF_ERROR(impl->Init());
  return std::unique_ptr<Vault>(new Vault(std::move(impl)));
}

absl::StatusOr<uint64_t> Vault::Put(absl::string_view actor, absl::string_view path,
                                    absl::string_view value, const VaultPutOptions& options) {
  return impl_->Audited(actor, "kv.put", path,
                        [&](AuditFields* f) { return impl_->PutLocked(path, value, options, f); });
}

absl::StatusOr<uint64_t> Vault::PutJson(absl::string_view actor, absl::string_view path,
                                        const Json& value, const VaultPutOptions& options) {
  std::string text = DumpJson(value);
  auto r = Put(actor, path, text, options);
  sodium_memzero(text.data(), text.size());
  return r;
}

absl::StatusOr<Secret> Vault::Get(absl::string_view actor, absl::string_view path,
                                  uint64_t version) {
  return impl_->Audited(actor, "kv.get", path,
                        [&](AuditFields* f) { return impl_->GetLocked(path, version, f); });
}

absl::StatusOr<Json> Vault::GetJson(absl::string_view actor, absl::string_view path,
                                    uint64_t version) {
  KOS_ASSIGN_OR_RETURN(Secret s, Get(actor, path, version));
  auto j = ParseJson(s.value.view());
  if (!j.ok()) {
    // The parser's message can quote input bytes: do not pass it on.
    return absl::InvalidArgumentError(
        absl::StrCat("version ", s.version, " of '", path, "' is not valid JSON"));
  }
  return j;
}

absl::Status Vault::Delete(absl::string_view actor, absl::string_view path,
                           const std::vector<uint64_t>& versions) {
  return impl_->Audited(actor, "kv.delete", path, [&](AuditFields* f) {
    return impl_->ChangeVersions(path, versions, Impl::VersionChange::kDelete, f);
  });
}

absl::Status Vault::Undelete(absl::string_view actor, absl::string_view path,
                             const std::vector<uint64_t>& versions) {
  return impl_->Audited(actor, "kv.undelete", path, [&](AuditFields* f) {
    return impl_->ChangeVersions(path, versions, Impl::VersionChange::kUndelete, f);
  });
}

absl::Status Vault::Destroy(absl::string_view actor, absl::string_view path,
                            const std::vector<uint64_t>& versions) {
  return impl_->Audited(actor, "kv.destroy", path, [&](AuditFields* f) {
    return impl_->ChangeVersions(path, versions, Impl::VersionChange::kDestroy, f);
  });
}

absl::Status Vault::DeleteMetadata(absl::string_view actor, absl::string_view path) {
  return impl_->Audited(actor, "kv.metadata.delete", path,
                        [&](AuditFields*) { return impl_->DeleteMetadataLocked(path); });
}

absl::StatusOr<SecretMetadata> Vault::GetMetadata(absl::string_view actor, absl::string_view path) {
  return impl_->Audited(actor, "kv.metadata.get", path,
                        [&](AuditFields*) -> absl::StatusOr<SecretMetadata> {
                          KOS_RETURN_IF_ERROR(ValidateSecretPath(path));
                          KOS_ASSIGN_OR_RETURN(auto m, impl_->RequireMeta(path));
                          return std::move(m.md);
                        });
}

absl::Status Vault::UpdateMetadata(absl::string_view actor, absl::string_view path,
                                   const VaultMetadataUpdate& update) {
  return impl_->Audited(actor, "kv.metadata.put", path,
                        [&](AuditFields*) { return impl_->UpdateMetadataLocked(path, update); });
}

absl::StatusOr<std::vector<std::string>> Vault::List(absl::string_view actor,
                                                     absl::string_view prefix) {
  return impl_->Audited(actor, "kv.list", prefix, [&](AuditFields* f) {
    auto r = impl_->ListLocked(prefix);
    if (r.ok()) (*f)["count"] = std::to_string(r->size());
    return r;
  });
}

absl::StatusOr<uint32_t> Vault::Rotate(absl::string_view actor) {
  return impl_->Audited(actor, "keyring.rotate", "keyring",
                        [&](AuditFields* f) -> absl::StatusOr<uint32_t> {
                          uint32_t v = 0;
                          KOS_RETURN_IF_ERROR(impl_->UpdateKeyring([&](KeySet* k) {
                            v = k->AddRandomKey();
                            return absl::OkStatus();
                          }));
                          (*f)["key_version"] = std::to_string(v);
                          return v;
                        });
}

absl::StatusOr<RewrapResult> Vault::RewrapAll(absl::string_view actor, size_t batch_size,
                                              absl::string_view resume_token) {
  return impl_->Audited(actor, "keyring.rewrap", "keyring", [&](AuditFields* f) {
    return impl_->RewrapLocked(batch_size, resume_token, f);
  });
}

absl::Status Vault::SetMinDecryptionVersion(absl::string_view actor, uint32_t version) {
  return impl_->Audited(actor, "keyring.min_decryption_version", "keyring", [&](AuditFields* f) {
    (*f)["min_decryption_version"] = std::to_string(version);
    return impl_->UpdateKeyring([&](KeySet* k) {
      if (version == 0 || version > k->current) {
        return absl::InvalidArgumentError(
            absl::StrCat("minimum decryption version must be 1..", k->current, ", got ", version));
      }
      k->min_decryption = version;
      return absl::OkStatus();
    });
  });
}

absl::StatusOr<KeyringInfo> Vault::GetKeyringInfo(absl::string_view actor) {
  return impl_->Audited(actor, "keyring.read", "keyring",
                        [&](AuditFields*) -> absl::StatusOr<KeyringInfo> {
                          absl::MutexLock l(&impl_->mu_);
                          KOS_RETURN_IF_ERROR(impl_->ReloadKeyringLocked());
                          KeyringInfo info;
                          info.current_version = impl_->keyring_.current;
                          info.min_decryption_version = impl_->keyring_.min_decryption;
                          for (const auto& [v, k] : impl_->keyring_.keys) {
                            info.versions.push_back(v);
                          }
                          return info;
                        });
}

}  // namespace kos
