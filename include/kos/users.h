// Users: accounts with Argon2id password hashes, profile, preferences and
// roles, kept in a kos::Store.
//
// Usernames and emails are unique case-insensitively. Uniqueness is enforced
// by index records ("kos_user_names" / "kos_user_emails", key = normalized
// name) written in the same atomic batch as the user with expected_version 0,
// so two concurrent creates of the same name cannot both win, on any backend.
#ifndef KOS_USERS_H_
#define KOS_USERS_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "kos/clock.h"
#include "kos/crypto.h"
#include "kos/export.h"
#include "kos/json.h"
#include "kos/store.h"

namespace kos {

// How passwords are hashed. An interface so tests can count verifications
// (user-enumeration resistance) and deployments can tune parameters.
// Implementations must be thread-safe.
class KOS_EXPORT PasswordHashing {
 public:
  virtual ~PasswordHashing();
  virtual absl::StatusOr<std::string> Hash(absl::string_view password) const = 0;
  // OK on a match, UNAUTHENTICATED otherwise.
  virtual absl::Status Verify(absl::string_view hash, absl::string_view password) const = 0;
  // True if `hash` was made with other parameters than the current ones.
  virtual absl::StatusOr<bool> NeedsRehash(absl::string_view hash) const = 0;

  // Argon2id through kos::PasswordHasher.
  static absl::StatusOr<std::shared_ptr<const PasswordHashing>> Argon2id(
      const PasswordHasherOptions& options = {});
};

// Lowercase ASCII and strip surrounding whitespace (no Unicode folding).
KOS_EXPORT std::string NormalizeUsername(absl::string_view username);
KOS_EXPORT std::string NormalizeEmail(absl::string_view email);

struct KOS_EXPORT User {
  std::string id;        // ULID, immutable
  std::string username;  // as given (trimmed); unique case-insensitively
  std::string email;     // as given (trimmed); unique case-insensitively; may be ""
  std::string display_name;
  Json profile = Json::object();      // free attributes (avatar, locale, ...)
  Json preferences = Json::object();  // free JSON, size-limited
  std::vector<std::string> roles;
  bool disabled = false;
  absl::Time created = absl::InfinitePast();
  absl::Time updated = absl::InfinitePast();
  absl::Time password_changed = absl::InfinitePast();
  uint64_t version = 0;  // Store version; pass back to Update for CAS
};

struct KOS_EXPORT NewUser {
  std::string username;  // required: 1..64 chars of [A-Za-z0-9._@-] after trim
  std::string email;     // optional; must contain one '@' if given
  std::string password;  // required: at least UserStoreOptions::min_password_length
  std::string display_name;
  Json profile = Json::object();
  Json preferences = Json::object();
  std::vector<std::string> roles;
};

// Fields left unset are unchanged.
struct KOS_EXPORT UserUpdate {
  std::optional<std::string> username;
  std::optional<std::string> email;
  std::optional<std::string> display_name;
  std::optional<Json> profile;
  std::optional<Json> preferences;
  std::optional<std::vector<std::string>> roles;
  std::optional<bool> disabled;
  // If set, the update fails with FAILED_PRECONDITION unless the stored
  // version equals this.
  std::optional<uint64_t> expected_version;
};

struct KOS_EXPORT UserStoreOptions {
  // Where users live. Not owned; must outlive the UserStore. Required.
  Store* store = nullptr;
  // Source of time for created/updated stamps. Not owned. Default: real clock.
  Clock* clock = Clock::Real();
  // Password hashing. Default (null): Argon2id with PasswordHasherOptions{}.
  std::shared_ptr<const PasswordHashing> hashing;
  // Passwords shorter than this (in bytes) are refused. Default 8.
  size_t min_password_length = 8;
  // Passwords longer than this are refused (bounds hashing work). Default 1024.
  size_t max_password_length = 1024;
  // Serialized size limits of preferences and profile. Default 64 KiB / 16 KiB.
  size_t max_preferences_bytes = 64 * 1024;
  size_t max_profile_bytes = 16 * 1024;
  // Collection prefix; collections are <prefix>users, <prefix>user_names,
  // <prefix>user_emails. Default "kos_".
  std::string collection_prefix = "kos_";
};

// User accounts. Thread-safe.
class KOS_EXPORT UserStore {
 public:
  static absl::StatusOr<std::unique_ptr<UserStore>> Open(const UserStoreOptions& options);
  ~UserStore();

  // ALREADY_EXISTS if the username or email is taken; INVALID_ARGUMENT for a
  // bad field (never echoing the password).
  absl::StatusOr<User> Create(const NewUser& user);
  // NOT_FOUND if absent.
  absl::StatusOr<User> Get(absl::string_view id);
  absl::StatusOr<User> GetByUsername(absl::string_view username);
  absl::StatusOr<User> GetByEmail(absl::string_view email);
  absl::StatusOr<User> Update(absl::string_view id, const UserUpdate& update);
  absl::Status SetPassword(absl::string_view id, absl::string_view new_password);
  absl::Status Disable(absl::string_view id);
  absl::Status Enable(absl::string_view id);
  // Removes the user and its name/email index records.
  absl::Status Delete(absl::string_view id);

  // Checks a username/password pair. UNAUTHENTICATED ("invalid credentials")
  // for an unknown user, a wrong password or a disabled account. An unknown
  // user still costs one hash verification (against a dummy hash) so timing
  // does not reveal which usernames exist. On success, rehashes the password
  // when the hashing parameters changed.
  absl::StatusOr<User> VerifyPassword(absl::string_view username, absl::string_view password);

 private:
  explicit UserStore(const UserStoreOptions& options, std::string dummy_hash);
  struct Stored;
  class Decoded;
  absl::StatusOr<Stored> Load(absl::string_view id);
  absl::StatusOr<std::string> LookupIndex(absl::string_view collection, absl::string_view key);
  absl::StatusOr<User> Write(const Stored& before, Stored after);

  const UserStoreOptions options_;
  const std::string users_, names_, emails_;
  const std::string dummy_hash_;
  // Decoded users by id, valid while the stored bytes are unchanged.
  std::unique_ptr<Decoded> decoded_;
};

}  // namespace kos

#endif  // KOS_USERS_H_
