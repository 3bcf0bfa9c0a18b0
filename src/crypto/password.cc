#include <sodium.h>

#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "crypto/sodium_init.h"
#include "kos/crypto.h"
#include "kos/status.h"

namespace kos {
namespace {

// libsodium reads the hash as a C string: refuse anything that could be
// misread (embedded NUL, too long) or is not Argon2id before handing it over.
absl::Status CheckHashString(absl::string_view hash) {
  if (hash.size() >= crypto_pwhash_STRBYTES || hash.find('\0') != absl::string_view::npos ||
      !absl::StartsWith(hash, crypto_pwhash_argon2id_STRPREFIX)) {
    return absl::InvalidArgumentError("not an Argon2id password hash string");
  }
  return absl::OkStatus();
}

}  // namespace

PasswordHasherOptions PasswordHasherOptions::Minimum() {
  PasswordHasherOptions o;
  o.ops_limit = crypto_pwhash_argon2id_OPSLIMIT_MIN;
  o.mem_limit = crypto_pwhash_argon2id_MEMLIMIT_MIN;
  return o;
}

absl::StatusOr<PasswordHasher> PasswordHasher::Create(const PasswordHasherOptions& options) {
  KOS_RETURN_IF_ERROR(CryptoInit());
  if (options.ops_limit < crypto_pwhash_argon2id_OPSLIMIT_MIN ||
      options.ops_limit > crypto_pwhash_argon2id_OPSLIMIT_MAX) {
    return absl::InvalidArgumentError(
        absl::StrCat("Argon2id ops_limit must be >= ", crypto_pwhash_argon2id_OPSLIMIT_MIN));
  }
  if (options.mem_limit < crypto_pwhash_argon2id_MEMLIMIT_MIN ||
      options.mem_limit > crypto_pwhash_argon2id_MEMLIMIT_MAX) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Argon2id mem_limit must be >= ", crypto_pwhash_argon2id_MEMLIMIT_MIN, " bytes"));
  }
  return PasswordHasher(options);
}

absl::StatusOr<std::string> PasswordHasher::Hash(absl::string_view password) const {
  KOS_RETURN_IF_ERROR(CryptoInit());
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(out, password.data(), password.size(), options_.ops_limit,
                            options_.mem_limit, crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return absl::ResourceExhaustedError(
        absl::StrCat("Argon2id could not allocate ", options_.mem_limit, " bytes"));
  }
  return std::string(out);
}

absl::Status PasswordHasher::Verify(absl::string_view hash, absl::string_view password) const {
  KOS_RETURN_IF_ERROR(CryptoInit());
  KOS_RETURN_IF_ERROR(CheckHashString(hash));
  const std::string h(hash);  // NUL-terminated copy
  // Distinguish a malformed string (which libsodium also reports as -1) from
  // a wrong password, so callers can tell corruption from a bad login.
  if (crypto_pwhash_str_needs_rehash(h.c_str(), options_.ops_limit, options_.mem_limit) == -1) {
    return absl::InvalidArgumentError("malformed Argon2id password hash string");
  }
  if (crypto_pwhash_str_verify(h.c_str(), password.data(), password.size()) != 0) {
    return absl::UnauthenticatedError("password does not match");
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> PasswordHasher::NeedsRehash(absl::string_view hash) const {
  KOS_RETURN_IF_ERROR(CryptoInit());
  KOS_RETURN_IF_ERROR(CheckHashString(hash));
  const std::string h(hash);
  const int rc = crypto_pwhash_str_needs_rehash(h.c_str(), options_.ops_limit, options_.mem_limit);
  if (rc == -1) return absl::InvalidArgumentError("malformed Argon2id password hash string");
  return rc == 1;
}

}  // namespace kos
