// Where security events go: the intrusion detector (and the orchestrator's
// refusals) produce SecurityEvents; this sink writes each one to the security
// JSONL stream, counts it in kos_security_events_total{type,severity}, and
// records it in the audit log.
#ifndef KOS_SECURITY_EVENTS_H_
#define KOS_SECURITY_EVENTS_H_

#include "kos/audit_sink.h"
#include "kos/export.h"
#include "kos/intrusion.h"
#include "kos/telemetry.h"

namespace kos {

// Either pointer may be null (that destination is skipped); both must outlive
// the sink. The returned sink is thread-safe. An audit write that fails is
// logged to the security stream rather than thrown away silently: the event
// itself has already happened, so there is nothing to fail closed.
KOS_EXPORT SecurityEventSink MakeSecurityEventSink(Telemetry* telemetry, AuditSink* audit);

}  // namespace kos

#endif  // KOS_SECURITY_EVENTS_H_
