// Private: constructors of the concrete backends, used by the URI openers.
#ifndef KOS_SRC_STORE_BACKENDS_H_
#define KOS_SRC_STORE_BACKENDS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "kos/blob_store.h"
#include "kos/ephemeral.h"
#include "kos/store.h"

namespace kos::internal {

std::unique_ptr<Store> NewMemoryStore(const StoreOptions& options);
absl::StatusOr<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path,
                                                       const StoreOptions& options);
std::unique_ptr<Ephemeral> NewMemoryEphemeral(const EphemeralOptions& options);
absl::StatusOr<std::unique_ptr<BlobStore>> OpenFileBlobStore(const std::string& dir,
                                                             const BlobStoreOptions& options);
std::unique_ptr<BlobStore> NewMemoryBlobStore();

// Checks one op against the limits every backend shares.
absl::Status ValidateWriteOp(const WriteOp& op, const StoreOptions& options);
absl::Status ValidateScanOptions(const ScanOptions& options);

// The limits every Ephemeral backend shares, with identical messages.
absl::Status ValidateEphemeralKey(absl::string_view key, const EphemeralOptions& options);
absl::Status ValidateEphemeralWrite(absl::string_view key, absl::string_view value,
                                    absl::Duration ttl, const EphemeralOptions& options);
absl::Status EphemeralNotFound(absl::string_view key);

// Splits a URI "scheme:rest" (rest may start with "//"). INVALID_ARGUMENT if
// there is no scheme.
absl::Status SplitUri(absl::string_view uri, std::string* scheme, std::string* rest);

}  // namespace kos::internal

#endif  // KOS_SRC_STORE_BACKENDS_H_

namespace kos::internal {
// Scan page tokens are the hex of the last key returned, so they are opaque to
// callers, printable, and identical across backends.
std::string EncodePageToken(absl::string_view last_key);
absl::StatusOr<std::string> DecodePageToken(absl::string_view token);
}  // namespace kos::internal

namespace kos::internal {
// External backends. `uri` is the whole URI (credentials included); errors
// never repeat the password.
absl::StatusOr<std::unique_ptr<Ephemeral>> OpenRedisEphemeral(absl::string_view uri,
                                                              const EphemeralOptions& options);
absl::StatusOr<std::unique_ptr<Store>> OpenPostgresStore(absl::string_view uri,
                                                         const StoreOptions& options);
}  // namespace kos::internal
