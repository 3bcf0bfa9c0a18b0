// Sortable unique identifiers (ULID layout: 48-bit millisecond time + 80 random
// bits, Crockford base32, 26 characters). Ids made by one generator are strictly
// increasing, even within one millisecond, so they sort in creation order.
#ifndef KOS_ID_H_
#define KOS_ID_H_

#include <array>
#include <cstdint>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "kos/clock.h"
#include "kos/export.h"

namespace kos {

// Generates ULIDs. Thread-safe.
class KOS_EXPORT IdGenerator {
 public:
  explicit IdGenerator(Clock* clock = Clock::Real());
  std::string Next();

 private:
  Clock* clock_;
  absl::Mutex mu_;
  uint64_t last_ms_ ABSL_GUARDED_BY(mu_) = 0;
  std::array<uint8_t, 10> last_random_ ABSL_GUARDED_BY(mu_){};
};

// A fresh id on the real clock. Stateless: ids from different calls within one
// millisecond are unique but not ordered among themselves; use an IdGenerator
// where strict order matters.
KOS_EXPORT std::string NewId();

// True if `id` is 26 Crockford base32 characters with a valid time prefix.
KOS_EXPORT bool IsValidId(absl::string_view id);

// The creation time encoded in an id.
KOS_EXPORT absl::StatusOr<absl::Time> IdTime(absl::string_view id);

}  // namespace kos

#endif  // KOS_ID_H_
