#include <sodium.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "crypto/sodium_init.h"
#include "kos/crypto.h"
#include "kos/status.h"

namespace kos {
namespace {

const unsigned char* U(absl::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

constexpr size_t kHeaderFixedBytes = 6;  // version, algorithm, key version

absl::Status CheckAlgorithm(AeadAlgorithm algorithm) {
  switch (algorithm) {
    case AeadAlgorithm::kXChaCha20Poly1305:
    case AeadAlgorithm::kChaCha20Poly1305Ietf:
      return CryptoInit();
    case AeadAlgorithm::kAes256Gcm:
      KOS_RETURN_IF_ERROR(CryptoInit());
      if (!Aes256GcmAvailable()) {
        return absl::FailedPreconditionError(
            "AES-256-GCM is not available on this CPU (libsodium needs AES-NI and PCLMUL); "
            "use XChaCha20-Poly1305");
      }
      return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown AEAD algorithm ", static_cast<int>(algorithm)));
}

absl::Status CheckKeyAndNonce(AeadAlgorithm algorithm, const SecretBytes& key,
                              absl::string_view nonce) {
  KOS_RETURN_IF_ERROR(CheckAlgorithm(algorithm));
  if (key.size() != kAeadKeyBytes) {
    return absl::InvalidArgumentError(absl::StrCat(AeadAlgorithmName(algorithm), " key must be ",
                                                   kAeadKeyBytes, " bytes, got ", key.size()));
  }
  if (nonce.size() != AeadNonceBytes(algorithm)) {
    return absl::InvalidArgumentError(absl::StrCat(AeadAlgorithmName(algorithm), " nonce must be ",
                                                   AeadNonceBytes(algorithm), " bytes, got ",
                                                   nonce.size()));
  }
  return absl::OkStatus();
}

// All three libsodium AEAD functions share one signature.
using EncryptFn = int (*)(unsigned char*, unsigned long long*, const unsigned char*,
                          unsigned long long, const unsigned char*, unsigned long long,
                          const unsigned char*, const unsigned char*, const unsigned char*);
using DecryptFn = int (*)(unsigned char*, unsigned long long*, unsigned char*, const unsigned char*,
                          unsigned long long, const unsigned char*, unsigned long long,
                          const unsigned char*, const unsigned char*);

EncryptFn EncryptFor(AeadAlgorithm a) {
  switch (a) {
    case AeadAlgorithm::kAes256Gcm:
      return crypto_aead_aes256gcm_encrypt;
    case AeadAlgorithm::kChaCha20Poly1305Ietf:
      return crypto_aead_chacha20poly1305_ietf_encrypt;
    case AeadAlgorithm::kXChaCha20Poly1305:
      break;
  }
  return crypto_aead_xchacha20poly1305_ietf_encrypt;
}

DecryptFn DecryptFor(AeadAlgorithm a) {
  switch (a) {
    case AeadAlgorithm::kAes256Gcm:
      return crypto_aead_aes256gcm_decrypt;
    case AeadAlgorithm::kChaCha20Poly1305Ietf:
      return crypto_aead_chacha20poly1305_ietf_decrypt;
    case AeadAlgorithm::kXChaCha20Poly1305:
      break;
  }
  return crypto_aead_xchacha20poly1305_ietf_decrypt;
}

// Encrypts into `out` starting at `offset` (the sealed header precedes it).
absl::Status EncryptInto(AeadAlgorithm algorithm, const SecretBytes& key, absl::string_view nonce,
                         absl::string_view plaintext, absl::string_view aad, std::string* out,
                         size_t offset) {
  out->resize(offset + plaintext.size() + kAeadTagBytes);
  unsigned long long clen = 0;
  if (EncryptFor(algorithm)(reinterpret_cast<unsigned char*>(out->data()) + offset, &clen,
                            U(plaintext), plaintext.size(), U(aad), aad.size(), nullptr, U(nonce),
                            key.data()) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(AeadAlgorithmName(algorithm), ": message too long"));
  }
  out->resize(offset + clen);
  return absl::OkStatus();
}

absl::StatusOr<SecretBytes> DecryptChecked(AeadAlgorithm algorithm, const SecretBytes& key,
                                           absl::string_view nonce, absl::string_view ciphertext,
                                           absl::string_view aad) {
  if (ciphertext.size() < kAeadTagBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        AeadAlgorithmName(algorithm), " ciphertext shorter than its ", kAeadTagBytes, "-byte tag"));
  }
  SecretBytes plain(ciphertext.size() - kAeadTagBytes);
  unsigned char empty = 0;
  unsigned long long mlen = 0;
  if (DecryptFor(algorithm)(plain.empty() ? &empty : plain.data(), &mlen, nullptr, U(ciphertext),
                            ciphertext.size(), U(aad), aad.size(), U(nonce), key.data()) != 0) {
    return absl::UnauthenticatedError(
        absl::StrCat(AeadAlgorithmName(algorithm),
                     " decryption failed: wrong key or associated data, or the ciphertext was "
                     "modified"));
  }
  return plain;
}

}  // namespace

const char* AeadAlgorithmName(AeadAlgorithm algorithm) {
  switch (algorithm) {
    case AeadAlgorithm::kXChaCha20Poly1305:
      return "xchacha20-poly1305";
    case AeadAlgorithm::kAes256Gcm:
      return "aes-256-gcm";
    case AeadAlgorithm::kChaCha20Poly1305Ietf:
      return "chacha20-poly1305";
  }
  return "unknown";
}

size_t AeadNonceBytes(AeadAlgorithm algorithm) {
  switch (algorithm) {
    case AeadAlgorithm::kXChaCha20Poly1305:
      return crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
    case AeadAlgorithm::kAes256Gcm:
      return crypto_aead_aes256gcm_NPUBBYTES;
    case AeadAlgorithm::kChaCha20Poly1305Ietf:
      return crypto_aead_chacha20poly1305_ietf_NPUBBYTES;
  }
  return 0;
}

bool Aes256GcmAvailable() {
  crypto_internal::SodiumReady();
  return crypto_aead_aes256gcm_is_available() == 1;
}

absl::StatusOr<std::string> AeadEncrypt(AeadAlgorithm algorithm, const SecretBytes& key,
                                        absl::string_view nonce, absl::string_view plaintext,
                                        absl::string_view aad) {
  KOS_RETURN_IF_ERROR(CheckKeyAndNonce(algorithm, key, nonce));
  std::string out;
  KOS_RETURN_IF_ERROR(EncryptInto(algorithm, key, nonce, plaintext, aad, &out, 0));
  return out;
}

absl::StatusOr<SecretBytes> AeadDecrypt(AeadAlgorithm algorithm, const SecretBytes& key,
                                        absl::string_view nonce, absl::string_view ciphertext,
                                        absl::string_view aad) {
  KOS_RETURN_IF_ERROR(CheckKeyAndNonce(algorithm, key, nonce));
  return DecryptChecked(algorithm, key, nonce, ciphertext, aad);
}

absl::StatusOr<std::string> Seal(const SecretBytes& key, uint32_t key_version,
                                 absl::string_view plaintext, absl::string_view aad,
                                 AeadAlgorithm algorithm) {
  if (algorithm != AeadAlgorithm::kXChaCha20Poly1305 && algorithm != AeadAlgorithm::kAes256Gcm) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Seal supports xchacha20-poly1305 and aes-256-gcm, not ", AeadAlgorithmName(algorithm)));
  }
  const std::string nonce = RandomBytes(AeadNonceBytes(algorithm));
  KOS_RETURN_IF_ERROR(CheckKeyAndNonce(algorithm, key, nonce));
  std::string out;
  out.reserve(kHeaderFixedBytes + nonce.size() + plaintext.size() + kAeadTagBytes);
  out.push_back(static_cast<char>(kSealedFormatVersion));
  out.push_back(static_cast<char>(algorithm));
  for (int shift = 24; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((key_version >> shift) & 0xff));
  }
  out.append(nonce);
  const size_t header_len = out.size();
  const std::string full_aad = absl::StrCat(absl::string_view(out), aad);
  KOS_RETURN_IF_ERROR(EncryptInto(algorithm, key, nonce, plaintext, full_aad, &out, header_len));
  return out;
}

absl::StatusOr<SealedHeader> ParseSealedHeader(absl::string_view sealed) {
  if (sealed.size() < kHeaderFixedBytes) {
    return absl::InvalidArgumentError("sealed ciphertext truncated: no complete header");
  }
  SealedHeader h;
  h.format_version = static_cast<uint8_t>(sealed[0]);
  if (h.format_version != kSealedFormatVersion) {
    return absl::InvalidArgumentError(
        absl::StrCat("sealed ciphertext has unknown format version ", h.format_version));
  }
  const uint8_t alg = static_cast<uint8_t>(sealed[1]);
  if (alg != static_cast<uint8_t>(AeadAlgorithm::kXChaCha20Poly1305) &&
      alg != static_cast<uint8_t>(AeadAlgorithm::kAes256Gcm)) {
    return absl::InvalidArgumentError(
        absl::StrCat("sealed ciphertext has unknown algorithm id ", alg));
  }
  h.algorithm = static_cast<AeadAlgorithm>(alg);
  for (int i = 2; i < 6; ++i)
    h.key_version = (h.key_version << 8) | static_cast<uint8_t>(sealed[i]);
  if (sealed.size() < kHeaderFixedBytes + AeadNonceBytes(h.algorithm) + kAeadTagBytes) {
    return absl::InvalidArgumentError(absl::StrCat("sealed ciphertext truncated: ", sealed.size(),
                                                   " bytes is shorter than "
                                                   "header, nonce and tag"));
  }
  return h;
}

absl::StatusOr<SecretBytes> Open(const SealKeyLookup& lookup, absl::string_view sealed,
                                 absl::string_view aad) {
  KOS_ASSIGN_OR_RETURN(SealedHeader h, ParseSealedHeader(sealed));
  KOS_ASSIGN_OR_RETURN(const SecretBytes* key, lookup(h.key_version));
  if (key == nullptr) {
    return absl::NotFoundError(absl::StrCat("no key for key version ", h.key_version));
  }
  const size_t header_len = kHeaderFixedBytes + AeadNonceBytes(h.algorithm);
  const absl::string_view nonce = sealed.substr(kHeaderFixedBytes, AeadNonceBytes(h.algorithm));
  KOS_RETURN_IF_ERROR(CheckKeyAndNonce(h.algorithm, *key, nonce));
  const std::string full_aad = absl::StrCat(sealed.substr(0, header_len), aad);
  return DecryptChecked(h.algorithm, *key, nonce, sealed.substr(header_len), full_aad);
}

absl::StatusOr<SecretBytes> Open(const SecretBytes& key, uint32_t key_version,
                                 absl::string_view sealed, absl::string_view aad) {
  return Open(
      [&](uint32_t v) -> absl::StatusOr<const SecretBytes*> {
        if (v != key_version) {
          return absl::NotFoundError(absl::StrCat("ciphertext is sealed with key version ", v,
                                                  ", but the key given is version ", key_version));
        }
        return &key;
      },
      sealed, aad);
}

}  // namespace kos
