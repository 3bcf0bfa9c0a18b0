// C API: randomness, Ed25519, sealed AEAD and base64url (kos/crypto.h).
#include <cstring>

#include "capi/c_internal.h"
#include "kos/crypto.h"

using kos::capi::Bytes;
using kos::capi::CopyOut;
using kos::capi::Guard;
using kos::capi::Report;
using kos::capi::Require;
using kos::capi::SetError;

namespace {

// A secret key argument copied into wiped memory.
absl::StatusOr<kos::SecretBytes> KeyArg(const unsigned char* key, size_t key_len,
                                        const char* what) {
  auto bytes = Bytes(key, key_len, what);
  if (!bytes.ok()) return bytes.status();
  return kos::SecretBytes::CopyFrom(*bytes);
}

}  // namespace

extern "C" {

kos_code_t kos_random_bytes(unsigned char* buf, size_t len, char** errptr) {
  return Guard(__func__, errptr, KOS_INTERNAL, [&] {
    if (len == 0) return KOS_OK;
    if (!Require(buf, "buf", errptr)) return KOS_INVALID_ARGUMENT;
    if (kos_code_t c = Report(errptr, kos::CryptoInit()); c != KOS_OK) return c;
    std::string bytes = kos::RandomBytes(len);
    std::memcpy(buf, bytes.data(), len);
    return KOS_OK;
  });
}

kos_code_t kos_ed25519_generate(unsigned char* public_key, unsigned char* seed, char** errptr) {
  return Guard(__func__, errptr, KOS_INTERNAL, [&] {
    if (!Require(public_key, "public_key", errptr) || !Require(seed, "seed", errptr)) {
      return KOS_INVALID_ARGUMENT;
    }
    if (kos_code_t c = Report(errptr, kos::CryptoInit()); c != KOS_OK) return c;
    kos::Ed25519KeyPair pair = kos::Ed25519KeyPair::Generate();
    kos::SecretBytes s = pair.ExportSeed();
    std::memcpy(seed, s.data(), kos::kEd25519SeedBytes);
    std::memcpy(public_key, pair.public_key().data(), kos::kEd25519PublicKeyBytes);
    return KOS_OK;
  });
}

kos_code_t kos_ed25519_public_key(const unsigned char* seed, size_t seed_len,
                                  unsigned char* public_key, char** errptr) {
  return Guard(__func__, errptr, KOS_INTERNAL, [&] {
    if (!Require(public_key, "public_key", errptr)) return KOS_INVALID_ARGUMENT;
    auto bytes = Bytes(seed, seed_len, "seed");
    if (!bytes.ok()) return Report(errptr, bytes.status());
    auto pair = kos::Ed25519KeyPair::FromSeed(*bytes);
    if (!pair.ok()) return Report(errptr, pair.status());
    std::memcpy(public_key, pair->public_key().data(), kos::kEd25519PublicKeyBytes);
    return KOS_OK;
  });
}

kos_code_t kos_ed25519_sign(const unsigned char* key, size_t key_len, const char* message,
                            size_t message_len, unsigned char* signature, char** errptr) {
  return Guard(__func__, errptr, KOS_INTERNAL, [&] {
    if (!Require(signature, "signature", errptr)) return KOS_INVALID_ARGUMENT;
    auto secret = KeyArg(key, key_len, "key");
    if (!secret.ok()) return Report(errptr, secret.status());
    auto msg = Bytes(message, message_len, "message");
    if (!msg.ok()) return Report(errptr, msg.status());
    auto sig = kos::Ed25519Sign(*secret, *msg);
    if (!sig.ok()) return Report(errptr, sig.status());
    std::memcpy(signature, sig->data(), kos::kEd25519SignatureBytes);
    return KOS_OK;
  });
}

kos_code_t kos_ed25519_verify(const unsigned char* public_key, size_t public_key_len,
                              const char* message, size_t message_len,
                              const unsigned char* signature, size_t signature_len, char** errptr) {
  return Guard(__func__, errptr, KOS_INTERNAL, [&] {
    auto pk = Bytes(public_key, public_key_len, "public_key");
    if (!pk.ok()) return Report(errptr, pk.status());
    auto msg = Bytes(message, message_len, "message");
    if (!msg.ok()) return Report(errptr, msg.status());
    auto sig = Bytes(signature, signature_len, "signature");
    if (!sig.ok()) return Report(errptr, sig.status());
    return Report(errptr, kos::Ed25519Verify(*pk, *msg, *sig));
  });
}

char* kos_aead_seal(const unsigned char* key, size_t key_len, uint32_t key_version,
                    const char* plaintext, size_t plaintext_len, const char* aad, size_t aad_len,
                    size_t* sealed_len, char** errptr) {
  return Guard(__func__, errptr, static_cast<char*>(nullptr), [&]() -> char* {
    auto secret = KeyArg(key, key_len, "key");
    if (!secret.ok()) return SetError(errptr, secret.status()), nullptr;
    auto pt = Bytes(plaintext, plaintext_len, "plaintext");
    if (!pt.ok()) return SetError(errptr, pt.status()), nullptr;
    auto ad = Bytes(aad, aad_len, "aad");
    if (!ad.ok()) return SetError(errptr, ad.status()), nullptr;
    auto sealed = kos::Seal(*secret, key_version, *pt, *ad);
    if (!sealed.ok()) return SetError(errptr, sealed.status()), nullptr;
    return CopyOut(*sealed, sealed_len, errptr);
  });
}

char* kos_aead_open(const unsigned char* key, size_t key_len, uint32_t key_version,
                    const char* sealed, size_t sealed_len, const char* aad, size_t aad_len,
                    size_t* plaintext_len, char** errptr) {
  return Guard(__func__, errptr, static_cast<char*>(nullptr), [&]() -> char* {
    auto secret = KeyArg(key, key_len, "key");
    if (!secret.ok()) return SetError(errptr, secret.status()), nullptr;
    auto blob = Bytes(sealed, sealed_len, "sealed");
    if (!blob.ok()) return SetError(errptr, blob.status()), nullptr;
    auto ad = Bytes(aad, aad_len, "aad");
    if (!ad.ok()) return SetError(errptr, ad.status()), nullptr;
    auto pt = kos::Open(*secret, key_version, *blob, *ad);
    if (!pt.ok()) return SetError(errptr, pt.status()), nullptr;
    return CopyOut(pt->view(), plaintext_len, errptr);
  });
}

char* kos_base64url_encode(const unsigned char* bytes, size_t len, char** errptr) {
  return Guard(__func__, errptr, static_cast<char*>(nullptr), [&]() -> char* {
    auto in = Bytes(bytes, len, "bytes");
    if (!in.ok()) return SetError(errptr, in.status()), nullptr;
    return CopyOut(kos::Base64UrlEncode(*in), nullptr, errptr);
  });
}

char* kos_base64url_decode(const char* text, size_t* len, char** errptr) {
  return Guard(__func__, errptr, static_cast<char*>(nullptr), [&]() -> char* {
    if (!Require(text, "text", errptr)) return nullptr;
    auto out = kos::Base64UrlDecode(text);
    if (!out.ok()) return SetError(errptr, out.status()), nullptr;
    return CopyOut(*out, len, errptr);
  });
}

}  // extern "C"
