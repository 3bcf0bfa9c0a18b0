// AuditLog: an append-only, hash-chained audit trail kept in a kos::Store.
//
// Record n is stored under key "%020u" % n in the audit collection (so key
// order is chain order) as the JCS (RFC 8785) canonical JSON
//
//   {"action":..,"actor":..,"fields":{..},"hash":h(n),"hmac":{..},
//    "outcome":..,"prev":h(n-1),"resource":..,"seq":n,"time":<unix micros>}
//
// where h(n) = base64url(BLAKE2b-256(JCS(record n without "hash"))) and h(0)
// is base64url of 32 zero bytes. A "head" record holds the last sequence and
// hash. An append writes record n+1 (expected version 0) and the head
// (expected its current version) in one atomic batch, so concurrent appenders
// in any number of processes cannot fork or overwrite the chain: the loser
// re-reads the head and retries.
//
// Fields named in Options::sensitive_fields are not stored: their values are
// replaced by HMAC-SHA256(key, name "\0" value) in "hmac", so a record can be
// matched against a known value (SensitiveDigest) but never read back.
//
// The hashes are unkeyed: VerifyChain() detects any change, removal or
// reordering of stored records, but not someone with write access to the
// Store who rewrites the whole chain suffix and the head consistently. Anchor
// the head hash elsewhere (e.g. periodically in the security log) to bound
// that.
#ifndef KOS_AUDIT_H_
#define KOS_AUDIT_H_

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "kos/audit_sink.h"
#include "kos/clock.h"
#include "kos/crypto.h"
#include "kos/export.h"
#include "kos/store.h"

namespace kos {

struct AuditLogOptions {
  // Where records live. Required; not owned; must outlive the log.
  Store* store = nullptr;
  // Collection of the chain and its head record.
  std::string collection = "audit";
  // Time for events recorded without one (AuditEvent::time == InfinitePast).
  // Not owned.
  Clock* clock = Clock::Real();
  // Names of AuditEvent::fields whose values must not be stored; they are
  // kept only as an HMAC under `hmac_key`. Default: none.
  std::set<std::string> sensitive_fields;
  // HMAC key for sensitive fields (>= 16 bytes). Required when
  // sensitive_fields is non-empty; copied by Open().
  const SecretBytes* hmac_key = nullptr;
  // How many times an append retries after losing a race to another
  // appender before giving up with ABORTED.
  int max_append_attempts = 100;
};

// One stored record.
struct AuditEntry {
  uint64_t sequence = 0;
  // The event; sensitive fields are absent from event.fields.
  AuditEvent event;
  // Sensitive field name -> base64url HMAC-SHA256 of its value.
  std::map<std::string, std::string> hmac_fields;
  std::string hash;  // base64url BLAKE2b-256 of the record (without "hash")
  std::string prev;  // the previous record's hash
};

struct AuditQuery {
  absl::Time from = absl::InfinitePast();  // event time >= from
  absl::Time to = absl::InfiniteFuture();  // event time < to
  std::string actor;                       // exact match; "" = any
  std::string action;                      // exact match; "" = any
  std::string page_token;                  // from the previous page; "" = start
  size_t limit = 100;                      // 1..1000 entries per page
};

struct AuditPage {
  std::vector<AuditEntry> entries;  // in chain order
  std::string next_page_token;      // "" when there are no more
};

// The hash-chained audit log. Thread-safe; several processes may append to
// the same Store concurrently.
class KOS_EXPORT AuditLog : public AuditSink {
 public:
  static absl::StatusOr<std::unique_ptr<AuditLog>> Open(const AuditLogOptions& options);

  // Appends `event` and returns its sequence number. Fail-closed: any Store
  // error is returned (the event is then not recorded). Strings that are not
  // valid UTF-8 are recorded with U+FFFD replacements rather than refused, so
  // hostile input is still audited.
  absl::StatusOr<uint64_t> Append(const AuditEvent& event);

  // AuditSink: Append() without the sequence number.
  absl::Status Record(const AuditEvent& event) override;

  // Matching entries in chain order. A linear scan of the chain (use an
  // export for heavy analysis). INVALID_ARGUMENT for a bad limit or token.
  absl::StatusOr<AuditPage> Query(const AuditQuery& query);

  // Walks the whole chain. Returns the number of records on success;
  // DATA_LOSS naming the first sequence number whose record was altered,
  // removed, reordered or does not match the head.
  absl::StatusOr<uint64_t> VerifyChain();

  // The HMAC stored for sensitive field `name` with value `value`, to match
  // entries against a known value. Empty if no hmac_key was given.
  std::string SensitiveDigest(absl::string_view name, absl::string_view value) const;

 private:
  AuditLog(const AuditLogOptions& options, SecretBytes hmac_key);

  AuditLogOptions options_;
  SecretBytes hmac_key_;
  // Serializes this process's appenders so they do not race each other on the
  // Store's CAS; other processes are handled by the CAS itself.
  absl::Mutex append_mu_;
};

}  // namespace kos

#endif  // KOS_AUDIT_H_
