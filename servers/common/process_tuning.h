// Process-wide settings the server binaries apply once at start-up. They
// live here, not in libkos, because a library must not change its host
// process's globals.
#ifndef KOS_SERVERS_COMMON_PROCESS_TUNING_H_
#define KOS_SERVERS_COMMON_PROCESS_TUNING_H_

#include <cstdlib>
#include <string>

#include "absl/synchronization/mutex.h"

namespace kos::server {

// Debian builds Abseil without NDEBUG, which leaves absl::Mutex deadlock
// detection on: every lock taken while another is held updates a global lock
// graph (GraphCycles showed ~3% of a gRPC call's CPU). libkos's lock order
// is fixed and covered by its tests, so the servers turn it off;
// KOS_MUTEX_DEADLOCK_DETECTION=1 in the environment keeps it on.
inline void TuneProcessForServing() {
  const char* keep = std::getenv("KOS_MUTEX_DEADLOCK_DETECTION");
  if (keep == nullptr || std::string(keep) != "1") {
    absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  }
}

}  // namespace kos::server

#endif  // KOS_SERVERS_COMMON_PROCESS_TUNING_H_
