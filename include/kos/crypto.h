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
// when moved from. Not mlock()ed: page locks do not nest, so unlocking one
// small heap buffer would unlock its neighbours on the same page; protect
// against swap at the system level (encrypted swap or mlockall). Move-only, so a secret is never
// copied by accident; Clone() copies explicitly. Streaming it (or AbslStringify) prints "[redacted
// N bytes]", never the content. Not thread-safe for concurrent mutation (like std::string).
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

// ---------------------------------------------------------------------------
// Authenticated encryption (AEAD)
// ---------------------------------------------------------------------------

// Values are stored in sealed blobs: never renumber.
enum class AeadAlgorithm : uint8_t {
  // XChaCha20-Poly1305 (IETF draft-irtf-cfrg-xchacha): 256-bit key, 192-bit
  // nonce, 128-bit tag. Portable default; random nonces are safe for any
  // number of messages per key.
  kXChaCha20Poly1305 = 1,
  // AES-256-GCM: 256-bit key, 96-bit nonce, 128-bit tag. Only where the CPU
  // has AES-NI + PCLMUL (Aes256GcmAvailable()). Random 96-bit nonces limit a
  // key to about 2^32 messages (NIST SP 800-38D): rotate keys well before.
  kAes256Gcm = 2,
  // ChaCha20-Poly1305 (RFC 8439): 256-bit key, 96-bit nonce. Raw API only
  // (interoperability); Seal() refuses it because of its short nonce.
  kChaCha20Poly1305Ietf = 3,
};

inline constexpr size_t kAeadKeyBytes = 32;
inline constexpr size_t kAeadTagBytes = 16;

// "xchacha20-poly1305", "aes-256-gcm", "chacha20-poly1305".
KOS_EXPORT const char* AeadAlgorithmName(AeadAlgorithm algorithm);
// Nonce size in bytes of `algorithm` (24 or 12).
KOS_EXPORT size_t AeadNonceBytes(AeadAlgorithm algorithm);
// True if libsodium can use AES-256-GCM on this CPU.
KOS_EXPORT bool Aes256GcmAvailable();

// Raw AEAD with a caller-chosen nonce. Returns ciphertext || 16-byte tag.
// INVALID_ARGUMENT for a wrong key or nonce size or an unknown algorithm;
// FAILED_PRECONDITION for AES-256-GCM on a CPU without AES-NI. Never reuse a
// (key, nonce) pair: prefer Seal(), which draws random nonces.
KOS_EXPORT absl::StatusOr<std::string> AeadEncrypt(AeadAlgorithm algorithm, const SecretBytes& key,
                                                   absl::string_view nonce,
                                                   absl::string_view plaintext,
                                                   absl::string_view aad);
// Inverse of AeadEncrypt. UNAUTHENTICATED if the tag does not verify (wrong
// key, nonce or AAD, or modified ciphertext); INVALID_ARGUMENT as above or if
// `ciphertext` is shorter than the tag.
KOS_EXPORT absl::StatusOr<SecretBytes> AeadDecrypt(AeadAlgorithm algorithm, const SecretBytes& key,
                                                   absl::string_view nonce,
                                                   absl::string_view ciphertext,
                                                   absl::string_view aad);

// Sealed format, version 1 (all integers big-endian):
//
//   offset 0  1 byte   format version = 0x01
//   offset 1  1 byte   algorithm (AeadAlgorithm: 1 XChaCha20-Poly1305, 2 AES-256-GCM)
//   offset 2  4 bytes  key version (caller-defined, e.g. keyring version)
//   offset 6  N bytes  random nonce (24 for XChaCha20-Poly1305, 12 for AES-256-GCM)
//   then      ciphertext || 16-byte tag
//
// The AEAD associated data is the header (bytes 0 .. 6+N) followed by the
// caller's AAD, so the version, algorithm, key version and nonce cannot be
// altered without the tag failing. Overhead: 46 bytes (XChaCha), 34 (AES-GCM).
inline constexpr uint8_t kSealedFormatVersion = 1;

struct SealedHeader {
  uint8_t format_version = 0;
  AeadAlgorithm algorithm = AeadAlgorithm::kXChaCha20Poly1305;
  uint32_t key_version = 0;
};

// Encrypts under `key` (32 bytes) with a fresh random nonce and records
// `key_version` so Open() can find the key again.
KOS_EXPORT absl::StatusOr<std::string> Seal(
    const SecretBytes& key, uint32_t key_version, absl::string_view plaintext,
    absl::string_view aad, AeadAlgorithm algorithm = AeadAlgorithm::kXChaCha20Poly1305);

// Reads the header of a sealed blob without decrypting (unauthenticated until
// Open() succeeds). INVALID_ARGUMENT if truncated or of an unknown
// format/algorithm.
KOS_EXPORT absl::StatusOr<SealedHeader> ParseSealedHeader(absl::string_view sealed);

// Finds the key for a key version. Return NOT_FOUND (or another error) for an
// unknown or retired version; the pointer must stay valid during the call.
using SealKeyLookup = std::function<absl::StatusOr<const SecretBytes*>(uint32_t key_version)>;

// Decrypts a Seal() blob, choosing the key through `lookup`. Errors:
// INVALID_ARGUMENT for a malformed/truncated blob, the lookup's own error for
// an unknown key version, UNAUTHENTICATED if authentication fails.
KOS_EXPORT absl::StatusOr<SecretBytes> Open(const SealKeyLookup& lookup, absl::string_view sealed,
                                            absl::string_view aad);
// Open() with a single key, which must belong to the blob's key version
// (NOT_FOUND otherwise).
KOS_EXPORT absl::StatusOr<SecretBytes> Open(const SecretBytes& key, uint32_t key_version,
                                            absl::string_view sealed, absl::string_view aad);

// ---------------------------------------------------------------------------
// Password hashing (Argon2id)
// ---------------------------------------------------------------------------

struct KOS_EXPORT PasswordHasherOptions {
  // Argon2id passes (t). Default 2, with mem_limit 19 MiB: the OWASP
  // Password Storage Cheat Sheet's minimum recommendation for Argon2id
  // (m=19456 KiB, t=2, p=1); libsodium's own MODERATE (t=3, 256 MiB) is
  // stronger but too slow for a login endpoint on small servers.
  uint64_t ops_limit = 2;
  // Argon2id memory in bytes. Default 19 MiB (OWASP).
  size_t mem_limit = 19 * 1024 * 1024;

  // libsodium's minimum (t=1, 8 KiB): fast, for tests only.
  static PasswordHasherOptions Minimum();
};

// Argon2id password hashes in the PHC string format
// ("$argon2id$v=19$m=19456,t=2,p=1$salt$hash"). Stateless; thread-safe.
class KOS_EXPORT PasswordHasher {
 public:
  // INVALID_ARGUMENT if the options are outside libsodium's limits.
  static absl::StatusOr<PasswordHasher> Create(const PasswordHasherOptions& options = {});

  // A new salted hash. RESOURCE_EXHAUSTED if the memory cannot be allocated.
  absl::StatusOr<std::string> Hash(absl::string_view password) const;
  // OK if `password` matches; UNAUTHENTICATED if not; INVALID_ARGUMENT if
  // `hash` is not an Argon2id string.
  absl::Status Verify(absl::string_view hash, absl::string_view password) const;
  // True if `hash` was made with parameters other than this hasher's (call
  // after a successful Verify() and store a fresh Hash()). INVALID_ARGUMENT
  // if `hash` is not an Argon2id string.
  absl::StatusOr<bool> NeedsRehash(absl::string_view hash) const;

  const PasswordHasherOptions& options() const { return options_; }

 private:
  explicit PasswordHasher(const PasswordHasherOptions& options) : options_(options) {}
  PasswordHasherOptions options_;
};

}  // namespace kos

#endif  // KOS_CRYPTO_H_
