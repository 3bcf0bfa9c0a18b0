#include "kos/intrusion.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "kos/status.h"

namespace kos {
namespace {

constexpr size_t kMaxIdBytes = 256;

absl::Status CheckId(absl::string_view what, absl::string_view id, bool may_be_empty) {
  if (id.empty() && !may_be_empty)
    return absl::InvalidArgumentError(absl::StrCat(what, " is empty"));
  if (id.size() > kMaxIdBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is ", id.size(), " bytes; the limit is ", kMaxIdBytes));
  }
  return absl::OkStatus();
}

// Event text fields are bounded so a hostile caller cannot flood the log.
std::string Bounded(absl::string_view s) { return std::string(s.substr(0, 512)); }

}  // namespace

const char* SecurityEventTypeName(SecurityEventType type) {
  switch (type) {
    case SecurityEventType::kLoginFailure:
      return "login_failure";
    case SecurityEventType::kAccountLocked:
      return "account_locked";
    case SecurityEventType::kAddressLocked:
      return "address_locked";
    case SecurityEventType::kRefreshTokenReuse:
      return "refresh_token_reuse";
    case SecurityEventType::kSignatureFailure:
      return "signature_failure";
    case SecurityEventType::kReplayedTask:
      return "replayed_task";
  }
  return "unknown";
}

const char* SecuritySeverityName(SecuritySeverity severity) {
  switch (severity) {
    case SecuritySeverity::kInfo:
      return "info";
    case SecuritySeverity::kWarning:
      return "warning";
    case SecuritySeverity::kCritical:
      return "critical";
  }
  return "unknown";
}

Json SecurityEvent::ToJson() const {
  Json j = Json::object();
  j["time"] = absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", time, absl::UTCTimeZone());
  j["type"] = SecurityEventTypeName(type);
  j["severity"] = SecuritySeverityName(severity);
  if (!account.empty()) j["account"] = account;
  if (!address.empty()) j["address"] = address;
  if (!subject.empty()) j["subject"] = subject;
  if (!detail.empty()) j["detail"] = detail;
  if (count != 0) j["count"] = count;
  if (lockout > absl::ZeroDuration()) j["lockout_seconds"] = absl::ToDoubleSeconds(lockout);
  return j;
}

absl::StatusOr<std::unique_ptr<IntrusionDetector>> IntrusionDetector::Open(
    const IntrusionOptions& o) {
  if (o.ephemeral == nullptr)
    return absl::InvalidArgumentError("IntrusionOptions.ephemeral is required");
  if (o.clock == nullptr) return absl::InvalidArgumentError("IntrusionOptions.clock is null");
  auto positive = [](absl::string_view name, bool ok) {
    return ok ? absl::OkStatus()
              : absl::InvalidArgumentError(
                    absl::StrCat("IntrusionOptions.", name, " must be positive"));
  };
  KOS_RETURN_IF_ERROR(positive("account_failure_threshold", o.account_failure_threshold > 0));
  KOS_RETURN_IF_ERROR(positive("address_failure_threshold", o.address_failure_threshold > 0));
  KOS_RETURN_IF_ERROR(positive("signature_failure_threshold", o.signature_failure_threshold > 0));
  KOS_RETURN_IF_ERROR(
      positive("account_failure_window", o.account_failure_window > absl::ZeroDuration()));
  KOS_RETURN_IF_ERROR(
      positive("address_failure_window", o.address_failure_window > absl::ZeroDuration()));
  KOS_RETURN_IF_ERROR(
      positive("signature_failure_window", o.signature_failure_window > absl::ZeroDuration()));
  KOS_RETURN_IF_ERROR(positive("initial_lockout", o.initial_lockout > absl::ZeroDuration()));
  KOS_RETURN_IF_ERROR(positive("backoff_memory", o.backoff_memory > absl::ZeroDuration()));
  if (o.max_lockout < o.initial_lockout) {
    return absl::InvalidArgumentError("IntrusionOptions.max_lockout must be >= initial_lockout");
  }
  if (o.backoff_factor < 1) {
    return absl::InvalidArgumentError("IntrusionOptions.backoff_factor must be >= 1");
  }
  return std::unique_ptr<IntrusionDetector>(new IntrusionDetector(o));
}

std::string IntrusionDetector::Key(absl::string_view kind, LockScope scope,
                                   absl::string_view id) const {
  return absl::StrCat(options_.key_prefix, kind,
                      scope == LockScope::kAccount ? ":acct:" : ":addr:", id);
}

void IntrusionDetector::Emit(SecurityEvent event) const {
  if (!options_.sink) return;
  event.time = options_.clock->Now();
  options_.sink(event);
}

absl::Duration IntrusionDetector::LockoutFor(int64_t level) const {
  absl::Duration d = options_.initial_lockout;
  // Multiplying step by step with a cap cannot overflow, unlike pow().
  for (int64_t i = 1; i < level && d < options_.max_lockout; ++i) d *= options_.backoff_factor;
  return std::min(d, options_.max_lockout);
}

// Counts one failure of `id`; at the threshold the first caller to take the
// lock key (SetIfAbsent, so concurrent failures lock once) raises the backoff
// level and clears the count. Returns (failures now counted, lockout remaining).
absl::StatusOr<std::pair<int64_t, absl::Duration>> IntrusionDetector::CountFailure(
    LockScope scope, absl::string_view id) {
  bool account = scope == LockScope::kAccount;
  int64_t threshold =
      account ? options_.account_failure_threshold : options_.address_failure_threshold;
  absl::Duration window =
      account ? options_.account_failure_window : options_.address_failure_window;
  std::string fail_key = Key("fail", scope, id);
  KOS_ASSIGN_OR_RETURN(int64_t n, options_.ephemeral->Increment(fail_key, 1, window));
  if (n >= threshold) {
    std::string level_key = Key("level", scope, id);
    int64_t level = 0;
    if (auto got = options_.ephemeral->Get(level_key); got.ok()) {
      if (!absl::SimpleAtoi(*got, &level) || level < 0) level = 0;
    } else if (!absl::IsNotFound(got.status())) {
      return got.status();
    }
    ++level;
    absl::Duration lockout = LockoutFor(level);
    absl::Time until = options_.clock->Now() + lockout;
    KOS_ASSIGN_OR_RETURN(
        bool locked, options_.ephemeral->SetIfAbsent(
                         Key("lock", scope, id), absl::StrCat(absl::ToUnixNanos(until)), lockout));
    if (locked) {
      KOS_RETURN_IF_ERROR(options_.ephemeral->Set(level_key, absl::StrCat(level),
                                                  options_.backoff_memory + lockout));
      KOS_RETURN_IF_ERROR(options_.ephemeral->Delete(fail_key).status());
      SecurityEvent e;
      e.type = account ? SecurityEventType::kAccountLocked : SecurityEventType::kAddressLocked;
      e.severity = SecuritySeverity::kCritical;
      (account ? e.account : e.address) = Bounded(id);
      e.count = n;
      e.lockout = lockout;
      e.detail = absl::StrCat("lockout #", level, " after ", n, " failed logins");
      Emit(std::move(e));
      return std::make_pair(int64_t{0}, lockout);
    }
  }
  KOS_ASSIGN_OR_RETURN(absl::Duration remaining, IsLocked(scope, id));
  return std::make_pair(n, remaining);
}

absl::StatusOr<LoginFailureResult> IntrusionDetector::RecordLoginFailure(
    absl::string_view account, absl::string_view address) {
  KOS_RETURN_IF_ERROR(CheckId("account", account, true));
  KOS_RETURN_IF_ERROR(CheckId("address", address, true));
  if (account.empty() && address.empty()) {
    return absl::InvalidArgumentError("a login failure needs an account or an address");
  }
  LoginFailureResult r;
  if (!account.empty()) {
    KOS_ASSIGN_OR_RETURN(auto a, CountFailure(LockScope::kAccount, account));
    r.account_failures = a.first;
    r.account_lockout = a.second;
  }
  if (!address.empty()) {
    KOS_ASSIGN_OR_RETURN(auto a, CountFailure(LockScope::kAddress, address));
    r.address_failures = a.first;
    r.address_lockout = a.second;
  }
  SecurityEvent e;
  e.type = SecurityEventType::kLoginFailure;
  e.severity = SecuritySeverity::kWarning;
  e.account = Bounded(account);
  e.address = Bounded(address);
  e.count = r.account_failures;
  Emit(std::move(e));
  return r;
}

absl::Status IntrusionDetector::RecordLoginSuccess(absl::string_view account,
                                                   absl::string_view address) {
  KOS_RETURN_IF_ERROR(CheckId("account", account, false));
  KOS_RETURN_IF_ERROR(CheckId("address", address, true));
  KOS_RETURN_IF_ERROR(
      options_.ephemeral->Delete(Key("fail", LockScope::kAccount, account)).status());
  return options_.ephemeral->Delete(Key("level", LockScope::kAccount, account)).status();
}

absl::StatusOr<absl::Duration> IntrusionDetector::IsLocked(LockScope scope, absl::string_view id) {
  KOS_RETURN_IF_ERROR(CheckId(scope == LockScope::kAccount ? "account" : "address", id, false));
  absl::StatusOr<absl::Duration> ttl = options_.ephemeral->TimeToLive(Key("lock", scope, id));
  if (absl::IsNotFound(ttl.status())) return absl::ZeroDuration();
  return ttl;
}

absl::Status IntrusionDetector::Unlock(LockScope scope, absl::string_view id) {
  KOS_RETURN_IF_ERROR(CheckId(scope == LockScope::kAccount ? "account" : "address", id, false));
  for (absl::string_view kind : {"lock", "fail", "level"}) {
    KOS_RETURN_IF_ERROR(options_.ephemeral->Delete(Key(kind, scope, id)).status());
  }
  return absl::OkStatus();
}

absl::Status IntrusionDetector::RecordRefreshTokenReuse(absl::string_view account,
                                                        absl::string_view token_family,
                                                        absl::string_view address) {
  KOS_RETURN_IF_ERROR(CheckId("token family", token_family, false));
  SecurityEvent e;
  e.type = SecurityEventType::kRefreshTokenReuse;
  e.severity = SecuritySeverity::kCritical;
  e.account = Bounded(account);
  e.address = Bounded(address);
  e.subject = Bounded(token_family);
  e.detail = "refresh token presented again after use; token family revoked";
  Emit(std::move(e));
  return absl::OkStatus();
}

absl::StatusOr<int64_t> IntrusionDetector::RecordSignatureFailure(absl::string_view source,
                                                                  absl::string_view detail,
                                                                  absl::string_view address) {
  KOS_RETURN_IF_ERROR(CheckId("signature source", source, false));
  KOS_ASSIGN_OR_RETURN(
      int64_t n, options_.ephemeral->Increment(absl::StrCat(options_.key_prefix, "sig:", source), 1,
                                               options_.signature_failure_window));
  SecurityEvent e;
  e.type = SecurityEventType::kSignatureFailure;
  e.severity = n >= options_.signature_failure_threshold ? SecuritySeverity::kCritical
                                                         : SecuritySeverity::kWarning;
  e.subject = Bounded(source);
  e.address = Bounded(address);
  e.detail = Bounded(detail);
  e.count = n;
  Emit(std::move(e));
  return n;
}

absl::Status IntrusionDetector::RecordReplayedTask(absl::string_view issuer,
                                                   absl::string_view task_id,
                                                   absl::string_view detail) {
  KOS_RETURN_IF_ERROR(CheckId("task id", task_id, false));
  SecurityEvent e;
  e.type = SecurityEventType::kReplayedTask;
  e.severity = SecuritySeverity::kCritical;
  e.account = Bounded(issuer);
  e.subject = Bounded(task_id);
  e.detail = Bounded(detail);
  Emit(std::move(e));
  return absl::OkStatus();
}

}  // namespace kos
