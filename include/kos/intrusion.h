// Intrusion detection: counts security-relevant failures, locks out accounts
// and client addresses with exponential backoff, and reports SecurityEvents
// through an injected sink (the telemetry layer turns them into the security
// JSONL log, audit records and metrics).
//
// Counters live in kos::Ephemeral with TTLs, so a shared backend (Redis)
// applies lockouts across replicas.
#ifndef KOS_INTRUSION_H_
#define KOS_INTRUSION_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "kos/clock.h"
#include "kos/ephemeral.h"
#include "kos/export.h"
#include "kos/json.h"

namespace kos {

enum class SecurityEventType {
  kLoginFailure,       // a wrong password or unknown user
  kAccountLocked,      // an account crossed its failure threshold
  kAddressLocked,      // a client address crossed its failure threshold
  kRefreshTokenReuse,  // a used refresh token was presented again
  kSignatureFailure,   // a token or task signature did not verify
  kReplayedTask,       // a signed task's nonce was seen before
};

enum class SecuritySeverity { kInfo, kWarning, kCritical };

// "login_failure", "account_locked", ... (stable; used in logs and metrics).
KOS_EXPORT const char* SecurityEventTypeName(SecurityEventType type);
// "info", "warning", "critical".
KOS_EXPORT const char* SecuritySeverityName(SecuritySeverity severity);

struct KOS_EXPORT SecurityEvent {
  SecurityEventType type = SecurityEventType::kLoginFailure;
  SecuritySeverity severity = SecuritySeverity::kWarning;
  absl::Time time = absl::InfinitePast();
  std::string account;  // "" when not known or not relevant
  std::string address;  // client address, "" when not known
  // What the event is about beyond account/address: a token family, key id,
  // agent or task id. Never a secret.
  std::string subject;
  std::string detail;  // free text, never a secret
  // Occurrences inside the current counting window (failure events).
  int64_t count = 0;
  // Lockout imposed by this event (locked events); zero otherwise.
  absl::Duration lockout = absl::ZeroDuration();

  // One object for a JSONL log line: {"time","type","severity",...}; empty
  // fields are omitted, durations are in seconds.
  Json ToJson() const;
};

// Receives events synchronously on the caller's thread. Must be thread-safe.
using SecurityEventSink = std::function<void(const SecurityEvent&)>;

enum class LockScope { kAccount, kAddress };

struct KOS_EXPORT IntrusionOptions {
  // Where counters and lockouts live. Not owned; must outlive the detector.
  // Required.
  Ephemeral* ephemeral = nullptr;
  // Source of time. Not owned. Default: the real clock.
  Clock* clock = Clock::Real();
  // Where events go. Default: none (events are dropped).
  SecurityEventSink sink;
  // Prefix of every Ephemeral key. Default: "kos:ids:".
  std::string key_prefix = "kos:ids:";
  // Failed logins for one account within the window that lock it. A window
  // starts at the first failure (fixed window). Default: 5 in 15 minutes.
  int64_t account_failure_threshold = 5;
  absl::Duration account_failure_window = absl::Minutes(15);
  // Failed logins from one address (any account) that lock the address.
  // Higher than per account because of NAT. Default: 20 in 15 minutes.
  int64_t address_failure_threshold = 20;
  absl::Duration address_failure_window = absl::Minutes(15);
  // The n-th consecutive lockout lasts initial_lockout * backoff_factor^(n-1),
  // capped at max_lockout. Default: 1 minute, x2, at most 1 hour.
  absl::Duration initial_lockout = absl::Minutes(1);
  int64_t backoff_factor = 2;
  absl::Duration max_lockout = absl::Hours(1);
  // How long past lockouts count toward the backoff after the last one; a
  // successful login or Unlock() forgets them at once. Default: 24 hours.
  absl::Duration backoff_memory = absl::Hours(24);
  // Signature failures from one source within the window at which events
  // become critical. Default: 10 in 5 minutes.
  int64_t signature_failure_threshold = 10;
  absl::Duration signature_failure_window = absl::Minutes(5);
};

struct KOS_EXPORT LoginFailureResult {
  int64_t account_failures = 0;  // in the current window (0 right after a lockout)
  int64_t address_failures = 0;
  // Remaining lockout after this failure (zero: not locked).
  absl::Duration account_lockout = absl::ZeroDuration();
  absl::Duration address_lockout = absl::ZeroDuration();
};

// Detects brute force and token abuse. Thread-safe.
class KOS_EXPORT IntrusionDetector {
 public:
  // INVALID_ARGUMENT for a missing Ephemeral or a non-positive threshold,
  // window or lockout.
  static absl::StatusOr<std::unique_ptr<IntrusionDetector>> Open(const IntrusionOptions& options);

  // Records a failed login. `account` (normalized username) or `address` may
  // be empty when unknown, not both; each is at most 256 bytes.
  absl::StatusOr<LoginFailureResult> RecordLoginFailure(absl::string_view account,
                                                        absl::string_view address);
  // Resets the account's failure count and backoff (not the address's: one
  // valid account must not launder an address that is guessing others). An
  // active lockout stays; callers check IsLocked before verifying passwords.
  absl::Status RecordLoginSuccess(absl::string_view account, absl::string_view address);

  // Remaining lockout of an account or address; zero if not locked.
  absl::StatusOr<absl::Duration> IsLocked(LockScope scope, absl::string_view id);
  // Lifts a lockout and forgets its failures and backoff (an admin action).
  absl::Status Unlock(LockScope scope, absl::string_view id);

  // A refresh token of `token_family` was presented after it had been used.
  absl::Status RecordRefreshTokenReuse(absl::string_view account, absl::string_view token_family,
                                       absl::string_view address);
  // A signature from `source` (a key id, issuer or address) did not verify.
  // Returns the failures from that source in the current window.
  absl::StatusOr<int64_t> RecordSignatureFailure(absl::string_view source, absl::string_view detail,
                                                 absl::string_view address);
  // A signed task was presented again (its nonce was already used). The
  // event carries `issuer` in `account` and `task_id` in `subject`.
  absl::Status RecordReplayedTask(absl::string_view issuer, absl::string_view task_id,
                                  absl::string_view detail);

 private:
  explicit IntrusionDetector(const IntrusionOptions& options) : options_(options) {}
  absl::StatusOr<std::pair<int64_t, absl::Duration>> CountFailure(LockScope scope,
                                                                  absl::string_view id);
  absl::Duration LockoutFor(int64_t level) const;
  std::string Key(absl::string_view kind, LockScope scope, absl::string_view id) const;
  void Emit(SecurityEvent event) const;

  const IntrusionOptions options_;
};

}  // namespace kos

#endif  // KOS_INTRUSION_H_
