// Ephemeral: short-lived keys for sessions, rate limits and replay nonces.
//
// Values may be lost on restart (in-process backend) or shared between
// replicas (Redis backend). Every operation is atomic on its key, which is
// what rate limiters and nonce checks need across threads and processes.
#ifndef KOS_EPHEMERAL_H_
#define KOS_EPHEMERAL_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "kos/clock.h"
#include "kos/export.h"

namespace kos {

struct EphemeralOptions {
  // Source of time for TTLs. Not owned; must outlive the store.
  Clock* clock = Clock::Real();
  // Largest key and value accepted, in bytes.
  size_t max_key_bytes = 1024;
  size_t max_value_bytes = 1 << 20;
  // In-process backend: at most this many live keys; a write beyond it fails
  // with RESOURCE_EXHAUSTED after expired keys are swept.
  size_t max_keys = 10'000'000;
};

// Abstract TTL key-value store. All implementations are thread-safe.
// A ttl of zero means "no expiry"; a negative ttl is INVALID_ARGUMENT.
class KOS_EXPORT Ephemeral {
 public:
  virtual ~Ephemeral();

  // NOT_FOUND if absent or expired.
  virtual absl::StatusOr<std::string> Get(absl::string_view key) = 0;
  virtual absl::Status Set(absl::string_view key, absl::string_view value, absl::Duration ttl) = 0;
  // True if the key was absent (and is now set); false if it existed.
  virtual absl::StatusOr<bool> SetIfAbsent(absl::string_view key, absl::string_view value,
                                           absl::Duration ttl) = 0;
  // Replaces the value only if the current one equals `expected` (nullopt:
  // only if absent). True if swapped. The building block for GCRA.
  virtual absl::StatusOr<bool> CompareAndSwap(absl::string_view key,
                                              std::optional<absl::string_view> expected,
                                              absl::string_view value, absl::Duration ttl) = 0;
  // True if a live key was deleted.
  virtual absl::StatusOr<bool> Delete(absl::string_view key) = 0;
  // Adds `delta` to the integer at key (absent counts as 0) and returns the
  // new value. `ttl` applies only when the key is created by this call.
  // FAILED_PRECONDITION if the current value is not an integer.
  virtual absl::StatusOr<int64_t> Increment(absl::string_view key, int64_t delta,
                                            absl::Duration ttl) = 0;
  // Remaining lifetime; InfiniteDuration() for no expiry; NOT_FOUND if absent.
  virtual absl::StatusOr<absl::Duration> TimeToLive(absl::string_view key) = 0;
};

// Opens by URI: `memory:` (in-process). `redis://host:port/db` comes with the
// Redis backend.
KOS_EXPORT absl::StatusOr<std::unique_ptr<Ephemeral>> OpenEphemeral(
    absl::string_view uri, const EphemeralOptions& options = {});

}  // namespace kos

#endif  // KOS_EPHEMERAL_H_
