#include <utility>

#include "absl/strings/str_cat.h"
#include "kos/crypto.h"
#include "kos/signed_task.h"
#include "kos/status.h"
#include "signed_task/envelope.h"

namespace kos {
namespace {

using signed_task_internal::ValidateName;

// One record per kid:
// {"kid":..,"iss":..,"pub":<base64url>,"status":"active"|"revoked","added":s[,"revoked":s]}
std::string EncodeKey(const TrustedKey& k) {
  Json j = {{"kid", k.kid},
            {"iss", k.issuer},
            {"pub", Base64UrlEncode(k.public_key)},
            {"status", k.status == TrustedKeyStatus::kActive ? "active" : "revoked"},
            {"added", absl::ToUnixSeconds(k.added)}};
  if (k.status == TrustedKeyStatus::kRevoked) j["revoked"] = absl::ToUnixSeconds(k.revoked);
  return DumpJson(j);
}

absl::StatusOr<TrustedKey> DecodeKey(absl::string_view kid, absl::string_view value) {
  auto corrupt = [&](absl::string_view why) {
    return absl::DataLossError(
        absl::StrCat("key registry: record for kid '", kid, "' is corrupt: ", why));
  };
  auto j = ParseJson(value);
  if (!j.ok()) return corrupt(j.status().message());
  TrustedKey k;
  auto kid_field = GetString(*j, "kid");
  auto iss = GetString(*j, "iss");
  auto pub = GetString(*j, "pub");
  auto status = GetString(*j, "status");
  auto added = GetInt(*j, "added");
  for (const absl::Status& s :
       {kid_field.status(), iss.status(), pub.status(), status.status(), added.status()}) {
    if (!s.ok()) return corrupt(s.message());
  }
  if (*kid_field != kid) return corrupt("kid does not match its key");
  auto raw = Ed25519PublicKeyFromBase64Url(*pub);
  if (!raw.ok()) return corrupt("bad public key");
  k.kid = *std::move(kid_field);
  k.issuer = *std::move(iss);
  k.public_key = *std::move(raw);
  k.added = absl::FromUnixSeconds(*added);
  if (*status == "active") {
    k.status = TrustedKeyStatus::kActive;
  } else if (*status == "revoked") {
    k.status = TrustedKeyStatus::kRevoked;
    auto revoked = GetInt(*j, "revoked");
    if (!revoked.ok()) return corrupt(revoked.status().message());
    k.revoked = absl::FromUnixSeconds(*revoked);
  } else {
    return corrupt("unknown status");
  }
  return k;
}

}  // namespace

absl::StatusOr<std::unique_ptr<KeyRegistry>> KeyRegistry::Open(const KeyRegistryOptions& options) {
  if (options.store == nullptr)
    return absl::InvalidArgumentError("key registry: store is required");
  if (options.clock == nullptr)
    return absl::InvalidArgumentError("key registry: clock is required");
  KOS_RETURN_IF_ERROR(ValidateCollectionName(options.collection));
  return std::unique_ptr<KeyRegistry>(new KeyRegistry(options));
}

absl::Status KeyRegistry::AddKey(absl::string_view kid, absl::string_view issuer,
                                 absl::string_view public_key) {
  KOS_RETURN_IF_ERROR(ValidateName("kid", kid));
  KOS_RETURN_IF_ERROR(ValidateName("iss", issuer));
  if (public_key.size() != kEd25519PublicKeyBytes) {
    return absl::InvalidArgumentError(absl::StrCat("key registry: public key must be ",
                                                   kEd25519PublicKeyBytes, " bytes, got ",
                                                   public_key.size()));
  }
  TrustedKey k;
  k.kid = std::string(kid);
  k.issuer = std::string(issuer);
  k.public_key = std::string(public_key);
  k.added = options_.clock->Now();
  auto put = options_.store->Put(options_.collection, kid, EncodeKey(k), /*expected_version=*/0);
  if (absl::IsFailedPrecondition(put.status())) {
    return absl::AlreadyExistsError(
        absl::StrCat("key registry: kid '", kid, "' already registered"));
  }
  return put.status();
}

absl::Status KeyRegistry::Revoke(absl::string_view kid) {
  KOS_RETURN_IF_ERROR(ValidateName("kid", kid));
  // Retry on a concurrent update: revocation must not be lost.
  for (int attempt = 0; attempt < 16; ++attempt) {
    auto rec = options_.store->Get(options_.collection, kid);
    if (absl::IsNotFound(rec.status())) {
      return absl::NotFoundError(absl::StrCat("key registry: unknown kid '", kid, "'"));
    }
    KOS_RETURN_IF_ERROR(rec.status());
    KOS_ASSIGN_OR_RETURN(TrustedKey k, DecodeKey(kid, rec->value));
    if (k.status == TrustedKeyStatus::kRevoked) return absl::OkStatus();
    k.status = TrustedKeyStatus::kRevoked;
    k.revoked = options_.clock->Now();
    auto put = options_.store->Put(options_.collection, kid, EncodeKey(k), rec->version);
    if (!absl::IsFailedPrecondition(put.status())) return put.status();
  }
  return absl::AbortedError(absl::StrCat("key registry: kid '", kid, "' kept changing"));
}

absl::StatusOr<TrustedKey> KeyRegistry::Get(absl::string_view kid) {
  KOS_RETURN_IF_ERROR(ValidateName("kid", kid));
  auto rec = options_.store->Get(options_.collection, kid);
  if (absl::IsNotFound(rec.status())) {
    return absl::NotFoundError(absl::StrCat("key registry: unknown kid '", kid, "'"));
  }
  KOS_RETURN_IF_ERROR(rec.status());
  {
    absl::MutexLock l(&mu_);
    auto it = decoded_.find(kid);
    if (it != decoded_.end() && it->second.first == rec->value) return it->second.second;
  }
  KOS_ASSIGN_OR_RETURN(TrustedKey key, DecodeKey(kid, rec->value));
  absl::MutexLock l(&mu_);
  if (decoded_.size() >= 4096) decoded_.clear();  // bound memory for huge registries
  decoded_[kid] = {std::move(rec->value), key};
  return key;
}

absl::StatusOr<std::vector<TrustedKey>> KeyRegistry::List(absl::string_view issuer) {
  std::vector<TrustedKey> out;
  ScanOptions scan;
  scan.limit = 1000;
  do {
    KOS_ASSIGN_OR_RETURN(ScanPage page, options_.store->Scan(options_.collection, scan));
    for (const Record& r : page.records) {
      KOS_ASSIGN_OR_RETURN(TrustedKey k, DecodeKey(r.key, r.value));
      if (issuer.empty() || k.issuer == issuer) out.push_back(std::move(k));
    }
    scan.page_token = page.next_page_token;
  } while (!scan.page_token.empty());
  return out;
}

}  // namespace kos
