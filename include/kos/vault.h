// Vault: secrets encrypted at rest, modelled on HashiCorp Vault's KV v2 and
// Transit secrets engines.
//
// Envelope encryption: every secret version gets its own random data key
// (DEK); the value is sealed with the DEK, the DEK is sealed with the current
// key of a versioned keyring, and the keyring is sealed with the master key.
// Rotating the keyring is cheap; RewrapAll() re-seals the DEKs (never the
// values) to the newest keyring key, after which old keyring keys can be
// retired with SetMinDecryptionVersion().
//
// Storage goes through kos::Store only (collections vault_keyring, vault_meta,
// vault_data, vault_transit). Paths, times, version numbers and custom
// metadata are stored in clear (like Vault's metadata API); values and keys
// never are. All ciphertexts use the sealed format of kos/crypto.h with the
// path and version bound in as associated data, so a ciphertext copied to
// another path or version does not decrypt.
//
// Every call is audited through Options::audit: a "request" event before the
// operation and an outcome event after it. If the request event cannot be
// recorded nothing happens; if the outcome event cannot be recorded a read
// returns no value, and a write (already committed) reports UNAVAILABLE.
// Events carry actor, action, path and outcome, never values.
#ifndef KOS_VAULT_H_
#define KOS_VAULT_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "kos/audit_sink.h"
#include "kos/clock.h"
#include "kos/crypto.h"
#include "kos/export.h"
#include "kos/json.h"
#include "kos/store.h"

namespace kos {

struct VaultOptions {
  // Where everything is stored. Required; not owned; must outlive the vault.
  Store* store = nullptr;
  // Receives an event for every access. Required; not owned.
  AuditSink* audit = nullptr;
  // Time source for created/updated/deletion times and audit events.
  // Not owned. Default: the real clock.
  Clock* clock = Clock::Real();

  // Master key sources, tried in this order:
  // 1. `master_key` if non-null (32 bytes; not owned), for embedding and tests.
  const SecretBytes* master_key = nullptr;
  // 2. The environment variable of this name, holding base64url (no padding)
  //    of 32 bytes. "" skips it. Default: KOS_VAULT_MASTER_KEY.
  std::string master_key_env = "KOS_VAULT_MASTER_KEY";
  // 3. A file holding base64url of 32 bytes (one trailing newline allowed).
  //    Refused with PERMISSION_DENIED if group or others may read or write
  //    it. "" skips it. Default: "".
  std::string master_key_file;
  // 4. Development only: if no key was found and the vault is new (no
  //    keyring stored yet), generate a master key, write it to
  //    `master_key_file` (mode 0600) when set, and record a
  //    "vault.master_key.generated" warning audit event. Never in production:
  //    without the file the key dies with the process. Default: false.
  bool development_mode = false;

  // Versions kept per secret when its metadata sets no max (oldest pruned).
  // Default 10, as in Vault KV v2.
  uint32_t default_max_versions = 10;
  // Largest secret value accepted, in bytes (larger: INVALID_ARGUMENT).
  size_t max_value_bytes = 1 << 20;
  // AEAD for new ciphertexts. Default XChaCha20-Poly1305; kAes256Gcm only
  // where Aes256GcmAvailable(). Existing ciphertexts record their algorithm.
  AeadAlgorithm algorithm = AeadAlgorithm::kXChaCha20Poly1305;
};

struct SecretVersionInfo {
  uint64_t version = 0;
  absl::Time created = absl::InfinitePast();
  // Set while soft-deleted.
  std::optional<absl::Time> deletion_time;
  // Ciphertext erased for good.
  bool destroyed = false;
};

struct SecretMetadata {
  std::string path;
  absl::Time created = absl::InfinitePast();
  absl::Time updated = absl::InfinitePast();
  uint64_t current_version = 0;  // 0: no version written yet
  uint64_t oldest_version = 0;   // oldest version still listed (0: none)
  uint32_t max_versions = 0;     // 0: VaultOptions::default_max_versions
  // Stored in clear: never put secrets here.
  std::map<std::string, std::string> custom_metadata;
  std::vector<SecretVersionInfo> versions;  // ascending
};

struct Secret {
  std::string path;
  uint64_t version = 0;
  absl::Time created = absl::InfinitePast();
  SecretBytes value;
};

struct VaultPutOptions {
  // Check-and-set: the write happens only if the current version equals
  // this (0: the secret must have no versions yet). FAILED_PRECONDITION on a
  // mismatch. Unset: unconditional.
  std::optional<uint64_t> cas;
};

struct VaultMetadataUpdate {
  std::optional<uint32_t> max_versions;  // 0: back to the vault default
  std::optional<std::map<std::string, std::string>> custom_metadata;  // replaces
};

struct KeyringInfo {
  uint32_t current_version = 0;
  uint32_t min_decryption_version = 1;
  std::vector<uint32_t> versions;  // every version still stored
};

struct RewrapResult {
  size_t scanned = 0;    // data records examined in this call
  size_t rewrapped = 0;  // data keys re-sealed to the current keyring key
  // Pass to the next RewrapAll() call; "" when every record has been seen.
  std::string resume_token;
};

struct TransitKeyInfo {
  std::string name;
  uint32_t latest_version = 0;
  uint32_t min_decryption_version = 1;
};

// Secrets and transit encryption. Thread-safe. Several Vault objects (in one
// or several processes) may share one Store: writes use the Store's
// compare-and-set, and a keyring change made elsewhere is picked up when a
// key version is not found locally.
class KOS_EXPORT Vault {
 public:
  // Loads (or, for a new store, creates) the keyring. UNAUTHENTICATED if the
  // master key does not decrypt the stored keyring; FAILED_PRECONDITION if no
  // master key is available; PERMISSION_DENIED for a key file with loose
  // permissions; INVALID_ARGUMENT for bad options.
  static absl::StatusOr<std::unique_ptr<Vault>> Open(const VaultOptions& options);
  ~Vault();

  // ---- KV (paths like "kv/team/openai": 1..16 segments of [A-Za-z0-9_.-]
  // (1..64 chars, not "." or ".."), separated by single '/', <= 256 chars).

  // Writes a new version; returns its number.
  absl::StatusOr<uint64_t> Put(absl::string_view actor, absl::string_view path,
                               absl::string_view value, const VaultPutOptions& options = {});
  // `value` serialized with DumpJson().
  absl::StatusOr<uint64_t> PutJson(absl::string_view actor, absl::string_view path,
                                   const Json& value, const VaultPutOptions& options = {});
  // The latest version (version 0) or version N. NOT_FOUND if absent,
  // soft-deleted or destroyed (the message says which); FAILED_PRECONDITION
  // if its data key is wrapped with a retired keyring version; DATA_LOSS if
  // the ciphertext fails authentication.
  absl::StatusOr<Secret> Get(absl::string_view actor, absl::string_view path, uint64_t version = 0);
  absl::StatusOr<Json> GetJson(absl::string_view actor, absl::string_view path,
                               uint64_t version = 0);

  // Soft delete / undelete / destroy the listed versions (empty: the
  // current version). Destroy erases the ciphertext; it cannot be undone.
  absl::Status Delete(absl::string_view actor, absl::string_view path,
                      const std::vector<uint64_t>& versions = {});
  absl::Status Undelete(absl::string_view actor, absl::string_view path,
                        const std::vector<uint64_t>& versions);
  absl::Status Destroy(absl::string_view actor, absl::string_view path,
                       const std::vector<uint64_t>& versions);
  // Removes every version and the metadata of `path`.
  absl::Status DeleteMetadata(absl::string_view actor, absl::string_view path);

  absl::StatusOr<SecretMetadata> GetMetadata(absl::string_view actor, absl::string_view path);
  // Creates the metadata if missing (with no versions).
  absl::Status UpdateMetadata(absl::string_view actor, absl::string_view path,
                              const VaultMetadataUpdate& update);
  // Paths starting with `prefix` ("" lists everything), ascending.
  absl::StatusOr<std::vector<std::string>> List(absl::string_view actor, absl::string_view prefix);

  // ---- Keyring

  // Adds a keyring version and makes it current; returns its number.
  absl::StatusOr<uint32_t> Rotate(absl::string_view actor);
  // Re-seals up to `batch_size` data keys (1..10000 records scanned) that are
  // not under the current keyring key, starting at `resume_token` ("" from
  // the start). Resumable and idempotent; concurrent writers are safe.
  absl::StatusOr<RewrapResult> RewrapAll(absl::string_view actor, size_t batch_size,
                                         absl::string_view resume_token = "");
  // Keyring versions below `version` are refused for decryption (secrets
  // still wrapped with them fail FAILED_PRECONDITION). INVALID_ARGUMENT if
  // `version` is 0 or above the current version.
  absl::Status SetMinDecryptionVersion(absl::string_view actor, uint32_t version);
  absl::StatusOr<KeyringInfo> GetKeyringInfo(absl::string_view actor);

  // ---- Transit: encrypt caller data with named keys without storing it.
  // Ciphertexts look like "kos:v<N>:<base64url>"; `context` is bound in as
  // associated data and must be given again to decrypt.

  absl::Status CreateTransitKey(absl::string_view actor, absl::string_view name);
  absl::StatusOr<uint32_t> RotateTransitKey(absl::string_view actor, absl::string_view name);
  absl::Status SetTransitMinDecryptionVersion(absl::string_view actor, absl::string_view name,
                                              uint32_t version);
  absl::StatusOr<TransitKeyInfo> GetTransitKey(absl::string_view actor, absl::string_view name);
  absl::StatusOr<std::string> TransitEncrypt(absl::string_view actor, absl::string_view name,
                                             absl::string_view plaintext,
                                             absl::string_view context = "");
  // INVALID_ARGUMENT for a malformed ciphertext, FAILED_PRECONDITION for a
  // retired key version, UNAUTHENTICATED if it was tampered with or the
  // context differs.
  absl::StatusOr<SecretBytes> TransitDecrypt(absl::string_view actor, absl::string_view name,
                                             absl::string_view ciphertext,
                                             absl::string_view context = "");
  // Decrypts and re-encrypts under the latest key version without returning
  // the plaintext.
  absl::StatusOr<std::string> TransitRewrap(absl::string_view actor, absl::string_view name,
                                            absl::string_view ciphertext,
                                            absl::string_view context = "");

 private:
  class Impl;
  explicit Vault(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// OK if `path` is a valid secret path (see Vault); INVALID_ARGUMENT naming
// the problem otherwise.
KOS_EXPORT absl::Status ValidateSecretPath(absl::string_view path);

}  // namespace kos

#endif  // KOS_VAULT_H_
