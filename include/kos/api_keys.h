// API keys for agents and services.
//
// A key reads `kos_<prefix>_<secret>`: the prefix (12 characters of
// [a-z0-9]) is public and names the stored record; the secret (32 random
// bytes, base64url) is shown once at creation and stored only as its SHA-256
// hash, compared in constant time. Keys carry scopes, an optional expiry and
// can be revoked.
#ifndef KOS_API_KEYS_H_
#define KOS_API_KEYS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "kos/clock.h"
#include "kos/export.h"
#include "kos/store.h"

namespace kos {

struct KOS_EXPORT ApiKey {
  std::string prefix;  // public id, e.g. "k3x9q0a1b2c3"
  std::string owner;   // the agent or service it acts as, e.g. "agent:kPlanner"
  std::string name;    // human label
  std::vector<std::string> scopes;
  absl::Time created = absl::InfinitePast();
  absl::Time expires = absl::InfiniteFuture();  // InfiniteFuture: never
  bool revoked = false;
  absl::Time revoked_at = absl::InfinitePast();
};

struct KOS_EXPORT NewApiKey {
  std::string owner;  // required, 1..128 bytes
  std::string name;
  std::vector<std::string> scopes;
  absl::Duration ttl = absl::ZeroDuration();  // zero: no expiry
};

struct KOS_EXPORT CreatedApiKey {
  ApiKey key;
  std::string plaintext;  // `kos_<prefix>_<secret>`; shown once, never stored
};

struct KOS_EXPORT ApiKeyManagerOptions {
  // Not owned; must outlive the manager. Required.
  Store* store = nullptr;
  // Not owned. Default: real clock.
  Clock* clock = Clock::Real();
  // Default "kos_api_keys".
  std::string collection = "kos_api_keys";
};

// Creates, verifies, lists and revokes API keys. Thread-safe.
class KOS_EXPORT ApiKeyManager {
 public:
  static absl::StatusOr<std::unique_ptr<ApiKeyManager>> Open(const ApiKeyManagerOptions& options);

  absl::StatusOr<CreatedApiKey> Create(const NewApiKey& spec);
  // The key record if `presented` is a live key. UNAUTHENTICATED ("invalid
  // API key") for a malformed, unknown, wrong, expired or revoked key alike;
  // the message never contains the presented text.
  absl::StatusOr<ApiKey> Verify(absl::string_view presented);
  absl::StatusOr<ApiKey> Get(absl::string_view prefix);
  // Every key of `owner` ("" = all), revoked ones included.
  absl::StatusOr<std::vector<ApiKey>> List(absl::string_view owner);
  // Marks the key revoked (kept for audit). NOT_FOUND if unknown.
  absl::Status Revoke(absl::string_view prefix);

 private:
  explicit ApiKeyManager(const ApiKeyManagerOptions& options) : options_(options) {}
  const ApiKeyManagerOptions options_;
};

}  // namespace kos

#endif  // KOS_API_KEYS_H_
