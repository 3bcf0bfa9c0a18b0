// Access tokens: JWTs signed with Ed25519 (RFC 8037 "EdDSA"), their signing
// keyring and JWKS, and strict validation following RFC 8725.
//
// Token format (compact JWS, RFC 7515):
//   header  {"alg":"EdDSA","kid":"<key id>","typ":"at+jwt"}   (RFC 9068 typ)
//   payload {"iss","sub","aud","exp","iat","nbf","jti","client_id",
//            "sid" (user tokens only),"roles":[...],"scope":"a b"}
// Times are NumericDate seconds. Verifiers elsewhere need only the JWKS.
#ifndef KOS_TOKENS_H_
#define KOS_TOKENS_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "kos/clock.h"
#include "kos/crypto.h"
#include "kos/export.h"
#include "kos/json.h"
#include "kos/store.h"

namespace kos {

class Vault;

// ---------------------------------------------------------------------------
// Signing keyring
// ---------------------------------------------------------------------------

struct KOS_EXPORT SigningKeyringOptions {
  // Where keys live. Not owned; must outlive the keyring. Required.
  Store* store = nullptr;
  // Source of time for rotation and retirement. Not owned. Default: real clock.
  Clock* clock = Clock::Real();
  // Where private keys live, preferred: each key's 32-byte seed is a vault
  // secret at <vault_path_prefix><kid> (envelope encryption, audited access)
  // and key_encryption_key is not needed. Not owned; must outlive the
  // keyring. Default null: use key_encryption_key.
  Vault* vault = nullptr;
  // Vault path prefix and the actor named in the vault's audit events.
  std::string vault_path_prefix = "authn/signing_keys/";
  std::string vault_actor = "authn";
  // Without a vault: a 32-byte key-encryption key; seeds are stored in the
  // Store record only Seal()ed under it (XChaCha20-Poly1305, AAD =
  // collection + kid). Keep it outside the Store (environment, KMS).
  std::shared_ptr<const SecretBytes> key_encryption_key;
  // Version recorded in sealed blobs, for a later KEK rotation. Default 1.
  uint32_t key_encryption_key_version = 1;
  // Collection holding one record per key (kid). Default "kos_signing_keys".
  std::string collection = "kos_signing_keys";
  // How long a rotated-out key keeps verifying (and stays in the JWKS): the
  // longest access-token lifetime plus clock leeway. Default 1 hour 5 minutes.
  absl::Duration retire_after = absl::Minutes(65);
  // A token naming an unknown kid reloads the keyring from the Store (another
  // replica may have rotated) at most this often. Default 30 seconds.
  absl::Duration reload_interval = absl::Seconds(30);
};

struct KOS_EXPORT SigningKeyInfo {
  std::string kid;
  std::string public_key;  // 32 raw bytes
  absl::Time created = absl::InfinitePast();
  // When it stopped signing (InfiniteFuture while active).
  absl::Time deactivated = absl::InfiniteFuture();
  // When it stops verifying and leaves the JWKS (InfiniteFuture while active).
  absl::Time retire_at = absl::InfiniteFuture();
  bool active = false;
};

// Ed25519 signing keys with rotation, persisted in a Store. Thread-safe.
class KOS_EXPORT SigningKeyring {
 public:
  // Loads the keys; creates the first one if the collection is empty.
  // INVALID_ARGUMENT for bad options; UNAUTHENTICATED if a stored private
  // key does not open under the key-encryption key.
  static absl::StatusOr<std::unique_ptr<SigningKeyring>> Open(const SigningKeyringOptions& options);

  // Makes a new key the signer; the previous one verifies until retire_after
  // has passed. Returns the new kid.
  absl::StatusOr<std::string> Rotate();
  // Re-reads keys from the Store (rotations made by other replicas).
  absl::Status Reload();
  // Deletes keys whose retirement time has passed; returns how many.
  absl::StatusOr<size_t> PurgeRetired();

  // The active kid and a signature of `message` under it.
  absl::StatusOr<std::pair<std::string, std::string>> Sign(absl::string_view message) const;
  // OK if `signature` verifies under the unretired key `kid`; UNAUTHENTICATED
  // otherwise (unknown or retired kid, bad signature).
  absl::Status Verify(absl::string_view kid, absl::string_view message,
                      absl::string_view signature);

  // RFC 7517 JWK Set of every unretired key, each RFC 8037 OKP:
  // {"kty":"OKP","crv":"Ed25519","x":...,"kid":...,"use":"sig","alg":"EdDSA"}.
  Json Jwks() const;
  std::vector<SigningKeyInfo> Keys() const;
  std::string ActiveKid() const;
  // When `kid` stops verifying; nullopt for an unknown kid.
  std::optional<absl::Time> RetireAt(absl::string_view kid) const;
  // Changes whenever the set of keys is (re)loaded, so a cache of verified
  // signatures can tell that it must check again.
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

 private:
  explicit SigningKeyring(const SigningKeyringOptions& options) : options_(options) {}
  absl::Status LoadLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status CreateKey(std::optional<std::pair<std::string, uint64_t>> previous);
  std::string Aad(absl::string_view kid) const;

  const SigningKeyringOptions options_;
  mutable absl::Mutex mu_;
  struct Entry {
    SigningKeyInfo info;
    uint64_t version = 0;
  };
  std::vector<Entry> keys_ ABSL_GUARDED_BY(mu_);
  // Only the active key's private half is kept in memory.
  std::unique_ptr<Ed25519KeyPair> signer_ ABSL_GUARDED_BY(mu_);
  std::string signer_kid_ ABSL_GUARDED_BY(mu_);
  absl::Time last_reload_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::atomic<uint64_t> generation_{0};
};

// ---------------------------------------------------------------------------
// Compact JWS parsing (no signature check)
// ---------------------------------------------------------------------------

struct KOS_EXPORT JwsLimits {
  // Whole token, encoded. Default 8 KiB.
  size_t max_token_bytes = 8192;
  // Encoded header segment. Default 1 KiB.
  size_t max_header_bytes = 1024;
};

struct KOS_EXPORT ParsedJws {
  Json header;                // a JSON object
  std::string payload;        // decoded payload bytes (not yet parsed)
  std::string signing_input;  // "<header b64>.<payload b64>"
  std::string signature;      // decoded signature bytes
};

// Splits and decodes a compact JWS strictly: exactly three segments, strict
// base64url (no padding, canonical), a header that is a JSON object without
// duplicate keys, sizes within `limits`. INVALID_ARGUMENT on any deviation;
// the message never contains token bytes.
KOS_EXPORT absl::StatusOr<ParsedJws> ParseCompactJws(absl::string_view token,
                                                     const JwsLimits& limits = {});

// ---------------------------------------------------------------------------
// Access tokens
// ---------------------------------------------------------------------------

struct KOS_EXPORT AccessTokenClaims {
  std::string issuer;                            // iss
  std::string subject;                           // sub: user id, or client id for client tokens
  std::vector<std::string> audience;             // aud
  absl::Time expires = absl::InfinitePast();     // exp
  absl::Time issued_at = absl::InfinitePast();   // iat
  absl::Time not_before = absl::InfinitePast();  // nbf
  std::string jwt_id;                            // jti
  std::string session_id;                        // sid; empty for client-credentials tokens
  std::string client_id;                         // client_id (RFC 9068)
  std::vector<std::string> roles;                // roles
  std::string scope;                             // scope: space-separated
  std::string kid;                               // header kid (filled by Verify)
};

// Why a token was refused (for metrics and tests; the Status carries a short
// text too).
enum class TokenFailure {
  kNone,
  kMalformed,    // size, segments, base64url, JSON
  kHeader,       // alg, typ, crit, missing kid
  kUnknownKey,   // kid not in the keyring or retired
  kSignature,    // signature did not verify
  kClaims,       // missing/ill-typed claims, iss, aud, lifetime
  kExpired,      // exp passed (beyond leeway)
  kNotYetValid,  // nbf or iat in the future (beyond leeway)
  kRevoked,      // session ended, user gone or disabled, client gone
};
KOS_EXPORT const char* TokenFailureName(TokenFailure failure);

struct KOS_EXPORT AccessTokenOptions {
  // The keyring that signs and verifies. Not owned; must outlive the service.
  // Required.
  SigningKeyring* keyring = nullptr;
  // Source of time. Not owned. Default: real clock.
  Clock* clock = Clock::Real();
  // iss we write and require. Required.
  std::string issuer;
  // aud we write and require (a token must list it). Required.
  std::string audience;
  // Lifetime of issued tokens. Default 15 minutes. Must not exceed the
  // keyring's retire_after minus leeway.
  absl::Duration lifetime = absl::Minutes(15);
  // Clock skew tolerated on exp, nbf and iat. Default 60 seconds.
  absl::Duration leeway = absl::Seconds(60);
  // Header typ we write and require ("at+jwt", RFC 9068; "application/at+jwt"
  // is accepted too, case-insensitively).
  std::string typ = "at+jwt";
  // Size limits for parsing. Payload segment limit is max_token_bytes.
  JwsLimits limits;
  // Tokens whose signature and claims verified are remembered (by a BLAKE2b
  // digest of the token, never the token itself) so a client presenting the
  // same token again skips the Ed25519 check (~60 us). A hit still re-checks
  // exp/nbf/iat against the clock and that the key is unretired and the
  // keyring unchanged. At most this many entries; 0 disables. Default 10000.
  size_t verified_cache_entries = 10000;
};

// Issues and verifies access tokens (signature and claims only; session and
// user liveness are checked by Authenticator::Validate). Thread-safe.
class KOS_EXPORT AccessTokenService {
 public:
  static absl::StatusOr<std::unique_ptr<AccessTokenService>> Open(
      const AccessTokenOptions& options);

  // Signs `claims`, filling iss, aud, iat, nbf, exp and jti (a fresh random
  // id) where empty/unset. INVALID_ARGUMENT without a subject.
  absl::StatusOr<std::string> Issue(const AccessTokenClaims& claims) const;

  // UNAUTHENTICATED ("access token: <reason>") for any defect; `failure` (if
  // given) says which kind.
  absl::StatusOr<AccessTokenClaims> Verify(absl::string_view token,
                                           TokenFailure* failure = nullptr) const;

  const AccessTokenOptions& options() const { return options_; }

  ~AccessTokenService();

 private:
  class VerifiedCache;
  explicit AccessTokenService(const AccessTokenOptions& options);
  absl::StatusOr<AccessTokenClaims> VerifyUncached(absl::string_view token,
                                                   TokenFailure& why) const;
  // OK or the refusal for a token whose lifetime claims do not cover `now`.
  absl::Status CheckLifetime(const AccessTokenClaims& c, absl::Time now, TokenFailure& why) const;
  const AccessTokenOptions options_;
  std::unique_ptr<VerifiedCache> cache_;  // null when disabled
};

}  // namespace kos

#endif  // KOS_TOKENS_H_
