#include <algorithm>
#include <array>
#include <cmath>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "kos/status.h"
#include "kos/tokens.h"

namespace kos {
namespace {

// NumericDates beyond year 9999 are refused rather than converted.
constexpr double kMaxNumericDate = 253402300799.0;

absl::Status Malformed(absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("malformed token: ", why));
}

// Reads a NumericDate claim. Only JSON numbers count (a string "123" is
// refused, RFC 7519 §2).
absl::StatusOr<absl::Time> NumericDate(const Json& payload, const char* name, bool required) {
  auto it = payload.find(name);
  if (it == payload.end()) {
    if (required) return absl::InvalidArgumentError(absl::StrCat("missing ", name));
    return absl::InfinitePast();
  }
  if (!it->is_number()) return absl::InvalidArgumentError(absl::StrCat(name, " is not a number"));
  double v = it->get<double>();
  if (!std::isfinite(v) || v < 0 || v > kMaxNumericDate) {
    return absl::InvalidArgumentError(absl::StrCat(name, " is out of range"));
  }
  if (it->is_number_float()) return absl::FromUnixMicros(static_cast<int64_t>(v * 1e6));
  return absl::FromUnixSeconds(it->get<int64_t>());
}

absl::StatusOr<std::string> StringClaim(const Json& payload, const char* name, bool required) {
  auto it = payload.find(name);
  if (it == payload.end()) {
    if (required) return absl::InvalidArgumentError(absl::StrCat("missing ", name));
    return std::string();
  }
  if (!it->is_string()) return absl::InvalidArgumentError(absl::StrCat(name, " is not a string"));
  std::string s = it->get<std::string>();
  if (required && s.empty()) return absl::InvalidArgumentError(absl::StrCat(name, " is empty"));
  return s;
}

absl::StatusOr<std::vector<std::string>> StringList(const Json& payload, const char* name,
                                                    bool allow_single) {
  std::vector<std::string> out;
  auto it = payload.find(name);
  if (it == payload.end()) return out;
  if (allow_single && it->is_string()) {
    out.push_back(it->get<std::string>());
    return out;
  }
  if (!it->is_array()) return absl::InvalidArgumentError(absl::StrCat(name, " is not an array"));
  for (const Json& v : *it) {
    if (!v.is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(name, " holds a non-string"));
    }
    out.push_back(v.get<std::string>());
  }
  return out;
}

}  // namespace

const char* TokenFailureName(TokenFailure failure) {
  switch (failure) {
    case TokenFailure::kNone:
      return "none";
    case TokenFailure::kMalformed:
      return "malformed";
    case TokenFailure::kHeader:
      return "header";
    case TokenFailure::kUnknownKey:
      return "unknown_key";
    case TokenFailure::kSignature:
      return "signature";
    case TokenFailure::kClaims:
      return "claims";
    case TokenFailure::kExpired:
      return "expired";
    case TokenFailure::kNotYetValid:
      return "not_yet_valid";
    case TokenFailure::kRevoked:
      return "revoked";
  }
  return "unknown";
}

absl::StatusOr<ParsedJws> ParseCompactJws(absl::string_view token, const JwsLimits& limits) {
  if (token.empty()) return Malformed("empty");
  if (token.size() > limits.max_token_bytes) return Malformed("too large");
  std::vector<absl::string_view> parts = absl::StrSplit(token, '.');
  if (parts.size() != 3) return Malformed("expected three segments");
  if (parts[0].empty() || parts[1].empty() || parts[2].empty()) {
    return Malformed("empty segment");
  }
  if (parts[0].size() > limits.max_header_bytes) return Malformed("header too large");
  auto header_bytes = Base64UrlDecode(parts[0]);
  if (!header_bytes.ok()) return Malformed("header is not base64url");
  auto payload = Base64UrlDecode(parts[1]);
  if (!payload.ok()) return Malformed("payload is not base64url");
  auto signature = Base64UrlDecode(parts[2]);
  if (!signature.ok()) return Malformed("signature is not base64url");
  ParseJsonOptions json_options;
  json_options.max_depth = 16;
  auto header = ParseJson(*header_bytes, json_options);
  if (!header.ok()) return Malformed("header is not valid JSON");
  if (!header->is_object()) return Malformed("header is not a JSON object");
  ParsedJws out;
  out.header = std::move(*header);
  out.payload = std::move(*payload);
  out.signature = std::move(*signature);
  out.signing_input = std::string(token.substr(0, parts[0].size() + 1 + parts[1].size()));
  return out;
}

// Verified tokens by BLAKE2b-256 digest. Sharded so concurrent requests for
// different tokens rarely meet on a lock; a full shard first drops expired
// entries and, if still full, starts over (the next presentation of a dropped
// token simply verifies again).
class AccessTokenService::VerifiedCache {
 public:
  struct Entry {
    AccessTokenClaims claims;
    uint64_t generation = 0;
    absl::Time key_retire_at;
  };

  explicit VerifiedCache(size_t capacity)
      : per_shard_(std::max<size_t>(1, (capacity + kShards - 1) / kShards)) {}

  static std::string Key(absl::string_view token) {
    auto d = Blake2b(token, 32);
    return d.ok() ? std::move(*d) : std::string();
  }

  std::optional<Entry> Find(const std::string& key) {
    Shard& s = ShardFor(key);
    absl::MutexLock l(&s.mu);
    auto it = s.map.find(key);
    if (it == s.map.end()) return std::nullopt;
    return it->second;
  }

  void Erase(const std::string& key) {
    Shard& s = ShardFor(key);
    absl::MutexLock l(&s.mu);
    s.map.erase(key);
  }

  void Insert(std::string key, Entry entry, absl::Time now, absl::Duration leeway) {
    Shard& s = ShardFor(key);
    absl::MutexLock l(&s.mu);
    if (s.map.size() >= per_shard_) {
      for (auto it = s.map.begin(); it != s.map.end();) {
        const Entry& e = it->second;
        if (now >= e.claims.expires + leeway || now >= e.key_retire_at) {
          s.map.erase(it++);
        } else {
          ++it;
        }
      }
      if (s.map.size() >= per_shard_) s.map.clear();
    }
    s.map.insert_or_assign(std::move(key), std::move(entry));
  }

 private:
  static constexpr size_t kShards = 16;
  struct Shard {
    absl::Mutex mu;
    absl::flat_hash_map<std::string, Entry> map ABSL_GUARDED_BY(mu);
  };
  Shard& ShardFor(const std::string& key) {
    return shards_[static_cast<unsigned char>(key.empty() ? 0 : key[0]) % kShards];
  }
  const size_t per_shard_;
  std::array<Shard, kShards> shards_;
};

AccessTokenService::AccessTokenService(const AccessTokenOptions& options)
    : options_(options),
      cache_(options.verified_cache_entries > 0
                 ? std::make_unique<VerifiedCache>(options.verified_cache_entries)
                 : nullptr) {}

AccessTokenService::~AccessTokenService() = default;

absl::StatusOr<std::unique_ptr<AccessTokenService>> AccessTokenService::Open(
    const AccessTokenOptions& options) {
  if (options.keyring == nullptr)
    return absl::InvalidArgumentError("AccessTokenService: keyring is required");
  if (options.clock == nullptr)
    return absl::InvalidArgumentError("AccessTokenService: clock is required");
  if (options.issuer.empty())
    return absl::InvalidArgumentError("AccessTokenService: issuer is required");
  if (options.audience.empty())
    return absl::InvalidArgumentError("AccessTokenService: audience is required");
  if (options.typ.empty()) return absl::InvalidArgumentError("AccessTokenService: typ is required");
  if (options.lifetime <= absl::ZeroDuration() || options.leeway < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("AccessTokenService: lifetime must be positive, leeway >= 0");
  }
  return std::unique_ptr<AccessTokenService>(new AccessTokenService(options));
}

absl::StatusOr<std::string> AccessTokenService::Issue(const AccessTokenClaims& in) const {
  if (in.subject.empty()) return absl::InvalidArgumentError("access token: subject is required");
  absl::Time now = options_.clock->Now();
  absl::Time iat = in.issued_at == absl::InfinitePast() ? now : in.issued_at;
  absl::Time nbf = in.not_before == absl::InfinitePast() ? iat : in.not_before;
  absl::Time exp = in.expires == absl::InfinitePast() ? iat + options_.lifetime : in.expires;
  Json payload = {{"iss", in.issuer.empty() ? options_.issuer : in.issuer},
                  {"sub", in.subject},
                  {"iat", absl::ToUnixSeconds(iat)},
                  {"nbf", absl::ToUnixSeconds(nbf)},
                  {"exp", absl::ToUnixSeconds(exp)},
                  {"jti", in.jwt_id.empty() ? Base64UrlEncode(RandomBytes(16)) : in.jwt_id}};
  if (in.audience.empty()) {
    payload["aud"] = options_.audience;
  } else if (in.audience.size() == 1) {
    payload["aud"] = in.audience[0];
  } else {
    payload["aud"] = in.audience;
  }
  if (!in.session_id.empty()) payload["sid"] = in.session_id;
  if (!in.client_id.empty()) payload["client_id"] = in.client_id;
  payload["roles"] = in.roles;
  if (!in.scope.empty()) payload["scope"] = in.scope;

  // The kid goes into the signed header, so ask the keyring which key signs
  // first; a rotation between the two calls is caught by the comparison.
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::string kid = options_.keyring->ActiveKid();
    Json header = {{"alg", "EdDSA"}, {"typ", options_.typ}, {"kid", kid}};
    std::string input =
        absl::StrCat(Base64UrlEncode(DumpJson(header)), ".", Base64UrlEncode(DumpJson(payload)));
    KOS_ASSIGN_OR_RETURN(auto signed_by, options_.keyring->Sign(input));
    if (signed_by.first != kid) continue;
    return absl::StrCat(input, ".", Base64UrlEncode(signed_by.second));
  }
  return absl::UnavailableError("signing key rotated repeatedly while signing; retry");
}

absl::StatusOr<AccessTokenClaims> AccessTokenService::Verify(absl::string_view token,
                                                             TokenFailure* failure) const {
  TokenFailure dummy;
  TokenFailure& why = failure != nullptr ? *failure : dummy;
  why = TokenFailure::kNone;
  // Oversize input is refused before it is hashed.
  if (cache_ == nullptr || token.size() > options_.limits.max_token_bytes) {
    return VerifyUncached(token, why);
  }
  std::string key = VerifiedCache::Key(token);
  if (key.empty()) return VerifyUncached(token, why);
  const uint64_t generation = options_.keyring->generation();
  if (auto hit = cache_->Find(key); hit && hit->generation == generation) {
    absl::Time now = options_.clock->Now();
    if (now < hit->key_retire_at) {
      absl::Status lifetime = CheckLifetime(hit->claims, now, why);
      if (!lifetime.ok()) {
        cache_->Erase(key);
        return lifetime;
      }
      return std::move(hit->claims);
    }
    cache_->Erase(key);
  }
  auto claims = VerifyUncached(token, why);
  if (!claims.ok()) return claims;
  // Keys are (re)loaded between the generation read and here only by a
  // rotation or reload; an entry tagged with the older generation is then
  // never trusted, which is the safe direction.
  if (auto retire = options_.keyring->RetireAt(claims->kid)) {
    cache_->Insert(std::move(key), VerifiedCache::Entry{*claims, generation, *retire},
                   options_.clock->Now(), options_.leeway);
  }
  return claims;
}

absl::Status AccessTokenService::CheckLifetime(const AccessTokenClaims& c, absl::Time now,
                                               TokenFailure& why) const {
  auto refuse = [&](TokenFailure f, absl::string_view reason) {
    why = f;
    return absl::UnauthenticatedError(absl::StrCat("access token: ", reason));
  };
  const absl::Duration leeway = options_.leeway;
  if (now >= c.expires + leeway) return refuse(TokenFailure::kExpired, "expired");
  if (c.not_before != absl::InfinitePast() && now + leeway < c.not_before) {
    return refuse(TokenFailure::kNotYetValid, "not yet valid");
  }
  if (now + leeway < c.issued_at) return refuse(TokenFailure::kNotYetValid, "issued in the future");
  return absl::OkStatus();
}

absl::StatusOr<AccessTokenClaims> AccessTokenService::VerifyUncached(absl::string_view token,
                                                                     TokenFailure& why) const {
  auto refuse = [&](TokenFailure f, absl::string_view reason) {
    why = f;
    return absl::UnauthenticatedError(absl::StrCat("access token: ", reason));
  };

  auto parsed = ParseCompactJws(token, options_.limits);
  if (!parsed.ok()) return refuse(TokenFailure::kMalformed, parsed.status().message());
  const Json& h = parsed->header;

  // RFC 8725 §3.1: the algorithm is pinned; whatever the header claims, only
  // EdDSA over our own Ed25519 keys is ever tried.
  auto alg = h.find("alg");
  if (alg == h.end() || !alg->is_string() || alg->get<std::string>() != "EdDSA") {
    return refuse(TokenFailure::kHeader, "algorithm not accepted");
  }
  auto typ = h.find("typ");
  if (typ == h.end() || !typ->is_string()) return refuse(TokenFailure::kHeader, "missing typ");
  {
    std::string t = absl::AsciiStrToLower(typ->get<std::string>());
    std::string want = absl::AsciiStrToLower(options_.typ);
    if (t != want && t != "application/" + want) {
      return refuse(TokenFailure::kHeader, "wrong typ");
    }
  }
  // We implement no JWS extensions, so any critical one must be refused
  // (RFC 7515 §4.1.11). jku, x5u, jwk and x5c are never used to find keys.
  if (h.contains("crit")) return refuse(TokenFailure::kHeader, "unsupported crit header");
  if (h.contains("b64")) return refuse(TokenFailure::kHeader, "unsupported b64 header");
  auto kid = h.find("kid");
  if (kid == h.end() || !kid->is_string() || kid->get<std::string>().empty()) {
    return refuse(TokenFailure::kHeader, "missing kid");
  }
  if (parsed->signature.size() != kEd25519SignatureBytes) {
    return refuse(TokenFailure::kSignature, "bad signature length");
  }
  absl::Status sig =
      options_.keyring->Verify(kid->get<std::string>(), parsed->signing_input, parsed->signature);
  if (!sig.ok()) {
    bool unknown = absl::StrContains(sig.message(), "key id");
    return refuse(unknown ? TokenFailure::kUnknownKey : TokenFailure::kSignature,
                  unknown ? "unknown or retired key" : "bad signature");
  }

  // Only now, with the bytes authenticated, is the payload interpreted.
  ParseJsonOptions json_options;
  json_options.max_depth = 16;
  auto payload = ParseJson(parsed->payload, json_options);
  if (!payload.ok() || !payload->is_object()) {
    return refuse(TokenFailure::kMalformed, "payload is not a JSON object");
  }
  const Json& p = *payload;
  AccessTokenClaims c;
  c.kid = kid->get<std::string>();
  auto claims_error = [&](const absl::Status& s) {
    return refuse(TokenFailure::kClaims, s.message());
  };
#define KOS_CLAIM_(lhs, expr)                       \
  {                                                 \
    auto v_ = (expr);                               \
    if (!v_.ok()) return claims_error(v_.status()); \
    lhs = std::move(*v_);                           \
  }
  KOS_CLAIM_(c.issuer, StringClaim(p, "iss", true));
  KOS_CLAIM_(c.subject, StringClaim(p, "sub", true));
  KOS_CLAIM_(c.jwt_id, StringClaim(p, "jti", true));
  KOS_CLAIM_(c.session_id, StringClaim(p, "sid", false));
  KOS_CLAIM_(c.client_id, StringClaim(p, "client_id", false));
  KOS_CLAIM_(c.scope, StringClaim(p, "scope", false));
  KOS_CLAIM_(c.audience, StringList(p, "aud", true));
  KOS_CLAIM_(c.roles, StringList(p, "roles", false));
  KOS_CLAIM_(c.expires, NumericDate(p, "exp", true));
  KOS_CLAIM_(c.issued_at, NumericDate(p, "iat", true));
  KOS_CLAIM_(c.not_before, NumericDate(p, "nbf", false));
#undef KOS_CLAIM_

  if (c.issuer != options_.issuer) return refuse(TokenFailure::kClaims, "wrong issuer");
  bool aud_ok = false;
  for (const std::string& a : c.audience) aud_ok = aud_ok || a == options_.audience;
  if (!aud_ok) return refuse(TokenFailure::kClaims, "wrong audience");

  KOS_RETURN_IF_ERROR(CheckLifetime(c, options_.clock->Now(), why));
  const absl::Duration leeway = options_.leeway;
  // A lifetime longer than we ever issue means the key outlives its own
  // retirement assumptions; refuse rather than trust it.
  if (c.expires - c.issued_at > options_.lifetime + leeway || c.expires < c.issued_at) {
    return refuse(TokenFailure::kClaims, "lifetime out of range");
  }
  return c;
}

}  // namespace kos
