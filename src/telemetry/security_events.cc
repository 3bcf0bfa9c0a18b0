#include "kos/security_events.h"

#include "absl/strings/str_cat.h"

namespace kos {

SecurityEventSink MakeSecurityEventSink(Telemetry* telemetry, AuditSink* audit) {
  return [telemetry, audit](const SecurityEvent& e) {
    const std::string type = SecurityEventTypeName(e.type);
    const std::string severity = SecuritySeverityName(e.severity);
    const std::string event = absl::StrCat("security.", type);
    if (telemetry != nullptr) {
      LogLevel level = e.severity == SecuritySeverity::kCritical  ? LogLevel::kError
                       : e.severity == SecuritySeverity::kWarning ? LogLevel::kWarning
                                                                  : LogLevel::kInfo;
      telemetry->logger(LogStream::kSecurity, "intrusion").Log(level, event, e.ToJson());
      auto c = telemetry->metrics()->GetCounter("kos_security_events_total",
                                                "Security events by type and severity.",
                                                {{"type", type}, {"severity", severity}});
      if (c.ok()) (*c)->Increment();
    }
    if (audit != nullptr) {
      AuditEvent a;
      a.time = e.time;
      a.actor = !e.account.empty() ? e.account : !e.address.empty() ? e.address : "unknown";
      a.action = event;
      a.resource = e.subject;
      a.outcome = severity;
      if (!e.address.empty()) a.fields["address"] = e.address;
      if (!e.detail.empty()) a.fields["detail"] = e.detail;
      if (e.count > 0) a.fields["count"] = absl::StrCat(e.count);
      if (e.lockout > absl::ZeroDuration()) {
        a.fields["lockout_seconds"] = absl::StrCat(absl::ToInt64Seconds(e.lockout));
      }
      absl::Status s = audit->Record(a);
      if (!s.ok() && telemetry != nullptr) {
        telemetry->logger(LogStream::kSecurity, "intrusion")
            .Error("security.audit_write_failed",
                   {{"event", event}, {"error", std::string(s.message())}});
      }
    }
  };
}

}  // namespace kos
