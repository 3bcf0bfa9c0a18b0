// Artifacts: files (images, notes, outputs) stored content-addressed and
// encrypted at rest, with metadata, per-owner quotas and expiring signed URLs.
//
// Content is streamed in chunks of `chunk_bytes`, each sealed with the
// content key (kos::Seal) and bound to its object, index and "last chunk"
// flag, so chunks cannot be reordered, dropped or swapped between objects.
// Identical content is stored once: objects are addressed by a keyed BLAKE2b
// of the plaintext (the keyed form keeps file names on disk from revealing
// the content hash) and reference-counted.
//
// An artifact becomes visible only when its writer commits; an interrupted
// upload leaves nothing behind.
#ifndef KOS_ARTIFACT_H_
#define KOS_ARTIFACT_H_

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
#include "kos/blob_store.h"
#include "kos/clock.h"
#include "kos/crypto.h"
#include "kos/export.h"
#include "kos/store.h"
#include "kos/vault.h"

namespace kos {

struct ArtifactInfo {
  std::string name;  // display/file name: 1..255 bytes of UTF-8, no '/', '\\' or controls
  std::string content_type = "application/octet-stream";
  std::string owner;  // subject that pays the quota, e.g. "user:alice"
  std::map<std::string, std::string> tags;
  // If set, the upload fails (and leaves nothing) unless the plaintext's
  // BLAKE2b-256, in lowercase hex, equals this.
  std::string expected_blake2b;
};

struct ArtifactMetadata {
  std::string id;
  ArtifactInfo info;
  uint64_t size = 0;
  std::string blake2b;  // BLAKE2b-256 of the content, lowercase hex
  absl::Time created;
};

enum class ArtifactOp { kRead, kWrite, kDelete };
KOS_EXPORT const char* ArtifactOpName(ArtifactOp op);

struct ArtifactStoreOptions {
  // Metadata, reference counts and usage. Not owned.
  Store* store = nullptr;
  // Encrypted chunks. Not owned.
  BlobStore* blobs = nullptr;
  Clock* clock = Clock::Real();
  // The content key (32 bytes) and its version; new content is sealed with it.
  // Typically a data key from the vault. Not owned.
  const SecretBytes* content_key = nullptr;
  uint32_t content_key_version = 1;
  // Finds older content keys by version for reading; unset: only the current key.
  SealKeyLookup key_lookup;
  // Key for signed URLs (HMAC-SHA256), at least 32 bytes. Not owned.
  const SecretBytes* url_key = nullptr;
  // Largest artifact accepted.
  uint64_t max_artifact_bytes = 256ULL << 20;
  // Total bytes one owner may store (logical size; deduplicated content still counts).
  uint64_t owner_quota_bytes = 4ULL << 30;
  // Plaintext bytes per sealed chunk.
  size_t chunk_bytes = 64 << 10;
  // Refuse empty uploads (an empty artifact is almost always a client bug).
  bool allow_empty = false;
  // Longest lifetime a signed URL may be given.
  absl::Duration max_url_ttl = absl::Hours(24);
};

// Streams one upload. Not thread-safe. Destroying it without Commit() discards
// everything written.
class KOS_EXPORT ArtifactWriter {
 public:
  virtual ~ArtifactWriter();
  // INVALID_ARGUMENT past max_artifact_bytes, RESOURCE_EXHAUSTED past the
  // owner's quota; after an error the writer is unusable.
  virtual absl::Status Append(absl::string_view data) = 0;
  virtual absl::StatusOr<ArtifactMetadata> Commit() = 0;
};

// Streams one artifact's content, decrypting chunk by chunk. Not thread-safe.
class KOS_EXPORT ArtifactReader {
 public:
  virtual ~ArtifactReader();
  // Up to `n` bytes; 0 at the end. DATA_LOSS if stored content was altered.
  virtual absl::StatusOr<size_t> Read(char* buf, size_t n) = 0;
  virtual const ArtifactMetadata& metadata() const = 0;
};

struct ArtifactPage {
  std::vector<ArtifactMetadata> artifacts;
  std::string next_page_token;
};

// Thread-safe.
class KOS_EXPORT ArtifactStore {
 public:
  static absl::StatusOr<std::unique_ptr<ArtifactStore>> Open(const ArtifactStoreOptions& options);
  virtual ~ArtifactStore();

  virtual absl::StatusOr<std::unique_ptr<ArtifactWriter>> NewWriter(const ArtifactInfo& info) = 0;
  virtual absl::StatusOr<ArtifactMetadata> Get(absl::string_view id) = 0;
  virtual absl::StatusOr<std::unique_ptr<ArtifactReader>> NewReader(absl::string_view id) = 0;
  // Artifacts of `owner` (all owners if empty), newest id last.
  virtual absl::StatusOr<ArtifactPage> List(absl::string_view owner, absl::string_view page_token,
                                            size_t limit = 100) = 0;
  virtual absl::Status Delete(absl::string_view id) = 0;
  // Bytes currently counted against `owner`'s quota.
  virtual absl::StatusOr<uint64_t> Usage(absl::string_view owner) = 0;

  // A token naming the artifact, the operation and an expiry that a server
  // accepts without a session. INVALID_ARGUMENT for ttl <= 0 or > max_url_ttl.
  virtual absl::StatusOr<std::string> SignUrl(absl::string_view id, ArtifactOp op,
                                              absl::Duration ttl) = 0;
  // The artifact id if `token` is authentic, unexpired and for `op`;
  // UNAUTHENTICATED otherwise (never says which part was wrong).
  virtual absl::StatusOr<std::string> VerifyUrl(absl::string_view token, ArtifactOp op) = 0;

  // Conveniences for small artifacts.
  absl::StatusOr<ArtifactMetadata> Put(const ArtifactInfo& info, absl::string_view content);
  absl::StatusOr<std::string> ReadAll(absl::string_view id);
};

// The artifact store's keys kept as vault secrets, so artifacts are encrypted
// with keys the vault protects (and rotates): every version of the secret at
// `<prefix>/content-key` is one content-key version, `<prefix>/url-key` signs
// URLs. Immutable after Load(); thread-safe. After Rotate(), Load() again and
// reopen the ArtifactStore to write with the new key.
class KOS_EXPORT VaultArtifactKeys {
 public:
  // Reads the keys, creating them on first use. `actor` is recorded in the
  // vault's audit log.
  static absl::StatusOr<std::unique_ptr<VaultArtifactKeys>> Load(
      Vault* vault, absl::string_view actor = "service:artifacts",
      absl::string_view prefix = "kv/system/artifacts");
  // Adds a new content-key version; returns it.
  static absl::StatusOr<uint32_t> Rotate(Vault* vault,
                                         absl::string_view actor = "service:artifacts",
                                         absl::string_view prefix = "kv/system/artifacts");
  // Sets content_key, content_key_version, key_lookup and url_key of `o`.
  // The options then point into this object, which must outlive the store.
  void Configure(ArtifactStoreOptions* o) const;
  uint32_t current_version() const { return current_; }

 private:
  VaultArtifactKeys() = default;
  std::map<uint32_t, SecretBytes> content_;
  uint32_t current_ = 0;
  SecretBytes url_key_;
};

}  // namespace kos

#endif  // KOS_ARTIFACT_H_
