// BlobStore: files by key, written and read as streams.
//
// A blob becomes visible only when its writer commits (temp file + fsync +
// rename), so a reader never sees a partial blob, even after a crash.
#ifndef KOS_BLOB_STORE_H_
#define KOS_BLOB_STORE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kos/export.h"

namespace kos {

// Streams one new blob. Not thread-safe: one writer per thread. Destroying a
// writer that was not committed discards what it wrote.
class KOS_EXPORT BlobWriter {
 public:
  virtual ~BlobWriter();
  virtual absl::Status Append(absl::string_view data) = 0;
  // Makes the blob visible under its key (replacing any previous one).
  virtual absl::Status Commit() = 0;
  virtual uint64_t BytesWritten() const = 0;
};

// Streams one stored blob. Not thread-safe: one reader per thread.
class KOS_EXPORT BlobReader {
 public:
  virtual ~BlobReader();
  // Reads up to `n` bytes into `buf`; returns 0 at the end.
  virtual absl::StatusOr<size_t> Read(char* buf, size_t n) = 0;
  virtual uint64_t Size() const = 0;
};

struct BlobStoreOptions {
  // Call fsync on the file and its directory at commit. Turning it off trades
  // durability across power loss for speed.
  bool sync = true;
};

// Abstract blob store. Implementations are thread-safe; keys are 1..512 bytes
// of [A-Za-z0-9_.-/], with no "..", "." or empty path segments and no leading '/'.
class KOS_EXPORT BlobStore {
 public:
  virtual ~BlobStore();
  virtual absl::StatusOr<std::unique_ptr<BlobWriter>> NewWriter(absl::string_view key) = 0;
  // NOT_FOUND if absent.
  virtual absl::StatusOr<std::unique_ptr<BlobReader>> NewReader(absl::string_view key) = 0;
  virtual absl::Status Delete(absl::string_view key) = 0;
  virtual absl::StatusOr<bool> Exists(absl::string_view key) = 0;
  virtual absl::StatusOr<uint64_t> Size(absl::string_view key) = 0;
  // Keys starting with `prefix`, sorted.
  virtual absl::StatusOr<std::vector<std::string>> List(absl::string_view prefix) = 0;

  // Conveniences for small blobs.
  absl::Status PutAll(absl::string_view key, absl::string_view data);
  absl::StatusOr<std::string> GetAll(absl::string_view key);
};

// Opens by URI: `file:///abs/dir`, `file:rel/dir`, or `memory:`.
KOS_EXPORT absl::StatusOr<std::unique_ptr<BlobStore>> OpenBlobStore(
    absl::string_view uri, const BlobStoreOptions& options = {});

// INVALID_ARGUMENT unless `key` is a safe relative blob key (see BlobStore).
KOS_EXPORT absl::Status ValidateBlobKey(absl::string_view key);

}  // namespace kos

#endif  // KOS_BLOB_STORE_H_
