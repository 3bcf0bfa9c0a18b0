// Transit: encryption as a service with named, versioned keys. Each named
// key set is sealed under the master key in collection vault_transit.
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "kos/status.h"
#include "vault/vault_impl.h"

namespace kos {

using vault_internal::KeySet;

namespace {

constexpr char kTransitCollection[] = "vault_transit";
constexpr char kCiphertextPrefix[] = "kos:v";

std::string KeyAad(absl::string_view name) {
  return absl::StrCat("kos-vault-transit-key", absl::string_view("\0", 1), name);
}

std::string DataAad(absl::string_view name, absl::string_view context) {
  return absl::StrCat("kos-transit", absl::string_view("\0", 1), name, absl::string_view("\0", 1),
                      context);
}

struct ParsedCiphertext {
  uint32_t version = 0;
  std::string sealed;
};

absl::StatusOr<ParsedCiphertext> ParseCiphertext(absl::string_view text) {
  const auto bad = [](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("transit ciphertext must look like kos:v<N>:<base64url>: ", why));
  };
  if (!absl::StartsWith(text, kCiphertextPrefix)) return bad("missing kos:v prefix");
  text.remove_prefix(sizeof(kCiphertextPrefix) - 1);
  const size_t colon = text.find(':');
  if (colon == absl::string_view::npos) return bad("missing ':' after the version");
  ParsedCiphertext p;
  if (!absl::SimpleAtoi(text.substr(0, colon), &p.version) || p.version == 0 ||
      text.substr(0, colon).front() == '+' || text.substr(0, colon).front() == '0') {
    return bad("bad version number");
  }
  auto sealed = Base64UrlDecode(text.substr(colon + 1));
  if (!sealed.ok()) return bad(sealed.status().message());
  p.sealed = std::move(*sealed);
  auto header = ParseSealedHeader(p.sealed);
  if (!header.ok()) return bad(header.status().message());
  if (header->key_version != p.version) {
    return bad("version prefix does not match the sealed key version");
  }
  return p;
}

}  // namespace

absl::StatusOr<Vault::Impl::LoadedTransitKey> Vault::Impl::LoadTransitKey(absl::string_view name) {
  KOS_RETURN_IF_ERROR(vault_internal::ValidateKeyName(name));
  auto rec = options_.store->Get(kTransitCollection, name);
  if (!rec.ok()) {
    if (rec.status().code() == absl::StatusCode::kNotFound) {
      return absl::NotFoundError(absl::StrCat("no transit key named '", name, "'"));
    }
    return rec.status();
  }
  auto set = vault_internal::OpenKeySet(rec->value, master_, KeyAad(name));
  if (!set.ok()) {
    return absl::DataLossError(
        absl::StrCat("transit key '", name, "' fails authentication under the master key"));
  }
  return LoadedTransitKey{std::move(*set), rec->version};
}

absl::Status Vault::Impl::UpdateTransitKey(absl::string_view name, bool create,
                                           const std::function<absl::Status(KeySet*)>& change) {
  KOS_RETURN_IF_ERROR(vault_internal::ValidateKeyName(name));
  for (int attempt = 0; attempt < 5; ++attempt) {
    LoadedTransitKey k;
    if (!create) {
      KOS_ASSIGN_OR_RETURN(k, LoadTransitKey(name));
    }
    KOS_RETURN_IF_ERROR(change(&k.keys));
    KOS_ASSIGN_OR_RETURN(std::string sealed,
                         vault_internal::SealKeySet(k.keys, master_, KeyAad(name)));
    auto put = options_.store->Put(kTransitCollection, name, sealed, k.record_version);
    if (put.ok()) return absl::OkStatus();
    if (put.status().code() != absl::StatusCode::kFailedPrecondition) return put.status();
    if (create) {
      return absl::AlreadyExistsError(absl::StrCat("transit key '", name, "' already exists"));
    }
  }
  return absl::AbortedError(absl::StrCat("transit key '", name, "' kept changing; retry"));
}

absl::Status Vault::CreateTransitKey(absl::string_view actor, absl::string_view name) {
  return impl_->Audited(actor, "transit.create", name, [&](AuditFields*) {
    return impl_->UpdateTransitKey(name, /*create=*/true, [](KeySet* k) {
      k->AddRandomKey();
      return absl::OkStatus();
    });
  });
}

absl::StatusOr<uint32_t> Vault::RotateTransitKey(absl::string_view actor, absl::string_view name) {
  return impl_->Audited(actor, "transit.rotate", name,
                        [&](AuditFields* f) -> absl::StatusOr<uint32_t> {
                          uint32_t v = 0;
                          KOS_RETURN_IF_ERROR(impl_->UpdateTransitKey(name, false, [&](KeySet* k) {
                            v = k->AddRandomKey();
                            return absl::OkStatus();
                          }));
                          (*f)["key_version"] = std::to_string(v);
                          return v;
                        });
}

absl::Status Vault::SetTransitMinDecryptionVersion(absl::string_view actor, absl::string_view name,
                                                   uint32_t version) {
  return impl_->Audited(actor, "transit.min_decryption_version", name, [&](AuditFields* f) {
    (*f)["min_decryption_version"] = std::to_string(version);
    return impl_->UpdateTransitKey(name, false, [&](KeySet* k) {
      if (version == 0 || version > k->current) {
        return absl::InvalidArgumentError(
            absl::StrCat("minimum decryption version must be 1..", k->current, ", got ", version));
      }
      k->min_decryption = version;
      return absl::OkStatus();
    });
  });
}

absl::StatusOr<TransitKeyInfo> Vault::GetTransitKey(absl::string_view actor,
                                                    absl::string_view name) {
  return impl_->Audited(
      actor, "transit.read", name, [&](AuditFields*) -> absl::StatusOr<TransitKeyInfo> {
        KOS_ASSIGN_OR_RETURN(auto k, impl_->LoadTransitKey(name));
        return TransitKeyInfo{std::string(name), k.keys.current, k.keys.min_decryption};
      });
}

absl::StatusOr<std::string> Vault::TransitEncrypt(absl::string_view actor, absl::string_view name,
                                                  absl::string_view plaintext,
                                                  absl::string_view context) {
  return impl_->Audited(
      actor, "transit.encrypt", name, [&](AuditFields* f) -> absl::StatusOr<std::string> {
        if (plaintext.size() > impl_->options_.max_value_bytes) {
          return absl::InvalidArgumentError(absl::StrCat("plaintext is ", plaintext.size(),
                                                         " bytes; the limit is ",
                                                         impl_->options_.max_value_bytes));
        }
        KOS_ASSIGN_OR_RETURN(auto k, impl_->LoadTransitKey(name));
        const uint32_t v = k.keys.current;
        (*f)["key_version"] = std::to_string(v);
        KOS_ASSIGN_OR_RETURN(std::string sealed,
                             Seal(k.keys.keys.at(v), v, plaintext, DataAad(name, context),
                                  impl_->options_.algorithm));
        return absl::StrCat(kCiphertextPrefix, v, ":", Base64UrlEncode(sealed));
      });
}

absl::StatusOr<SecretBytes> Vault::TransitDecrypt(absl::string_view actor, absl::string_view name,
                                                  absl::string_view ciphertext,
                                                  absl::string_view context) {
  return impl_->Audited(
      actor, "transit.decrypt", name, [&](AuditFields* f) -> absl::StatusOr<SecretBytes> {
        KOS_ASSIGN_OR_RETURN(ParsedCiphertext p, ParseCiphertext(ciphertext));
        (*f)["key_version"] = std::to_string(p.version);
        KOS_ASSIGN_OR_RETURN(auto k, impl_->LoadTransitKey(name));
        KOS_ASSIGN_OR_RETURN(
            const SecretBytes* key,
            k.keys.ForDecrypt(p.version, absl::StrCat("transit key '", name, "'")));
        return ::kos::Open(*key, p.version, p.sealed, DataAad(name, context));
      });
}

absl::StatusOr<std::string> Vault::TransitRewrap(absl::string_view actor, absl::string_view name,
                                                 absl::string_view ciphertext,
                                                 absl::string_view context) {
  return impl_->Audited(
      actor, "transit.rewrap", name, [&](AuditFields* f) -> absl::StatusOr<std::string> {
        KOS_ASSIGN_OR_RETURN(ParsedCiphertext p, ParseCiphertext(ciphertext));
        KOS_ASSIGN_OR_RETURN(auto k, impl_->LoadTransitKey(name));
        KOS_ASSIGN_OR_RETURN(
            const SecretBytes* old_key,
            k.keys.ForDecrypt(p.version, absl::StrCat("transit key '", name, "'")));
        KOS_ASSIGN_OR_RETURN(SecretBytes plain,
                             ::kos::Open(*old_key, p.version, p.sealed, DataAad(name, context)));
        const uint32_t v = k.keys.current;
        (*f)["from_version"] = std::to_string(p.version);
        (*f)["key_version"] = std::to_string(v);
        KOS_ASSIGN_OR_RETURN(std::string sealed,
                             Seal(k.keys.keys.at(v), v, plain.view(), DataAad(name, context),
                                  impl_->options_.algorithm));
        return absl::StrCat(kCiphertextPrefix, v, ":", Base64UrlEncode(sealed));
      });
}

}  // namespace kos
