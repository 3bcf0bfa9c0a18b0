// Signed tasks: every instruction given to an agent travels as a signed
// envelope that any Ed25519 library can check (format: docs/signed-tasks.md).
//
//   {"aud":"kExecutor","exp":1700000300,"iat":1700000000,"iss":"kCore",
//    "kid":"core-2026-01","nonce":"<22 base64url chars>","parent":"<task id>",
//    "payload":{...},"sig":"<86 base64url chars>","tid":"<task id>","v":1}
//
// "sig" is the Ed25519 signature of the RFC 8785 (JCS) canonical bytes of the
// envelope without its "sig" member. The verifier checks the signature with
// the key registered for "kid", that the key is active and belongs to "iss",
// the audience, the time window (with skew), the payload size, and that the
// nonce was never accepted before: accepted nonces are recorded in a
// kos::Store with a compare-and-set, so a replay is refused across threads,
// processes and restarts.
#ifndef KOS_SIGNED_TASK_H_
#define KOS_SIGNED_TASK_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "kos/clock.h"
#include "kos/crypto.h"
#include "kos/export.h"
#include "kos/id.h"
#include "kos/json.h"
#include "kos/store.h"

namespace kos {

// Envelope format version written into "v".
inline constexpr int kSignedTaskVersion = 1;
// Bytes of randomness in a nonce (128 bits; 22 base64url characters).
inline constexpr size_t kSignedTaskNonceBytes = 16;

// A verified (or just signed) task: the envelope's fields, decoded.
struct SignedTask {
  int version = kSignedTaskVersion;
  std::string kid;                            // key id of the signing key
  std::string issuer;                         // "iss": who issued the task
  std::string audience;                       // "aud": the agent that must execute it
  std::string task_id;                        // "tid"
  std::string nonce;                          // base64url of 16 random bytes
  absl::Time issued_at;                       // "iat", whole seconds
  absl::Time expires_at;                      // "exp", whole seconds
  std::optional<std::string> parent_task_id;  // "parent", absent if unset
  Json payload = Json::object();              // the instruction itself
};

// ---------------------------------------------------------------------------
// KeyRegistry
// ---------------------------------------------------------------------------

enum class TrustedKeyStatus { kActive, kRevoked };

struct TrustedKey {
  std::string kid;
  std::string issuer;      // the only issuer this key may sign for
  std::string public_key;  // 32 raw bytes
  TrustedKeyStatus status = TrustedKeyStatus::kActive;
  absl::Time added = absl::InfinitePast();
  absl::Time revoked = absl::InfinitePast();  // InfinitePast while active
};

struct KeyRegistryOptions {
  // Where keys are kept. Required; not owned; must outlive the registry.
  // Public keys are not secret, so a plain Store (not the vault) is right.
  Store* store = nullptr;
  // Collection holding one record per kid.
  std::string collection = "signed_task_keys";
  // Source of the added/revoked timestamps. Not owned.
  Clock* clock = Clock::Real();
};

// The trusted Ed25519 public keys, one per key id, each bound to one issuer.
// Every read goes to the Store, so a revocation made by another process is
// seen at once (only the decoding of an unchanged record is cached).
// Thread-safe.
class KOS_EXPORT KeyRegistry {
 public:
  static absl::StatusOr<std::unique_ptr<KeyRegistry>> Open(const KeyRegistryOptions& options);

  // Trusts `public_key` (32 raw bytes) for `issuer` under `kid`. kid and
  // issuer: 1..128 printable ASCII characters, no '/'. ALREADY_EXISTS if the
  // kid was ever registered (revoked kids are not reused).
  absl::Status AddKey(absl::string_view kid, absl::string_view issuer,
                      absl::string_view public_key);
  // Marks the key revoked; tasks signed with it are refused from now on.
  // NOT_FOUND for an unknown kid; OK if already revoked.
  absl::Status Revoke(absl::string_view kid);
  // NOT_FOUND for an unknown kid; DATA_LOSS if the stored record is corrupt.
  absl::StatusOr<TrustedKey> Get(absl::string_view kid);
  // Every key (active and revoked), by kid; only `issuer`'s if non-empty.
  absl::StatusOr<std::vector<TrustedKey>> List(absl::string_view issuer = "");

 private:
  explicit KeyRegistry(const KeyRegistryOptions& options) : options_(options) {}
  KeyRegistryOptions options_;
  // kid -> (stored record bytes, their decoding): Get() re-reads the record
  // every time but skips parsing it when the bytes are unchanged.
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::pair<std::string, TrustedKey>> decoded_
      ABSL_GUARDED_BY(mu_);
};

// ---------------------------------------------------------------------------
// TaskSigner
// ---------------------------------------------------------------------------

struct TaskSignerOptions {
  // "iss" written into every task. Required.
  std::string issuer;
  // "kid" written into every task; the verifier looks the key up by it. Required.
  std::string kid;
  // The signing key. Required; copied by Open(), so it need not outlive it.
  const Ed25519KeyPair* key_pair = nullptr;
  // Source of "iat"/"exp" and of task ids. Not owned.
  Clock* clock = Clock::Real();
  // Lifetime of a task unless the request says otherwise. Short on purpose:
  // a task is meant to be executed now, and the verifier keeps nonces only
  // until expiry.
  absl::Duration ttl = absl::Minutes(5);
};

// What to sign.
struct TaskRequest {
  // "aud": the agent that must execute the task. Required.
  std::string audience;
  // The instruction. Must be a JSON object that JCS accepts.
  Json payload = Json::object();
  // "tid"; empty: a fresh ULID.
  std::string task_id;
  // "parent": the task that spawned this one, if any.
  std::optional<std::string> parent_task_id;
  // Lifetime; zero: the signer's default ttl. At least one second.
  absl::Duration ttl = absl::ZeroDuration();
};

// The output of TaskSigner::Sign.
struct SignedEnvelope {
  std::string text;  // canonical (JCS) envelope JSON, ready to send
  SignedTask task;   // the fields it holds
};

// Signs tasks with one key. Immutable after Open(); thread-safe.
class KOS_EXPORT TaskSigner {
 public:
  static absl::StatusOr<std::unique_ptr<TaskSigner>> Open(const TaskSignerOptions& options);

  // INVALID_ARGUMENT for a bad request (empty audience, non-object payload,
  // numbers JCS refuses, ...).
  absl::StatusOr<SignedEnvelope> Sign(const TaskRequest& request);

 private:
  TaskSigner(const TaskSignerOptions& options, Ed25519KeyPair key_pair);
  TaskSignerOptions options_;
  Ed25519KeyPair key_pair_;
  IdGenerator ids_;
};

// ---------------------------------------------------------------------------
// TaskVerifier
// ---------------------------------------------------------------------------

struct TaskVerifierOptions {
  // Trusted keys. Required; not owned.
  KeyRegistry* keys = nullptr;
  // Where accepted nonces are recorded. Required; not owned. Use the durable
  // store shared by every verifier of the same audience (sqlite:, postgres:)
  // so a replay is refused across processes and restarts.
  Store* nonce_store = nullptr;
  // Collection of the nonce records (key "<kid>/<nonce>", TTL until expiry +
  // skew, after which the task itself is refused as expired).
  std::string nonce_collection = "signed_task_nonces";
  // Current time. Not owned. Should be the nonce store's clock too.
  Clock* clock = Clock::Real();
  // Tolerated clock difference between signer and verifier, both ways.
  absl::Duration allowed_skew = absl::Seconds(30);
  // This agent's name: tasks whose "aud" differs are refused. Required.
  std::string audience;
  // Largest accepted payload, measured as its canonical (JCS) bytes. Envelope
  // text larger than this plus 16 KiB is refused before parsing.
  size_t max_payload_bytes = 64 * 1024;
  // Longest accepted exp - iat, which bounds how long nonces are kept.
  absl::Duration max_lifetime = absl::Hours(1);
};

// Verifies envelopes and consumes their nonces. Holds no mutable state of its
// own (the nonce store does the atomic part); thread-safe.
class KOS_EXPORT TaskVerifier {
 public:
  static absl::StatusOr<std::unique_ptr<TaskVerifier>> Open(const TaskVerifierOptions& options);

  // Checks everything and records the nonce; OK at most once per nonce.
  // INVALID_ARGUMENT: not JSON, duplicate/missing/unknown fields, wrong
  //   types, bad encodings, oversize payload.
  // UNAUTHENTICATED: bad signature, unknown or revoked kid, issuer not the
  //   key's, wrong audience, not yet valid, expired, lifetime too long, replay.
  // Store errors (e.g. UNAVAILABLE) pass through: the task is not accepted.
  // Nothing is written unless the task is accepted.
  absl::StatusOr<SignedTask> Verify(absl::string_view envelope);

 private:
  explicit TaskVerifier(const TaskVerifierOptions& options) : options_(options) {}
  TaskVerifierOptions options_;
};

}  // namespace kos

#endif  // KOS_SIGNED_TASK_H_
