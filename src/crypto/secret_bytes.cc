#include <sodium.h>

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "crypto/sodium_init.h"
#include "kos/crypto.h"

namespace kos {

absl::Status CryptoInit() {
  if (!crypto_internal::SodiumReady()) {
    return absl::InternalError("libsodium failed to initialise (no system entropy source?)");
  }
  return absl::OkStatus();
}

SecretBytes::SecretBytes(size_t size) {
  if (size == 0) return;
  data_ = new uint8_t[size]();
  size_ = size;
}

SecretBytes SecretBytes::CopyFrom(absl::string_view bytes) {
  SecretBytes s(bytes.size());
  if (!bytes.empty()) std::memcpy(s.data_, bytes.data(), bytes.size());
  return s;
}

SecretBytes SecretBytes::Random(size_t size) {
  crypto_internal::SodiumReady();
  SecretBytes s(size);
  if (size > 0) randombytes_buf(s.data_, size);
  return s;
}

SecretBytes::~SecretBytes() { Release(); }

SecretBytes::SecretBytes(SecretBytes&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    Release();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

void SecretBytes::Release() {
  if (data_ == nullptr) return;
  sodium_memzero(data_, size_);
  delete[] data_;
  data_ = nullptr;
  size_ = 0;
}

SecretBytes SecretBytes::Clone() const { return CopyFrom(view()); }

bool SecretBytes::Equals(const SecretBytes& other) const {
  return ConstantTimeEquals(view(), other.view());
}

std::string SecretBytes::DebugString() const {
  return absl::StrCat("[redacted ", size_, " bytes]");
}

}  // namespace kos
