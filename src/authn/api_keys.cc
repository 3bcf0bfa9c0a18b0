#include "kos/api_keys.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "kos/crypto.h"
#include "kos/json.h"
#include "kos/status.h"

namespace kos {
namespace {

constexpr size_t kPrefixChars = 12;
constexpr size_t kSecretBytes = 32;
constexpr size_t kSecretChars = 43;
constexpr absl::string_view kLead = "kos_";

std::string NewPrefix() {
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string p;
  for (size_t i = 0; i < kPrefixChars; ++i) p.push_back(kAlphabet[RandomUniform(36)]);
  return p;
}

bool ValidPrefix(absl::string_view p) {
  if (p.size() != kPrefixChars) return false;
  for (char c : p) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
  }
  return true;
}

int64_t Millis(absl::Time t) {
  if (t == absl::InfiniteFuture()) return -1;
  if (t == absl::InfinitePast()) return -2;
  return absl::ToUnixMillis(t);
}
absl::Time FromMillis(int64_t ms) {
  if (ms == -1) return absl::InfiniteFuture();
  if (ms == -2) return absl::InfinitePast();
  return absl::FromUnixMillis(ms);
}

std::string Encode(const ApiKey& k, const std::string& hash) {
  return DumpJson({{"owner", k.owner},
                   {"name", k.name},
                   {"scopes", k.scopes},
                   {"created_ms", Millis(k.created)},
                   {"expires_ms", Millis(k.expires)},
                   {"revoked", k.revoked},
                   {"revoked_ms", Millis(k.revoked_at)},
                   {"secret_sha256", hash}});
}

absl::Status Decode(absl::string_view prefix, absl::string_view text, ApiKey* k,
                    std::string* hash) {
  auto j = ParseJson(text);
  if (!j.ok() || !j->is_object()) return absl::DataLossError("API key record is not JSON");
  k->prefix = std::string(prefix);
  KOS_ASSIGN_OR_RETURN(k->owner, GetString(*j, "owner", "api_key"));
  KOS_ASSIGN_OR_RETURN(k->name, GetString(*j, "name", "api_key"));
  KOS_ASSIGN_OR_RETURN(k->revoked, GetBool(*j, "revoked", "api_key"));
  KOS_ASSIGN_OR_RETURN(*hash, GetString(*j, "secret_sha256", "api_key"));
  KOS_ASSIGN_OR_RETURN(int64_t created, GetInt(*j, "created_ms", "api_key"));
  KOS_ASSIGN_OR_RETURN(int64_t expires, GetInt(*j, "expires_ms", "api_key"));
  KOS_ASSIGN_OR_RETURN(int64_t revoked, GetInt(*j, "revoked_ms", "api_key"));
  k->created = FromMillis(created);
  k->expires = FromMillis(expires);
  k->revoked_at = FromMillis(revoked);
  k->scopes.clear();
  if (auto it = j->find("scopes"); it != j->end() && it->is_array()) {
    for (const Json& s : *it) {
      if (s.is_string()) k->scopes.push_back(s.get<std::string>());
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<ApiKeyManager>> ApiKeyManager::Open(
    const ApiKeyManagerOptions& options) {
  if (options.store == nullptr)
    return absl::InvalidArgumentError("ApiKeyManager: store is required");
  if (options.clock == nullptr)
    return absl::InvalidArgumentError("ApiKeyManager: clock is required");
  KOS_RETURN_IF_ERROR(ValidateCollectionName(options.collection));
  KOS_RETURN_IF_ERROR(CryptoInit());
  return std::unique_ptr<ApiKeyManager>(new ApiKeyManager(options));
}

absl::StatusOr<CreatedApiKey> ApiKeyManager::Create(const NewApiKey& spec) {
  if (spec.owner.empty() || spec.owner.size() > 128 || !IsValidUtf8(spec.owner)) {
    return absl::InvalidArgumentError("API key: owner must be 1..128 bytes of UTF-8");
  }
  if (spec.name.size() > 256 || !IsValidUtf8(spec.name)) {
    return absl::InvalidArgumentError("API key: name must be at most 256 bytes of UTF-8");
  }
  if (spec.ttl < absl::ZeroDuration()) return absl::InvalidArgumentError("API key: negative ttl");
  for (const std::string& s : spec.scopes) {
    if (s.empty() || s.size() > 128 || !IsValidUtf8(s)) {
      return absl::InvalidArgumentError("API key: each scope must be 1..128 bytes");
    }
  }
  CreatedApiKey out;
  ApiKey& k = out.key;
  k.owner = spec.owner;
  k.name = spec.name;
  k.scopes = spec.scopes;
  k.created = options_.clock->Now();
  if (spec.ttl > absl::ZeroDuration()) k.expires = k.created + spec.ttl;
  std::string secret = Base64UrlEncode(RandomBytes(kSecretBytes));
  std::string hash = Base64UrlEncode(Sha256(secret));
  // 36^12 prefixes make a collision unlikely; the CAS makes one harmless.
  for (int attempt = 0; attempt < 4; ++attempt) {
    k.prefix = NewPrefix();
    auto res = options_.store->Put(options_.collection, k.prefix, Encode(k, hash), 0);
    if (absl::IsFailedPrecondition(res.status())) continue;
    KOS_RETURN_IF_ERROR(res.status());
    out.plaintext = absl::StrCat(kLead, k.prefix, "_", secret);
    return out;
  }
  return absl::InternalError("API key: could not allocate a unique prefix");
}

absl::StatusOr<ApiKey> ApiKeyManager::Verify(absl::string_view presented) {
  const absl::Status invalid = absl::UnauthenticatedError("invalid API key");
  if (presented.size() != kLead.size() + kPrefixChars + 1 + kSecretChars ||
      !absl::StartsWith(presented, kLead) || presented[kLead.size() + kPrefixChars] != '_') {
    return invalid;
  }
  absl::string_view prefix = presented.substr(kLead.size(), kPrefixChars);
  absl::string_view secret = presented.substr(kLead.size() + kPrefixChars + 1);
  if (!ValidPrefix(prefix)) return invalid;
  std::string presented_hash = Base64UrlEncode(Sha256(secret));
  auto rec = options_.store->Get(options_.collection, prefix);
  if (!rec.ok()) return absl::IsNotFound(rec.status()) ? invalid : rec.status();
  ApiKey k;
  std::string hash;
  KOS_RETURN_IF_ERROR(Decode(prefix, rec->value, &k, &hash));
  if (!ConstantTimeEquals(presented_hash, hash)) return invalid;
  if (k.revoked || options_.clock->Now() >= k.expires) return invalid;
  return k;
}

absl::StatusOr<ApiKey> ApiKeyManager::Get(absl::string_view prefix) {
  if (!ValidPrefix(prefix)) return absl::NotFoundError("no such API key");
  auto rec = options_.store->Get(options_.collection, prefix);
  if (absl::IsNotFound(rec.status())) return absl::NotFoundError("no such API key");
  KOS_RETURN_IF_ERROR(rec.status());
  ApiKey k;
  std::string hash;
  KOS_RETURN_IF_ERROR(Decode(prefix, rec->value, &k, &hash));
  return k;
}

absl::StatusOr<std::vector<ApiKey>> ApiKeyManager::List(absl::string_view owner) {
  std::vector<ApiKey> out;
  ScanOptions scan;
  scan.limit = 1000;
  do {
    KOS_ASSIGN_OR_RETURN(ScanPage page, options_.store->Scan(options_.collection, scan));
    for (const Record& r : page.records) {
      ApiKey k;
      std::string hash;
      KOS_RETURN_IF_ERROR(Decode(r.key, r.value, &k, &hash));
      if (owner.empty() || k.owner == owner) out.push_back(std::move(k));
    }
    scan.page_token = page.next_page_token;
  } while (!scan.page_token.empty());
  return out;
}

absl::Status ApiKeyManager::Revoke(absl::string_view prefix) {
  if (!ValidPrefix(prefix)) return absl::NotFoundError("no such API key");
  for (int attempt = 0; attempt < 4; ++attempt) {
    auto rec = options_.store->Get(options_.collection, prefix);
    if (absl::IsNotFound(rec.status())) return absl::NotFoundError("no such API key");
    KOS_RETURN_IF_ERROR(rec.status());
    ApiKey k;
    std::string hash;
    KOS_RETURN_IF_ERROR(Decode(prefix, rec->value, &k, &hash));
    if (k.revoked) return absl::OkStatus();
    k.revoked = true;
    k.revoked_at = options_.clock->Now();
    auto res = options_.store->Put(options_.collection, prefix, Encode(k, hash), rec->version);
    if (absl::IsFailedPrecondition(res.status())) continue;
    return res.status();
  }
  return absl::UnavailableError("API key changed concurrently; retry");
}

}  // namespace kos
