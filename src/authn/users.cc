#include "kos/users.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "authn/decode_cache.h"
#include "kos/id.h"
#include "kos/status.h"

namespace kos {

struct UserStore::Stored {
  User user;
  std::string password_hash;
};

namespace {

class Argon2idHashing final : public PasswordHashing {
 public:
  explicit Argon2idHashing(PasswordHasher hasher) : hasher_(std::move(hasher)) {}
  absl::StatusOr<std::string> Hash(absl::string_view password) const override {
    return hasher_.Hash(password);
  }
  absl::Status Verify(absl::string_view hash, absl::string_view password) const override {
    return hasher_.Verify(hash, password);
  }
  absl::StatusOr<bool> NeedsRehash(absl::string_view hash) const override {
    return hasher_.NeedsRehash(hash);
  }

 private:
  const PasswordHasher hasher_;
};

constexpr size_t kMaxUsername = 64;
constexpr size_t kMaxEmail = 254;
constexpr size_t kMaxDisplayName = 256;
constexpr size_t kMaxRoles = 64;
constexpr size_t kMaxRoleName = 128;

absl::Status CheckUsername(absl::string_view name) {
  if (name.empty() || name.size() > kMaxUsername) {
    return absl::InvalidArgumentError("username: must be 1..64 characters");
  }
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-' &&
        c != '@') {
      return absl::InvalidArgumentError("username: only letters, digits and . _ - @ are allowed");
    }
  }
  return absl::OkStatus();
}

absl::Status CheckEmail(absl::string_view email) {
  if (email.empty()) return absl::OkStatus();
  if (email.size() > kMaxEmail) return absl::InvalidArgumentError("email: longer than 254 bytes");
  size_t at = email.find('@');
  if (at == absl::string_view::npos || at == 0 || at + 1 == email.size() ||
      email.find('@', at + 1) != absl::string_view::npos) {
    return absl::InvalidArgumentError("email: expected exactly one '@' between two parts");
  }
  for (unsigned char c : email) {
    if (c <= 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError("email: contains whitespace or control characters");
    }
  }
  if (!IsValidUtf8(email)) return absl::InvalidArgumentError("email: invalid UTF-8");
  return absl::OkStatus();
}

absl::Status CheckJsonField(const Json& j, size_t limit, absl::string_view field) {
  if (!j.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": expected object, got ", JsonTypeName(j)));
  }
  size_t size = DumpJson(j).size();
  if (size > limit) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": ", size, " bytes exceeds the limit of ", limit));
  }
  return absl::OkStatus();
}

absl::Status CheckRoles(const std::vector<std::string>& roles) {
  if (roles.size() > kMaxRoles) return absl::InvalidArgumentError("roles: more than 64 roles");
  for (const std::string& r : roles) {
    if (r.empty() || r.size() > kMaxRoleName || !IsValidUtf8(r)) {
      return absl::InvalidArgumentError("roles: each role must be 1..128 bytes of UTF-8");
    }
  }
  return absl::OkStatus();
}

int64_t Millis(absl::Time t) { return absl::ToUnixMillis(t); }

std::string Encode(const User& u, const std::string& hash) {
  Json j = {{"id", u.id},
            {"username", u.username},
            {"email", u.email},
            {"display_name", u.display_name},
            {"profile", u.profile},
            {"preferences", u.preferences},
            {"roles", u.roles},
            {"disabled", u.disabled},
            {"created_ms", Millis(u.created)},
            {"updated_ms", Millis(u.updated)},
            {"password_changed_ms", Millis(u.password_changed)},
            {"password_hash", hash}};
  return DumpJson(j);
}

absl::Status Decode(absl::string_view text, User* u, std::string* hash) {
  auto parsed = ParseJson(text);
  if (!parsed.ok() || !parsed->is_object()) return absl::DataLossError("user record is not JSON");
  const Json& j = *parsed;
  KOS_ASSIGN_OR_RETURN(u->id, GetString(j, "id", "user"));
  KOS_ASSIGN_OR_RETURN(u->username, GetString(j, "username", "user"));
  KOS_ASSIGN_OR_RETURN(u->email, GetString(j, "email", "user"));
  KOS_ASSIGN_OR_RETURN(u->display_name, GetString(j, "display_name", "user"));
  KOS_ASSIGN_OR_RETURN(u->disabled, GetBool(j, "disabled", "user"));
  KOS_ASSIGN_OR_RETURN(*hash, GetString(j, "password_hash", "user"));
  KOS_ASSIGN_OR_RETURN(int64_t created, GetInt(j, "created_ms", "user"));
  KOS_ASSIGN_OR_RETURN(int64_t updated, GetInt(j, "updated_ms", "user"));
  KOS_ASSIGN_OR_RETURN(int64_t changed, GetInt(j, "password_changed_ms", "user"));
  u->created = absl::FromUnixMillis(created);
  u->updated = absl::FromUnixMillis(updated);
  u->password_changed = absl::FromUnixMillis(changed);
  u->profile = j.value("profile", Json::object());
  u->preferences = j.value("preferences", Json::object());
  u->roles.clear();
  if (auto it = j.find("roles"); it != j.end() && it->is_array()) {
    for (const Json& r : *it) {
      if (r.is_string()) u->roles.push_back(r.get<std::string>());
    }
  }
  return absl::OkStatus();
}

std::string Trimmed(absl::string_view s) { return std::string(absl::StripAsciiWhitespace(s)); }

}  // namespace

PasswordHashing::~PasswordHashing() = default;

absl::StatusOr<std::shared_ptr<const PasswordHashing>> PasswordHashing::Argon2id(
    const PasswordHasherOptions& options) {
  KOS_ASSIGN_OR_RETURN(PasswordHasher hasher, PasswordHasher::Create(options));
  return std::shared_ptr<const PasswordHashing>(
      std::make_shared<Argon2idHashing>(std::move(hasher)));
}

std::string NormalizeUsername(absl::string_view username) {
  return absl::AsciiStrToLower(absl::StripAsciiWhitespace(username));
}

std::string NormalizeEmail(absl::string_view email) {
  return absl::AsciiStrToLower(absl::StripAsciiWhitespace(email));
}

// Validation reads the caller's user on every request; decoding its JSON was
// a third of that cost.
class UserStore::Decoded : public internal::DecodeCache<UserStore::Stored> {
 public:
  Decoded() : DecodeCache(4096) {}
};

UserStore::UserStore(const UserStoreOptions& options, std::string dummy_hash)
    : options_(options),
      users_(options.collection_prefix + "users"),
      names_(options.collection_prefix + "user_names"),
      emails_(options.collection_prefix + "user_emails"),
      dummy_hash_(std::move(dummy_hash)),
      decoded_(std::make_unique<Decoded>()) {}

UserStore::~UserStore() = default;

absl::StatusOr<std::unique_ptr<UserStore>> UserStore::Open(const UserStoreOptions& options) {
  if (options.store == nullptr) return absl::InvalidArgumentError("UserStore: store is required");
  if (options.clock == nullptr) return absl::InvalidArgumentError("UserStore: clock is required");
  UserStoreOptions o = options;
  if (!o.hashing) {
    KOS_ASSIGN_OR_RETURN(o.hashing, PasswordHashing::Argon2id());
  }
  KOS_RETURN_IF_ERROR(ValidateCollectionName(o.collection_prefix + "user_emails"));
  // A hash of a random password with the current parameters: verifying
  // against it costs what verifying a real user's hash costs.
  KOS_ASSIGN_OR_RETURN(std::string dummy, o.hashing->Hash(Base64UrlEncode(RandomBytes(24))));
  return std::unique_ptr<UserStore>(new UserStore(o, std::move(dummy)));
}

absl::StatusOr<User> UserStore::Create(const NewUser& in) {
  User u;
  u.username = Trimmed(in.username);
  u.email = Trimmed(in.email);
  u.display_name = in.display_name;
  u.profile = in.profile;
  u.preferences = in.preferences;
  u.roles = in.roles;
  KOS_RETURN_IF_ERROR(CheckUsername(u.username));
  KOS_RETURN_IF_ERROR(CheckEmail(u.email));
  if (u.display_name.size() > kMaxDisplayName || !IsValidUtf8(u.display_name)) {
    return absl::InvalidArgumentError("display_name: must be at most 256 bytes of UTF-8");
  }
  KOS_RETURN_IF_ERROR(CheckJsonField(u.profile, options_.max_profile_bytes, "profile"));
  KOS_RETURN_IF_ERROR(CheckJsonField(u.preferences, options_.max_preferences_bytes, "preferences"));
  KOS_RETURN_IF_ERROR(CheckRoles(u.roles));
  if (in.password.size() < options_.min_password_length) {
    return absl::InvalidArgumentError(
        absl::StrCat("password: shorter than ", options_.min_password_length, " bytes"));
  }
  if (in.password.size() > options_.max_password_length) {
    return absl::InvalidArgumentError(
        absl::StrCat("password: longer than ", options_.max_password_length, " bytes"));
  }
  KOS_ASSIGN_OR_RETURN(std::string hash, options_.hashing->Hash(in.password));
  IdGenerator ids(options_.clock);
  u.id = ids.Next();
  u.created = u.updated = u.password_changed = options_.clock->Now();

  std::vector<WriteOp> ops;
  ops.push_back(WriteOp::Put(users_, u.id, Encode(u, hash), 0));
  ops.push_back(WriteOp::Put(names_, NormalizeUsername(u.username), u.id, 0));
  if (!u.email.empty()) ops.push_back(WriteOp::Put(emails_, NormalizeEmail(u.email), u.id, 0));
  auto res = options_.store->Commit(ops);
  if (absl::IsFailedPrecondition(res.status())) {
    if (options_.store->Get(names_, NormalizeUsername(u.username)).ok()) {
      return absl::AlreadyExistsError("username is already taken");
    }
    return absl::AlreadyExistsError("email is already registered");
  }
  KOS_RETURN_IF_ERROR(res.status());
  u.version = (*res)[0].version;
  return u;
}

absl::StatusOr<UserStore::Stored> UserStore::Load(absl::string_view id) {
  if (id.empty() || id.size() > 64) return absl::NotFoundError("no such user");
  auto rec = options_.store->Get(users_, id);
  if (absl::IsNotFound(rec.status())) return absl::NotFoundError("no such user");
  KOS_RETURN_IF_ERROR(rec.status());
  if (auto hit = decoded_->Find(id, rec->value)) {
    hit->user.version = rec->version;
    return *std::move(hit);
  }
  Stored s;
  KOS_RETURN_IF_ERROR(Decode(rec->value, &s.user, &s.password_hash));
  s.user.version = rec->version;
  decoded_->Put(id, rec->value, s);
  return s;
}

absl::StatusOr<std::string> UserStore::LookupIndex(absl::string_view collection,
                                                   absl::string_view key) {
  if (key.empty() || key.size() > kMaxEmail) return absl::NotFoundError("no such user");
  auto rec = options_.store->Get(collection, key);
  if (absl::IsNotFound(rec.status())) return absl::NotFoundError("no such user");
  KOS_RETURN_IF_ERROR(rec.status());
  return rec->value;
}

absl::StatusOr<User> UserStore::Get(absl::string_view id) {
  KOS_ASSIGN_OR_RETURN(Stored s, Load(id));
  return s.user;
}

absl::StatusOr<User> UserStore::GetByUsername(absl::string_view username) {
  KOS_ASSIGN_OR_RETURN(std::string id, LookupIndex(names_, NormalizeUsername(username)));
  return Get(id);
}

absl::StatusOr<User> UserStore::GetByEmail(absl::string_view email) {
  KOS_ASSIGN_OR_RETURN(std::string id, LookupIndex(emails_, NormalizeEmail(email)));
  return Get(id);
}

absl::StatusOr<User> UserStore::Write(const Stored& before, Stored after) {
  after.user.updated = options_.clock->Now();
  std::vector<WriteOp> ops;
  ops.push_back(WriteOp::Put(users_, after.user.id, Encode(after.user, after.password_hash),
                             before.user.version));
  std::string old_name = NormalizeUsername(before.user.username);
  std::string new_name = NormalizeUsername(after.user.username);
  if (old_name != new_name) {
    ops.push_back(WriteOp::Put(names_, new_name, after.user.id, 0));
    ops.push_back(WriteOp::Delete(names_, old_name));
  }
  std::string old_email = NormalizeEmail(before.user.email);
  std::string new_email = NormalizeEmail(after.user.email);
  if (old_email != new_email) {
    if (!new_email.empty()) ops.push_back(WriteOp::Put(emails_, new_email, after.user.id, 0));
    if (!old_email.empty()) ops.push_back(WriteOp::Delete(emails_, old_email));
  }
  auto res = options_.store->Commit(ops);
  if (absl::IsFailedPrecondition(res.status())) {
    auto current = options_.store->Get(users_, after.user.id);
    if (current.ok() && current->version != before.user.version) {
      return absl::FailedPreconditionError("user was modified concurrently; reload and retry");
    }
    if (old_name != new_name && options_.store->Get(names_, new_name).ok()) {
      return absl::AlreadyExistsError("username is already taken");
    }
    return absl::AlreadyExistsError("email is already registered");
  }
  KOS_RETURN_IF_ERROR(res.status());
  after.user.version = (*res)[0].version;
  return after.user;
}

absl::StatusOr<User> UserStore::Update(absl::string_view id, const UserUpdate& update) {
  KOS_ASSIGN_OR_RETURN(Stored before, Load(id));
  if (update.expected_version && *update.expected_version != before.user.version) {
    return absl::FailedPreconditionError(absl::StrCat("user version is ", before.user.version,
                                                      ", expected ", *update.expected_version));
  }
  Stored after = before;
  User& u = after.user;
  if (update.username) {
    u.username = Trimmed(*update.username);
    KOS_RETURN_IF_ERROR(CheckUsername(u.username));
  }
  if (update.email) {
    u.email = Trimmed(*update.email);
    KOS_RETURN_IF_ERROR(CheckEmail(u.email));
  }
  if (update.display_name) {
    if (update.display_name->size() > kMaxDisplayName || !IsValidUtf8(*update.display_name)) {
      return absl::InvalidArgumentError("display_name: must be at most 256 bytes of UTF-8");
    }
    u.display_name = *update.display_name;
  }
  if (update.profile) {
    KOS_RETURN_IF_ERROR(CheckJsonField(*update.profile, options_.max_profile_bytes, "profile"));
    u.profile = *update.profile;
  }
  if (update.preferences) {
    KOS_RETURN_IF_ERROR(
        CheckJsonField(*update.preferences, options_.max_preferences_bytes, "preferences"));
    u.preferences = *update.preferences;
  }
  if (update.roles) {
    KOS_RETURN_IF_ERROR(CheckRoles(*update.roles));
    u.roles = *update.roles;
  }
  if (update.disabled) u.disabled = *update.disabled;
  return Write(before, std::move(after));
}

absl::Status UserStore::SetPassword(absl::string_view id, absl::string_view new_password) {
  if (new_password.size() < options_.min_password_length) {
    return absl::InvalidArgumentError(
        absl::StrCat("password: shorter than ", options_.min_password_length, " bytes"));
  }
  if (new_password.size() > options_.max_password_length) {
    return absl::InvalidArgumentError(
        absl::StrCat("password: longer than ", options_.max_password_length, " bytes"));
  }
  KOS_ASSIGN_OR_RETURN(Stored before, Load(id));
  Stored after = before;
  KOS_ASSIGN_OR_RETURN(after.password_hash, options_.hashing->Hash(new_password));
  after.user.password_changed = options_.clock->Now();
  return Write(before, std::move(after)).status();
}

absl::Status UserStore::Disable(absl::string_view id) {
  UserUpdate u;
  u.disabled = true;
  return Update(id, u).status();
}

absl::Status UserStore::Enable(absl::string_view id) {
  UserUpdate u;
  u.disabled = false;
  return Update(id, u).status();
}

absl::Status UserStore::Delete(absl::string_view id) {
  KOS_ASSIGN_OR_RETURN(Stored s, Load(id));
  std::vector<WriteOp> ops;
  ops.push_back(WriteOp::Delete(users_, s.user.id, s.user.version));
  ops.push_back(WriteOp::Delete(names_, NormalizeUsername(s.user.username)));
  if (!s.user.email.empty()) ops.push_back(WriteOp::Delete(emails_, NormalizeEmail(s.user.email)));
  auto res = options_.store->Commit(ops);
  if (absl::IsFailedPrecondition(res.status())) {
    return absl::FailedPreconditionError("user was modified concurrently; reload and retry");
  }
  return res.status();
}

absl::StatusOr<User> UserStore::VerifyPassword(absl::string_view username,
                                               absl::string_view password) {
  const absl::Status invalid = absl::UnauthenticatedError("invalid credentials");
  absl::StatusOr<Stored> s = absl::NotFoundError("");
  auto id = LookupIndex(names_, NormalizeUsername(username));
  if (id.ok()) s = Load(*id);
  if (!s.ok() && !absl::IsNotFound(s.status())) return s.status();
  if (!s.ok() || password.size() > options_.max_password_length) {
    // Same work as a real verification, then the same answer.
    (void)options_.hashing->Verify(dummy_hash_, password.substr(0, options_.max_password_length));
    return invalid;
  }
  absl::Status v = options_.hashing->Verify(s->password_hash, password);
  if (!v.ok()) return invalid;
  // The password was right; a disabled account answers like a wrong one so
  // callers learn nothing more than "no".
  if (s->user.disabled) return invalid;
  auto needs = options_.hashing->NeedsRehash(s->password_hash);
  if (needs.ok() && *needs) {
    Stored after = *s;
    auto rehashed = options_.hashing->Hash(password);
    if (rehashed.ok()) {
      after.password_hash = *rehashed;
      // A concurrent write wins; the rehash happens on a later login.
      auto written = Write(*s, std::move(after));
      if (written.ok()) return *written;
    }
  }
  return s->user;
}

}  // namespace kos
