// AuditSink: where components send audit events (who did what to which
// resource, when, and with what outcome). The hash-chained audit log
// implements it; tests use in-memory fakes.
//
// Components that must be fail-closed (the vault) treat a non-OK Record() as
// a failure of the audited operation itself.
#ifndef KOS_AUDIT_SINK_H_
#define KOS_AUDIT_SINK_H_

#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "kos/export.h"

namespace kos {

struct AuditEvent {
  // When the event happened (from the component's injected Clock).
  absl::Time time = absl::InfinitePast();
  // Who: user id, agent name or service identity as given by the caller.
  std::string actor;
  // What, as "<component>.<operation>", e.g. "vault.kv.get".
  std::string action;
  // Which resource, e.g. a secret path "kv/team/openai". Never a secret value.
  std::string resource;
  // "request" for an event written before the operation runs; afterwards
  // "ok" or the absl status code name ("NOT_FOUND", "FAILED_PRECONDITION").
  std::string outcome;
  // Extra non-secret details (e.g. "version" -> "3"). Never secret values.
  std::map<std::string, std::string> fields;
};

// Receives audit events. Implementations must be thread-safe. Record()
// returns OK only once the event is durably accepted.
class KOS_EXPORT AuditSink {
 public:
  virtual ~AuditSink() = default;
  virtual absl::Status Record(const AuditEvent& event) = 0;
};

// "ok" for OK, otherwise the status code name (e.g. "PERMISSION_DENIED").
inline std::string AuditOutcome(const absl::Status& status) {
  return status.ok() ? "ok" : absl::StatusCodeToString(status.code());
}

}  // namespace kos

#endif  // KOS_AUDIT_SINK_H_
