#include <sodium.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "crypto/sodium_init.h"
#include "kos/crypto.h"

namespace kos {
namespace {

const unsigned char* U(absl::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

void Hmac(absl::string_view key, absl::string_view message, unsigned char out[32]) {
  crypto_internal::SodiumReady();
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, U(key), key.size());
  crypto_auth_hmacsha256_update(&st, U(message), message.size());
  crypto_auth_hmacsha256_final(&st, out);
  sodium_memzero(&st, sizeof st);
}

}  // namespace

std::string Sha256(absl::string_view data) {
  crypto_internal::SodiumReady();
  std::string out(crypto_hash_sha256_BYTES, '\0');
  crypto_hash_sha256(reinterpret_cast<unsigned char*>(out.data()), U(data), data.size());
  return out;
}

absl::StatusOr<std::string> Blake2b(absl::string_view data, size_t out_bytes,
                                    absl::string_view key) {
  if (out_bytes < crypto_generichash_BYTES_MIN || out_bytes > crypto_generichash_BYTES_MAX) {
    return absl::InvalidArgumentError(absl::StrCat("BLAKE2b output size must be ",
                                                   crypto_generichash_BYTES_MIN, "..",
                                                   crypto_generichash_BYTES_MAX, " bytes"));
  }
  if (!key.empty() && (key.size() < crypto_generichash_KEYBYTES_MIN ||
                       key.size() > crypto_generichash_KEYBYTES_MAX)) {
    return absl::InvalidArgumentError(absl::StrCat("BLAKE2b key must be empty or ",
                                                   crypto_generichash_KEYBYTES_MIN, "..",
                                                   crypto_generichash_KEYBYTES_MAX, " bytes"));
  }
  crypto_internal::SodiumReady();
  std::string out(out_bytes, '\0');
  crypto_generichash(reinterpret_cast<unsigned char*>(out.data()), out_bytes, U(data), data.size(),
                     key.empty() ? nullptr : U(key), key.size());
  return out;
}

std::string HmacSha256(absl::string_view key, absl::string_view message) {
  std::string out(crypto_auth_hmacsha256_BYTES, '\0');
  Hmac(key, message, reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

absl::Status HmacSha256Verify(absl::string_view key, absl::string_view message,
                              absl::string_view tag) {
  if (tag.size() < 16 || tag.size() > crypto_auth_hmacsha256_BYTES) {
    return absl::InvalidArgumentError(
        absl::StrCat("HMAC-SHA256 tag must be 16..32 bytes, got ", tag.size()));
  }
  unsigned char expected[crypto_auth_hmacsha256_BYTES];
  Hmac(key, message, expected);
  const bool ok = sodium_memcmp(expected, tag.data(), tag.size()) == 0;
  sodium_memzero(expected, sizeof expected);
  if (!ok) return absl::UnauthenticatedError("HMAC-SHA256 tag mismatch");
  return absl::OkStatus();
}

absl::StatusOr<SecretBytes> HkdfSha256(absl::string_view ikm, absl::string_view salt,
                                       absl::string_view info, size_t out_bytes) {
  if (out_bytes == 0 || out_bytes > kHkdfSha256MaxBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("HKDF-SHA256 output must be 1..", kHkdfSha256MaxBytes, " bytes"));
  }
  constexpr size_t kHashLen = crypto_auth_hmacsha256_BYTES;
  // Extract: PRK = HMAC(salt, IKM); an absent salt is HashLen zeros.
  const unsigned char zeros[kHashLen] = {0};
  absl::string_view s =
      salt.empty() ? absl::string_view(reinterpret_cast<const char*>(zeros), kHashLen) : salt;
  SecretBytes prk(kHashLen);
  Hmac(s, ikm, prk.data());

  // Expand: T(i) = HMAC(PRK, T(i-1) || info || i).
  SecretBytes okm(out_bytes);
  unsigned char t[kHashLen];
  size_t t_len = 0;
  size_t done = 0;
  for (unsigned counter = 1; done < out_bytes; ++counter) {
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, prk.data(), prk.size());
    crypto_auth_hmacsha256_update(&st, t, t_len);
    crypto_auth_hmacsha256_update(&st, U(info), info.size());
    const unsigned char c = static_cast<unsigned char>(counter);
    crypto_auth_hmacsha256_update(&st, &c, 1);
    crypto_auth_hmacsha256_final(&st, t);
    sodium_memzero(&st, sizeof st);
    t_len = kHashLen;
    const size_t n = std::min(kHashLen, out_bytes - done);
    std::memcpy(okm.data() + done, t, n);
    done += n;
  }
  sodium_memzero(t, sizeof t);
  return okm;
}

}  // namespace kos
