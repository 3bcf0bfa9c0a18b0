// Private: the state behind kos::Vault, shared by vault.cc and transit.cc.
#ifndef KOS_SRC_VAULT_VAULT_IMPL_H_
#define KOS_SRC_VAULT_VAULT_IMPL_H_

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "kos/vault.h"
#include "vault/vault_internal.h"

namespace kos {

using AuditFields = std::map<std::string, std::string>;

class Vault::Impl {
 public:
  Impl(const VaultOptions& options, SecretBytes master);

  // Loads or creates the keyring.
  absl::Status Init();

  // Runs `body` between a "request" audit event and an outcome event
  // (fail-closed; see vault.h).
  template <typename F>
  auto Audited(absl::string_view actor, absl::string_view action, absl::string_view resource,
               F&& body) -> decltype(body(std::declval<AuditFields*>()));

  struct LoadedMeta {
    SecretMetadata md;
    uint64_t record_version = 0;  // Store version of the metadata record; 0: new
  };
  enum class VersionChange { kDelete, kUndelete, kDestroy };

  absl::StatusOr<std::optional<LoadedMeta>> LoadMeta(absl::string_view path);
  absl::StatusOr<LoadedMeta> RequireMeta(absl::string_view path);
  absl::StatusOr<uint64_t> PutLocked(absl::string_view path, absl::string_view value,
                                     const VaultPutOptions& options, AuditFields* fields);
  absl::StatusOr<Secret> GetLocked(absl::string_view path, uint64_t version, AuditFields* fields);
  absl::Status ChangeVersions(absl::string_view path, std::vector<uint64_t> versions,
                              VersionChange change, AuditFields* fields);
  absl::Status DeleteMetadataLocked(absl::string_view path);
  absl::Status UpdateMetadataLocked(absl::string_view path, const VaultMetadataUpdate& update);
  absl::StatusOr<std::vector<std::string>> ListLocked(absl::string_view prefix);
  absl::StatusOr<RewrapResult> RewrapLocked(size_t batch_size, absl::string_view resume_token,
                                            AuditFields* fields);

  // Keyring access. Keys are cloned out so no lock is held during crypto.
  absl::StatusOr<std::pair<uint32_t, SecretBytes>> CurrentKek() ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<SecretBytes> KekForDecrypt(uint32_t version) ABSL_LOCKS_EXCLUDED(mu_);
  // Applies `change` to a copy of the keyring and stores it with CAS,
  // retrying on fresh state if another writer got there first.
  absl::Status UpdateKeyring(const std::function<absl::Status(vault_internal::KeySet*)>& change)
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status ReloadKeyringLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Transit.
  struct LoadedTransitKey {
    vault_internal::KeySet keys;
    uint64_t record_version = 0;
  };
  absl::StatusOr<LoadedTransitKey> LoadTransitKey(absl::string_view name);
  absl::Status UpdateTransitKey(absl::string_view name, bool create,
                                const std::function<absl::Status(vault_internal::KeySet*)>& change);

  const VaultOptions options_;
  const SecretBytes master_;
  absl::Mutex mu_;
  vault_internal::KeySet keyring_ ABSL_GUARDED_BY(mu_);
  uint64_t keyring_record_version_ ABSL_GUARDED_BY(mu_) = 0;
};

inline absl::Status StatusOf(const absl::Status& s) { return s; }
template <typename T>
absl::Status StatusOf(const absl::StatusOr<T>& s) {
  return s.status();
}

template <typename F>
auto Vault::Impl::Audited(absl::string_view actor, absl::string_view action,
                          absl::string_view resource, F&& body)
    -> decltype(body(std::declval<AuditFields*>())) {
  AuditEvent ev;
  ev.time = options_.clock->Now();
  ev.actor = std::string(actor.substr(0, 256));
  ev.action = absl::StrCat("vault.", action);
  ev.resource = std::string(resource.substr(0, 300));
  ev.outcome = "request";
  absl::Status s = options_.audit->Record(ev);
  if (!s.ok()) {
    return absl::UnavailableError(absl::StrCat("audit sink refused the request event, so ",
                                               ev.action, " was not performed: ", s.message()));
  }
  AuditFields fields;
  auto result = [&]() -> decltype(body(&fields)) {
    if (actor.empty()) return absl::InvalidArgumentError("vault: actor must not be empty");
    return body(&fields);
  }();
  ev.time = options_.clock->Now();
  ev.outcome = AuditOutcome(StatusOf(result));
  ev.fields = std::move(fields);
  s = options_.audit->Record(ev);
  if (!s.ok()) {
    return absl::UnavailableError(absl::StrCat(
        "audit sink failed to record the outcome of ", ev.action,
        StatusOf(result).ok() ? " (the operation completed but its result is withheld): " : ": ",
        s.message()));
  }
  return result;
}

}  // namespace kos

#endif  // KOS_SRC_VAULT_VAULT_IMPL_H_
