#include "absl/strings/str_cat.h"
#include "kos/artifact.h"
#include "kos/status.h"

namespace kos {
namespace {

// Old content keys must outlive every artifact sealed with them: never prune.
constexpr uint32_t kKeepVersions = 100000;

// The latest version of `path`, created with 32 random bytes if absent.
absl::StatusOr<uint64_t> Ensure(Vault* vault, absl::string_view actor, const std::string& path) {
  auto meta = vault->GetMetadata(actor, path);
  if (meta.ok()) return meta->current_version;
  if (!absl::IsNotFound(meta.status())) return meta.status();
  SecretBytes key = SecretBytes::Random(kAeadKeyBytes);
  auto v = vault->Put(actor, path, key.view(), VaultPutOptions{0});
  if (absl::IsFailedPrecondition(v.status())) {  // another process created it first
    KOS_ASSIGN_OR_RETURN(SecretMetadata m, vault->GetMetadata(actor, path));
    return m.current_version;
  }
  KOS_RETURN_IF_ERROR(v.status());
  VaultMetadataUpdate u;
  u.max_versions = kKeepVersions;
  KOS_RETURN_IF_ERROR(vault->UpdateMetadata(actor, path, u));
  return *v;
}

}  // namespace

absl::StatusOr<std::unique_ptr<VaultArtifactKeys>> VaultArtifactKeys::Load(
    Vault* vault, absl::string_view actor, absl::string_view prefix) {
  if (vault == nullptr) return absl::InvalidArgumentError("VaultArtifactKeys needs a vault");
  std::string content_path = absl::StrCat(prefix, "/content-key");
  std::string url_path = absl::StrCat(prefix, "/url-key");
  KOS_ASSIGN_OR_RETURN(uint64_t latest, Ensure(vault, actor, content_path));
  KOS_RETURN_IF_ERROR(Ensure(vault, actor, url_path).status());
  std::unique_ptr<VaultArtifactKeys> keys(new VaultArtifactKeys());
  KOS_ASSIGN_OR_RETURN(SecretMetadata meta, vault->GetMetadata(actor, content_path));
  for (const SecretVersionInfo& v : meta.versions) {
    auto s = vault->Get(actor, content_path, v.version);
    if (!s.ok()) continue;  // destroyed versions cannot decrypt anything any more
    if (s->value.size() != kAeadKeyBytes) {
      return absl::DataLossError(
          absl::StrCat(content_path, " version ", v.version, " is not a 32-byte key"));
    }
    keys->content_[static_cast<uint32_t>(v.version)] = std::move(s->value);
  }
  if (!keys->content_.count(static_cast<uint32_t>(latest))) {
    return absl::FailedPreconditionError(
        absl::StrCat("the latest ", content_path, " is not readable"));
  }
  keys->current_ = static_cast<uint32_t>(latest);
  KOS_ASSIGN_OR_RETURN(Secret url, vault->Get(actor, url_path));
  keys->url_key_ = std::move(url.value);
  return keys;
}

absl::StatusOr<uint32_t> VaultArtifactKeys::Rotate(Vault* vault, absl::string_view actor,
                                                   absl::string_view prefix) {
  std::string content_path = absl::StrCat(prefix, "/content-key");
  KOS_RETURN_IF_ERROR(Ensure(vault, actor, content_path).status());
  SecretBytes key = SecretBytes::Random(kAeadKeyBytes);
  KOS_ASSIGN_OR_RETURN(uint64_t v, vault->Put(actor, content_path, key.view()));
  return static_cast<uint32_t>(v);
}

void VaultArtifactKeys::Configure(ArtifactStoreOptions* o) const {
  o->content_key = &content_.at(current_);
  o->content_key_version = current_;
  o->url_key = &url_key_;
  o->key_lookup = [this](uint32_t version) -> absl::StatusOr<const SecretBytes*> {
    auto it = content_.find(version);
    if (it == content_.end()) {
      return absl::NotFoundError(
          absl::StrCat("artifact content key version ", version, " is not available"));
    }
    return &it->second;
  };
}

}  // namespace kos
