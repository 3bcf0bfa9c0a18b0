// Cryptographic primitives for libkos, all backed by libsodium.
//
// Nothing here implements a primitive by hand: every function is a thin,
// status-returning wrapper over libsodium (HKDF is RFC 5869 composed from
// libsodium's HMAC-SHA256). Byte strings are passed as absl::string_view /
// std::string holding raw bytes; secrets that this library creates (keys,
// derived keys, decrypted plaintexts) are returned as SecretBytes so they are
// wiped when dropped and never printed.
//
// Every function and class in this header is thread-safe unless its comment
// says otherwise. libsodium is initialised on first use (sodium_init() is
// idempotent); callers never need to initialise anything.
#ifndef KOS_CRYPTO_H_
#define KOS_CRYPTO_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kos/export.h"

namespace kos {

// INTERNAL if libsodium cannot initialise (no entropy source). Every entry
// point calls this itself; exposed so servers can fail fast at startup.
KOS_EXPORT absl::Status CryptoInit();

// ---------------------------------------------------------------------------
// SecretBytes
// ---------------------------------------------------------------------------

// A heap buffer for key material. Zeroed (sodium_memzero) on destruction and
// on move-from; best-effort locked in RAM (sodium_mlock) so it is not swapped
// out. Move-only, so a secret is never copied by accident; Clone() copies
// explicitly. Streaming it (or AbslStringify) prints "[redacted N bytes]",
// never the content. Not thread-safe for concurrent mutation (like std::string).
class KOS_EXPORT SecretBytes {
 public:
  SecretBytes() = default;
  // `size` zero bytes.
  explicit SecretBytes(size_t size);
  // A copy of `bytes`. The caller remains responsible for wiping the source.
  static SecretBytes CopyFrom(absl::string_view bytes);
  // `size` bytes from the CSPRNG.
  static SecretBytes Random(size_t size);

  ~SecretBytes();
  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(SecretBytes&& other) noexcept;
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;

  SecretBytes Clone() const;

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  // The raw bytes. The view dies with this object; do not log it.
  absl::string_view view() const {
    return absl::string_view(reinterpret_cast<const char*>(data_), size_);
  }

  // Constant-time comparison of content (sizes are not secret).
  bool Equals(const SecretBytes& other) const;

  template <typename Sink>
  friend void AbslStringify(Sink& sink, const SecretBytes& s) {
    sink.Append(s.DebugString());
  }
  friend std::ostream& operator<<(std::ostream& os, const SecretBytes& s) {
    return os << s.DebugString();
  }
  // "[redacted N bytes]". (AbslStringify takes effect with Abseil >= 20230125;
  // Debian 12's 20220623 only uses operator<<.)
  std::string DebugString() const;

 private:
  void Release();
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  bool locked_ = false;
};

// ---------------------------------------------------------------------------
// Encoding, randomness, comparison
// ---------------------------------------------------------------------------

// RFC 4648 §5 base64url without padding.
KOS_EXPORT std::string Base64UrlEncode(absl::string_view bytes);
// Strict decoder: INVALID_ARGUMENT for padding ('='), characters outside the
// URL-safe alphabet (including whitespace and '+', '/'), impossible lengths
// (len % 4 == 1) and non-canonical encodings (non-zero unused trailing bits),
// so every byte string has exactly one accepted encoding.
KOS_EXPORT absl::StatusOr<std::string> Base64UrlDecode(absl::string_view text);
// As Base64UrlDecode, decoding straight into wiped memory (for keys).
KOS_EXPORT absl::StatusOr<SecretBytes> Base64UrlDecodeSecret(absl::string_view text);

// `size` bytes from the operating system CSPRNG (randombytes_buf).
KOS_EXPORT std::string RandomBytes(size_t size);
// A uniform value in [0, upper_bound) without modulo bias; 0 if upper_bound < 2.
KOS_EXPORT uint32_t RandomUniform(uint32_t upper_bound);

// Constant-time equality (sodium_memcmp). Different lengths compare unequal
// immediately: lengths are not treated as secret.
KOS_EXPORT bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

// ---------------------------------------------------------------------------
// Hashing, MAC, key derivation
// ---------------------------------------------------------------------------

inline constexpr size_t kSha256Bytes = 32;
inline constexpr size_t kHmacSha256Bytes = 32;
inline constexpr size_t kBlake2bMinBytes = 16;
inline constexpr size_t kBlake2bMaxBytes = 64;
inline constexpr size_t kBlake2bMinKeyBytes = 16;
inline constexpr size_t kBlake2bMaxKeyBytes = 64;
// RFC 5869: at most 255 blocks of the hash length.
inline constexpr size_t kHkdfSha256MaxBytes = 255 * 32;

// SHA-256 digest (32 raw bytes).
KOS_EXPORT std::string Sha256(absl::string_view data);

// BLAKE2b with `out_bytes` of output (16..64) and an optional key (empty, or
// 16..64 bytes). INVALID_ARGUMENT for other sizes.
KOS_EXPORT absl::StatusOr<std::string> Blake2b(absl::string_view data, size_t out_bytes = 32,
                                               absl::string_view key = {});

// HMAC-SHA256 tag (32 raw bytes); keys of any length (RFC 2104).
KOS_EXPORT std::string HmacSha256(absl::string_view key, absl::string_view message);
// Recomputes the tag and compares it in constant time with `tag`, which may
// be truncated to its first 16..32 bytes (RFC 2104 §5). UNAUTHENTICATED on a
// mismatch; INVALID_ARGUMENT if `tag` is shorter than 16 or longer than 32.
KOS_EXPORT absl::Status HmacSha256Verify(absl::string_view key, absl::string_view message,
                                         absl::string_view tag);

// HKDF-SHA256 (RFC 5869) extract-then-expand, producing `out_bytes`
// (1..8160). An empty salt means HashLen zero bytes, as the RFC says.
KOS_EXPORT absl::StatusOr<SecretBytes> HkdfSha256(absl::string_view ikm, absl::string_view salt,
                                                  absl::string_view info, size_t out_bytes);

// ---------------------------------------------------------------------------
// Ed25519 signatures (RFC 8032, pure Ed25519)
// ---------------------------------------------------------------------------

inline constexpr size_t kEd25519PublicKeyBytes = 32;
inline constexpr size_t kEd25519SeedBytes = 32;
inline constexpr size_t kEd25519SecretKeyBytes = 64;  // libsodium form: seed || public key
inline constexpr size_t kEd25519SignatureBytes = 64;

// An Ed25519 signing key and its public key. Immutable after creation, so
// thread-safe; move-only because it owns a secret.
class KOS_EXPORT Ed25519KeyPair {
 public:
  // A fresh key pair from the CSPRNG.
  static Ed25519KeyPair Generate();
  // The key pair for a 32-byte RFC 8032 private key (the "seed").
  // INVALID_ARGUMENT for any other size.
  static absl::StatusOr<Ed25519KeyPair> FromSeed(absl::string_view seed);
  // FromSeed() over a base64url (no padding) seed, e.g. a JWK "d" member.
  static absl::StatusOr<Ed25519KeyPair> FromSeedBase64Url(absl::string_view seed_b64url);

  Ed25519KeyPair(Ed25519KeyPair&&) noexcept = default;
  Ed25519KeyPair& operator=(Ed25519KeyPair&&) noexcept = default;

  // 32 raw bytes.
  const std::string& public_key() const { return public_key_; }
  std::string PublicKeyBase64Url() const { return Base64UrlEncode(public_key_); }
  // The 32-byte seed: everything needed to rebuild the pair. Handle with care.
  SecretBytes ExportSeed() const;
  SecretBytes ExportSeedBase64Url() const;
  // The 64-byte libsodium secret key (seed || public key).
  const SecretBytes& secret_key() const { return secret_key_; }

  // 64-byte detached signature over `message`.
  std::string Sign(absl::string_view message) const;

  Ed25519KeyPair Clone() const;

 private:
  Ed25519KeyPair() = default;
  SecretBytes secret_key_;
  std::string public_key_;
};

// Signs with a 64-byte libsodium secret key or a 32-byte seed. Returns the
// 64-byte signature; INVALID_ARGUMENT for other key sizes.
KOS_EXPORT absl::StatusOr<std::string> Ed25519Sign(const SecretBytes& secret_key,
                                                   absl::string_view message);
KOS_EXPORT std::string Ed25519Sign(const Ed25519KeyPair& key_pair, absl::string_view message);

// OK if `signature` is a valid signature of `message` under `public_key`.
// INVALID_ARGUMENT if the key is not 32 bytes or the signature not 64 bytes;
// UNAUTHENTICATED for any signature that does not verify (including
// non-canonical S, small-order keys or R, which libsodium rejects).
KOS_EXPORT absl::Status Ed25519Verify(absl::string_view public_key, absl::string_view message,
                                      absl::string_view signature);

// Decodes a base64url public key (e.g. a JWK "x" member) and checks its size.
KOS_EXPORT absl::StatusOr<std::string> Ed25519PublicKeyFromBase64Url(absl::string_view text);

}  // namespace kos

#endif  // KOS_CRYPTO_H_
