// In-process Ephemeral: a hash map under one mutex, with lazy expiry and a
// sweep when the key limit is reached.
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "kos/status.h"
#include "store/backends.h"

namespace kos {

Ephemeral::~Ephemeral() = default;

namespace internal {
namespace {

struct Item {
  std::string value;
  absl::Time expires = absl::InfiniteFuture();
};

class MemoryEphemeral final : public Ephemeral {
 public:
  explicit MemoryEphemeral(const EphemeralOptions& options) : options_(options) {}

  absl::StatusOr<std::string> Get(absl::string_view key) override {
    KOS_RETURN_IF_ERROR(CheckKey(key));
    absl::Time now = options_.clock->Now();
    absl::MutexLock l(&mu_);
    const Item* item = Live(key, now);
    if (item == nullptr) return NotFound(key);
    return item->value;
  }

  absl::Status Set(absl::string_view key, absl::string_view value, absl::Duration ttl) override {
    KOS_RETURN_IF_ERROR(CheckWrite(key, value, ttl));
    absl::Time now = options_.clock->Now();
    absl::MutexLock l(&mu_);
    return Store(key, value, ttl, now);
  }

  absl::StatusOr<bool> SetIfAbsent(absl::string_view key, absl::string_view value,
                                   absl::Duration ttl) override {
    KOS_RETURN_IF_ERROR(CheckWrite(key, value, ttl));
    absl::Time now = options_.clock->Now();
    absl::MutexLock l(&mu_);
    if (Live(key, now) != nullptr) return false;
    KOS_RETURN_IF_ERROR(Store(key, value, ttl, now));
    return true;
  }

  absl::StatusOr<bool> CompareAndSwap(absl::string_view key,
                                      std::optional<absl::string_view> expected,
                                      absl::string_view value, absl::Duration ttl) override {
    KOS_RETURN_IF_ERROR(CheckWrite(key, value, ttl));
    absl::Time now = options_.clock->Now();
    absl::MutexLock l(&mu_);
    const Item* item = Live(key, now);
    if (expected.has_value() ? (item == nullptr || item->value != *expected) : item != nullptr) {
      return false;
    }
    KOS_RETURN_IF_ERROR(Store(key, value, ttl, now));
    return true;
  }

  absl::StatusOr<bool> Delete(absl::string_view key) override {
    KOS_RETURN_IF_ERROR(CheckKey(key));
    absl::Time now = options_.clock->Now();
    absl::MutexLock l(&mu_);
    bool live = Live(key, now) != nullptr;
    items_.erase(key);
    return live;
  }

  absl::StatusOr<int64_t> Increment(absl::string_view key, int64_t delta,
                                    absl::Duration ttl) override {
    KOS_RETURN_IF_ERROR(CheckWrite(key, "", ttl));
    absl::Time now = options_.clock->Now();
    absl::MutexLock l(&mu_);
    Item* item = Live(key, now);
    if (item == nullptr) {
      KOS_RETURN_IF_ERROR(Store(key, absl::StrCat(delta), ttl, now));
      return delta;
    }
    int64_t v;
    if (!absl::SimpleAtoi(item->value, &v)) {
      return absl::FailedPreconditionError(
          absl::StrCat("value at '", key.substr(0, 128), "' is not an integer"));
    }
    if ((delta > 0 && v > INT64_MAX - delta) || (delta < 0 && v < INT64_MIN - delta)) {
      return absl::OutOfRangeError(
          absl::StrCat("increment overflows at '", key.substr(0, 128), "'"));
    }
    v += delta;
    item->value = absl::StrCat(v);
    return v;
  }

  absl::StatusOr<absl::Duration> TimeToLive(absl::string_view key) override {
    KOS_RETURN_IF_ERROR(CheckKey(key));
    absl::Time now = options_.clock->Now();
    absl::MutexLock l(&mu_);
    const Item* item = Live(key, now);
    if (item == nullptr) return NotFound(key);
    if (item->expires == absl::InfiniteFuture()) return absl::InfiniteDuration();
    return item->expires - now;
  }

 private:
  absl::Status CheckKey(absl::string_view key) const { return ValidateEphemeralKey(key, options_); }
  absl::Status CheckWrite(absl::string_view key, absl::string_view value,
                          absl::Duration ttl) const {
    return ValidateEphemeralWrite(key, value, ttl, options_);
  }
  static absl::Status NotFound(absl::string_view key) { return EphemeralNotFound(key); }

  Item* Live(absl::string_view key, absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = items_.find(key);
    if (it == items_.end()) return nullptr;
    if (it->second.expires <= now) {
      items_.erase(it);
      return nullptr;
    }
    return &it->second;
  }

  absl::Status Store(absl::string_view key, absl::string_view value, absl::Duration ttl,
                     absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = items_.find(key);
    if (it == items_.end() && items_.size() >= options_.max_keys) {
      Sweep(now);
      if (items_.size() >= options_.max_keys) {
        return absl::ResourceExhaustedError(
            absl::StrCat("ephemeral store holds its limit of ", options_.max_keys, " keys"));
      }
    }
    Item& item = items_[key];
    item.value = std::string(value);
    item.expires = ttl > absl::ZeroDuration() ? now + ttl : absl::InfiniteFuture();
    return absl::OkStatus();
  }

  void Sweep(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    absl::erase_if(items_, [now](const auto& kv) { return kv.second.expires <= now; });
  }

  const EphemeralOptions options_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Item> items_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

std::unique_ptr<Ephemeral> NewMemoryEphemeral(const EphemeralOptions& options) {
  return std::make_unique<MemoryEphemeral>(options);
}

}  // namespace internal

absl::StatusOr<std::unique_ptr<Ephemeral>> OpenEphemeral(absl::string_view uri,
                                                         const EphemeralOptions& options) {
  std::string scheme, rest;
  KOS_RETURN_IF_ERROR(internal::SplitUri(uri, &scheme, &rest));
  if (scheme == "memory") return internal::NewMemoryEphemeral(options);
  if (scheme == "redis" || scheme == "rediss") return internal::OpenRedisEphemeral(uri, options);
  return absl::InvalidArgumentError(
      absl::StrCat("unknown ephemeral URI scheme '", scheme, "' (supported: memory:, redis://)"));
}

}  // namespace kos
