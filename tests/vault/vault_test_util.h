// Shared fixtures for the vault tests: an in-memory audit sink that can be
// told to fail, and store factories for each backend.
#ifndef KOS_TESTS_VAULT_VAULT_TEST_UTIL_H_
#define KOS_TESTS_VAULT_VAULT_TEST_UTIL_H_

#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "kos/audit_sink.h"

namespace kos::testing {

class RecordingAuditSink : public AuditSink {
 public:
  absl::Status Record(const AuditEvent& event) override {
    absl::MutexLock l(&mu_);
    if (fail_requests_ && event.outcome == "request") {
      return absl::UnavailableError("audit disk full");
    }
    if (fail_outcomes_ && event.outcome != "request") {
      return absl::UnavailableError("audit disk full");
    }
    events_.push_back(event);
    return absl::OkStatus();
  }
  void FailRequests(bool on) {
    absl::MutexLock l(&mu_);
    fail_requests_ = on;
  }
  void FailOutcomes(bool on) {
    absl::MutexLock l(&mu_);
    fail_outcomes_ = on;
  }
  std::vector<AuditEvent> events() {
    absl::MutexLock l(&mu_);
    return events_;
  }
  void Clear() {
    absl::MutexLock l(&mu_);
    events_.clear();
  }

 private:
  absl::Mutex mu_;
  std::vector<AuditEvent> events_ ABSL_GUARDED_BY(mu_);
  bool fail_requests_ ABSL_GUARDED_BY(mu_) = false;
  bool fail_outcomes_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace kos::testing

#endif  // KOS_TESTS_VAULT_VAULT_TEST_UTIL_H_
