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

}  // namespace

Ed25519KeyPair Ed25519KeyPair::Generate() {
  crypto_internal::SodiumReady();
  SecretBytes seed = SecretBytes::Random(crypto_sign_SEEDBYTES);
  return *FromSeed(seed.view());
}

absl::StatusOr<Ed25519KeyPair> Ed25519KeyPair::FromSeed(absl::string_view seed) {
  if (seed.size() != crypto_sign_SEEDBYTES) {
    return absl::InvalidArgumentError(
        absl::StrCat("Ed25519 seed must be ", crypto_sign_SEEDBYTES, " bytes, got ", seed.size()));
  }
  if (!crypto_internal::SodiumReady()) return CryptoInit();
  Ed25519KeyPair kp;
  kp.secret_key_ = SecretBytes(crypto_sign_SECRETKEYBYTES);
  kp.public_key_.assign(crypto_sign_PUBLICKEYBYTES, '\0');
  crypto_sign_seed_keypair(reinterpret_cast<unsigned char*>(kp.public_key_.data()),
                           kp.secret_key_.data(), U(seed));
  return kp;
}

absl::StatusOr<Ed25519KeyPair> Ed25519KeyPair::FromSeedBase64Url(absl::string_view seed_b64url) {
  auto seed = Base64UrlDecodeSecret(seed_b64url);
  if (!seed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("Ed25519 seed: ", seed.status().message()));
  }
  return FromSeed(seed->view());
}

SecretBytes Ed25519KeyPair::ExportSeed() const {
  return SecretBytes::CopyFrom(secret_key_.view().substr(0, crypto_sign_SEEDBYTES));
}

SecretBytes Ed25519KeyPair::ExportSeedBase64Url() const {
  SecretBytes seed = ExportSeed();
  const size_t cap =
      sodium_base64_ENCODED_LEN(seed.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  SecretBytes text(cap);
  sodium_bin2base64(reinterpret_cast<char*>(text.data()), cap, seed.data(), seed.size(),
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  return SecretBytes::CopyFrom(text.view().substr(0, cap - 1));  // drop the NUL
}

std::string Ed25519KeyPair::Sign(absl::string_view message) const {
  std::string sig(crypto_sign_BYTES, '\0');
  crypto_sign_detached(reinterpret_cast<unsigned char*>(sig.data()), nullptr, U(message),
                       message.size(), secret_key_.data());
  return sig;
}

Ed25519KeyPair Ed25519KeyPair::Clone() const {
  Ed25519KeyPair kp;
  kp.secret_key_ = secret_key_.Clone();
  kp.public_key_ = public_key_;
  return kp;
}

absl::StatusOr<std::string> Ed25519Sign(const SecretBytes& secret_key, absl::string_view message) {
  if (secret_key.size() == crypto_sign_SEEDBYTES) {
    auto kp = Ed25519KeyPair::FromSeed(secret_key.view());
    if (!kp.ok()) return kp.status();
    return kp->Sign(message);
  }
  if (secret_key.size() != crypto_sign_SECRETKEYBYTES) {
    return absl::InvalidArgumentError(
        absl::StrCat("Ed25519 secret key must be a 32-byte seed or a 64-byte secret key, got ",
                     secret_key.size(), " bytes"));
  }
  if (!crypto_internal::SodiumReady()) return CryptoInit();
  std::string sig(crypto_sign_BYTES, '\0');
  crypto_sign_detached(reinterpret_cast<unsigned char*>(sig.data()), nullptr, U(message),
                       message.size(), secret_key.data());
  return sig;
}

std::string Ed25519Sign(const Ed25519KeyPair& key_pair, absl::string_view message) {
  return key_pair.Sign(message);
}

absl::Status Ed25519Verify(absl::string_view public_key, absl::string_view message,
                           absl::string_view signature) {
  if (public_key.size() != crypto_sign_PUBLICKEYBYTES) {
    return absl::InvalidArgumentError(absl::StrCat("Ed25519 public key must be ",
                                                   crypto_sign_PUBLICKEYBYTES, " bytes, got ",
                                                   public_key.size()));
  }
  if (signature.size() != crypto_sign_BYTES) {
    return absl::InvalidArgumentError(absl::StrCat("Ed25519 signature must be ", crypto_sign_BYTES,
                                                   " bytes, got ", signature.size()));
  }
  KOS_RETURN_IF_ERROR(CryptoInit());
  if (crypto_sign_verify_detached(U(signature), U(message), message.size(), U(public_key)) != 0) {
    return absl::UnauthenticatedError("Ed25519 signature verification failed");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Ed25519PublicKeyFromBase64Url(absl::string_view text) {
  auto key = Base64UrlDecode(text);
  if (!key.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("Ed25519 public key: ", key.status().message()));
  }
  if (key->size() != crypto_sign_PUBLICKEYBYTES) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Ed25519 public key must be ", crypto_sign_PUBLICKEYBYTES, " bytes, got ", key->size()));
  }
  return key;
}

}  // namespace kos
