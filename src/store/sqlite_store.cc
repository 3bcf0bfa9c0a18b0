// Placeholder until the SQLite backend lands.
#include "store/backends.h"

namespace kos::internal {
absl::StatusOr<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path,
                                                       const StoreOptions& options) {
  return absl::UnimplementedError("sqlite backend not built yet");
}
}  // namespace kos::internal
