// Rate limiting with the generic cell rate algorithm (GCRA).
//
// Each named class allows `limit` requests per `period` with bursts of up to
// `burst` requests. Per key (a user, an API key id or a client address) the
// only state is one timestamp, the theoretical arrival time (TAT), kept in
// kos::Ephemeral and updated by compare-and-swap, so the limit holds exactly
// across threads and, with a shared Ephemeral backend (Redis), across
// replicas whose clocks agree.
#ifndef KOS_RATE_LIMITER_H_
#define KOS_RATE_LIMITER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "kos/clock.h"
#include "kos/ephemeral.h"
#include "kos/export.h"

namespace kos {

// One named limit.
struct KOS_EXPORT RateLimitClass {
  // [a-z0-9_.-]{1,64}, unique among a limiter's classes.
  std::string name;
  // Requests allowed per `period` at steady state (>= 1).
  int64_t limit = 0;
  absl::Duration period = absl::ZeroDuration();
  // Requests a fresh key may make at once (>= 1). 0 means "same as limit".
  int64_t burst = 0;
};

// The seed gateway's classes: global 1000/hour, api 100/minute,
// auth 10/minute, each with burst equal to its limit.
KOS_EXPORT std::vector<RateLimitClass> DefaultRateLimitClasses();

struct KOS_EXPORT RateLimitDecision {
  bool allowed = false;
  // When a denied request may be retried (zero when allowed). Round up to
  // whole seconds for an HTTP Retry-After header.
  absl::Duration retry_after = absl::ZeroDuration();
  // Requests that could be made right now after this decision.
  int64_t remaining = 0;
  // Until the key is back to a full burst.
  absl::Duration reset_after = absl::ZeroDuration();
  // The class's burst, for X-RateLimit-Limit style headers.
  int64_t limit = 0;
};

struct KOS_EXPORT RateLimiterOptions {
  // Where per-key state lives. Not owned; must outlive the limiter. Required.
  Ephemeral* ephemeral = nullptr;
  // Source of time. Not owned; must outlive the limiter. Default: the real clock.
  Clock* clock = Clock::Real();
  // The classes. Default: DefaultRateLimitClasses().
  std::vector<RateLimitClass> classes = DefaultRateLimitClasses();
  // Prefix of every Ephemeral key, so limiters can share a store.
  // Default: "kos:rl:".
  std::string key_prefix = "kos:rl:";
  // Compare-and-swap retries per decision before giving up with ABORTED
  // (only reachable under extreme contention on one key). Default: 10000.
  int max_cas_attempts = 10000;
};

// A GCRA rate limiter. Thread-safe.
class KOS_EXPORT RateLimiter {
 public:
  // INVALID_ARGUMENT for a missing Ephemeral, a bad or duplicate class.
  static absl::StatusOr<std::unique_ptr<RateLimiter>> Open(const RateLimiterOptions& options);

  // Counts one request of `key` against `class_name` if allowed. `key` is an
  // identifier such as `user:alice`, `apikey:<public prefix>` or
  // `addr:203.0.113.7` (never a secret: it becomes part of a store key),
  // 1-256 bytes. INVALID_ARGUMENT for an unknown class or a bad key; errors
  // of the Ephemeral store are passed through.
  absl::StatusOr<RateLimitDecision> Decide(absl::string_view class_name, absl::string_view key);

  // Forgets `key`'s history in `class_name` (it gets a full burst again).
  absl::Status Reset(absl::string_view class_name, absl::string_view key);

  const std::vector<RateLimitClass>& classes() const { return classes_; }

 private:
  struct Compiled {
    RateLimitClass spec;
    int64_t interval_ns;   // period / limit
    int64_t tolerance_ns;  // interval * burst
  };
  explicit RateLimiter(const RateLimiterOptions& options);
  absl::StatusOr<const Compiled*> Find(absl::string_view class_name, absl::string_view key) const;

  const RateLimiterOptions options_;
  std::vector<RateLimitClass> classes_;
  absl::flat_hash_map<std::string, Compiled> compiled_;
};

}  // namespace kos

#endif  // KOS_RATE_LIMITER_H_
