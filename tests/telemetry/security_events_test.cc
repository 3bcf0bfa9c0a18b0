#include "kos/security_events.h"

#include <algorithm>
#include <vector>

#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "kos/ephemeral.h"

namespace kos {
namespace {

class RecordingAudit : public AuditSink {
 public:
  absl::Status Record(const AuditEvent& e) override {
    absl::MutexLock l(&mu_);
    events_.push_back(e);
    return fail_ ? absl::UnavailableError("audit store down") : absl::OkStatus();
  }
  std::vector<AuditEvent> events() {
    absl::MutexLock l(&mu_);
    return events_;
  }
  void set_fail(bool f) {
    absl::MutexLock l(&mu_);
    fail_ = f;
  }

 private:
  absl::Mutex mu_;
  std::vector<AuditEvent> events_;
  bool fail_ = false;
};

TEST(SecurityEventsTest, LockoutReachesLogAuditAndMetrics) {
  FakeClock clock;
  TelemetryOptions to;
  to.clock = &clock;
  to.process_metrics = false;
  auto telemetry = Telemetry::Open(to).value();
  RecordingAudit audit;
  auto eph = OpenEphemeral("memory:", EphemeralOptions{&clock}).value();
  IntrusionOptions io;
  io.ephemeral = eph.get();
  io.clock = &clock;
  io.account_failure_threshold = 3;
  io.sink = MakeSecurityEventSink(telemetry.get(), &audit);
  auto ids = IntrusionDetector::Open(io).value();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(ids->RecordLoginFailure("alice", "10.0.0.7").ok());

  LogQuery q;
  q.stream = LogStream::kSecurity;
  auto logs = telemetry->QueryLogs(q);
  ASSERT_EQ(logs.size(), 4u);  // three failures and the lock
  auto locked = std::find_if(logs.begin(), logs.end(), [](const LogRecord& r) {
    return r.event == "security.account_locked";
  });
  ASSERT_NE(locked, logs.end());
  EXPECT_EQ(locked->fields["account"], "alice");
  EXPECT_EQ(std::count_if(logs.begin(), logs.end(),
                          [](const LogRecord& r) { return r.event == "security.login_failure"; }),
            3);

  auto events = audit.events();
  ASSERT_EQ(events.size(), logs.size());
  auto audited = std::find_if(events.begin(), events.end(), [](const AuditEvent& e) {
    return e.action == "security.account_locked";
  });
  ASSERT_NE(audited, events.end());
  EXPECT_EQ(audited->actor, "alice");
  EXPECT_EQ(audited->fields.count("lockout_seconds"), 1u);
  EXPECT_EQ(std::count_if(events.begin(), events.end(),
                          [](const AuditEvent& e) {
                            auto a = e.fields.find("address");
                            return a != e.fields.end() && a->second == "10.0.0.7";
                          }),
            3);

  std::string metrics = telemetry->metrics()->RenderPrometheus();
  EXPECT_TRUE(absl::StrContains(
      metrics, "kos_security_events_total{severity=\"warning\",type=\"login_failure\"} 3"))
      << metrics;
  EXPECT_TRUE(absl::StrContains(metrics, "type=\"account_locked\"} 1")) << metrics;
}

TEST(SecurityEventsTest, FailedAuditWriteIsLoggedAndNullDestinationsAreSkipped) {
  TelemetryOptions to;
  to.process_metrics = false;
  auto telemetry = Telemetry::Open(to).value();
  RecordingAudit audit;
  audit.set_fail(true);
  SecurityEvent e;
  e.type = SecurityEventType::kReplayedTask;
  e.subject = "task 01ABC";
  MakeSecurityEventSink(telemetry.get(), &audit)(e);
  LogQuery q;
  q.event = "security.audit_write_failed";
  EXPECT_EQ(telemetry->QueryLogs(q).size(), 1u);
  MakeSecurityEventSink(nullptr, nullptr)(e);  // no destinations: nothing to do, no crash
}

}  // namespace
}  // namespace kos
