// Time source for libkos. Every component takes a Clock in its Options so that
// TTLs, expiry, rate limits and timeouts are testable without sleeping.
#ifndef KOS_CLOCK_H_
#define KOS_CLOCK_H_

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "kos/export.h"

namespace kos {

// Abstract clock. Implementations must be thread-safe.
class KOS_EXPORT Clock {
 public:
  virtual ~Clock();
  virtual absl::Time Now() const = 0;

  // The process-wide wall clock. It holds no state and is never destroyed.
  static Clock* Real();
};

// A clock that only moves when told to. Thread-safe.
class KOS_EXPORT FakeClock : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1700000000));
  absl::Time Now() const override;
  void Advance(absl::Duration d);
  void Set(absl::Time t);

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kos

#endif  // KOS_CLOCK_H_
