#include "kos/rate_limiter.h"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "kos/status.h"

namespace kos {
namespace {

constexpr size_t kMaxKeyBytes = 256;
constexpr int64_t kMaxBurst = 1'000'000'000;

bool IsClassName(absl::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.')) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::vector<RateLimitClass> DefaultRateLimitClasses() {
  return {
      RateLimitClass{"global", 1000, absl::Hours(1), 1000},
      RateLimitClass{"api", 100, absl::Minutes(1), 100},
      RateLimitClass{"auth", 10, absl::Minutes(1), 10},
  };
}

RateLimiter::RateLimiter(const RateLimiterOptions& options) : options_(options) {}

absl::StatusOr<std::unique_ptr<RateLimiter>> RateLimiter::Open(const RateLimiterOptions& options) {
  if (options.ephemeral == nullptr) {
    return absl::InvalidArgumentError("RateLimiterOptions.ephemeral is required");
  }
  if (options.clock == nullptr)
    return absl::InvalidArgumentError("RateLimiterOptions.clock is null");
  if (options.max_cas_attempts < 1) {
    return absl::InvalidArgumentError("RateLimiterOptions.max_cas_attempts must be >= 1");
  }
  std::unique_ptr<RateLimiter> rl(new RateLimiter(options));
  for (size_t i = 0; i < options.classes.size(); ++i) {
    RateLimitClass c = options.classes[i];
    std::string where = absl::StrCat("rate limit class ", i, " '", c.name.substr(0, 64), "'");
    if (!IsClassName(c.name)) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": name must be 1-64 of [a-z0-9_.-]"));
    }
    if (c.limit < 1 || c.limit > kMaxBurst) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": limit must be in [1, ", kMaxBurst, "], got ", c.limit));
    }
    if (c.period <= absl::ZeroDuration() || c.period > absl::Hours(24 * 366)) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": period must be in (0, 366 days], got ", absl::FormatDuration(c.period)));
    }
    if (c.burst == 0) c.burst = c.limit;
    if (c.burst < 1 || c.burst > kMaxBurst) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": burst must be in [1, ", kMaxBurst, "], got ", c.burst));
    }
    int64_t interval = absl::ToInt64Nanoseconds(c.period) / c.limit;
    if (interval < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": more than one request per nanosecond"));
    }
    if (interval > INT64_MAX / 4 / c.burst) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": burst x interval overflows"));
    }
    Compiled compiled{c, interval, interval * c.burst};
    if (!rl->compiled_.emplace(c.name, compiled).second) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": duplicate class name"));
    }
    rl->classes_.push_back(c);
  }
  return rl;
}

absl::StatusOr<const RateLimiter::Compiled*> RateLimiter::Find(absl::string_view class_name,
                                                               absl::string_view key) const {
  auto it = compiled_.find(class_name);
  if (it == compiled_.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown rate limit class '", class_name.substr(0, 64), "'"));
  }
  if (key.empty()) return absl::InvalidArgumentError("rate limit key is empty");
  if (key.size() > kMaxKeyBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("rate limit key is ", key.size(), " bytes; the limit is ", kMaxKeyBytes));
  }
  return &it->second;
}

absl::StatusOr<RateLimitDecision> RateLimiter::Decide(absl::string_view class_name,
                                                      absl::string_view key) {
  KOS_ASSIGN_OR_RETURN(const Compiled* c, Find(class_name, key));
  const std::string store_key = absl::StrCat(options_.key_prefix, c->spec.name, ":", key);
  const int64_t now = absl::ToUnixNanos(options_.clock->Now());
  RateLimitDecision d;
  d.limit = c->spec.burst;
  for (int attempt = 0; attempt < options_.max_cas_attempts; ++attempt) {
    std::optional<std::string> current;
    int64_t tat = now;
    absl::StatusOr<std::string> got = options_.ephemeral->Get(store_key);
    if (got.ok()) {
      current = *std::move(got);
      int64_t stored;
      // An unparsable value (written by something else) is treated as "no
      // history" and overwritten by the swap below rather than locking the
      // key out forever.
      if (absl::SimpleAtoi(*current, &stored)) tat = std::max(stored, now);
    } else if (!absl::IsNotFound(got.status())) {
      return got.status();
    }
    const int64_t new_tat = tat + c->interval_ns;
    if (new_tat - now > c->tolerance_ns) {
      d.allowed = false;
      d.remaining = 0;
      d.retry_after = absl::Nanoseconds(new_tat - c->tolerance_ns - now);
      d.reset_after = absl::Nanoseconds(tat - now);
      return d;
    }
    std::optional<absl::string_view> expected;
    if (current.has_value()) expected = *current;
    KOS_ASSIGN_OR_RETURN(
        bool swapped, options_.ephemeral->CompareAndSwap(store_key, expected, absl::StrCat(new_tat),
                                                         absl::Nanoseconds(new_tat - now)));
    if (swapped) {
      d.allowed = true;
      d.retry_after = absl::ZeroDuration();
      d.remaining = (c->tolerance_ns - (new_tat - now)) / c->interval_ns;
      d.reset_after = absl::Nanoseconds(new_tat - now);
      return d;
    }
  }
  return absl::AbortedError(
      absl::StrCat("rate limit state for class '", c->spec.name, "' is too contended; retry"));
}

absl::Status RateLimiter::Reset(absl::string_view class_name, absl::string_view key) {
  KOS_ASSIGN_OR_RETURN(const Compiled* c, Find(class_name, key));
  return options_.ephemeral->Delete(absl::StrCat(options_.key_prefix, c->spec.name, ":", key))
      .status();
}

}  // namespace kos
