#include <sodium.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "crypto/sodium_init.h"
#include "kos/crypto.h"

namespace kos {
namespace {

constexpr int kVariant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;

// Decodes into `out` (capacity out_cap); returns the decoded length.
absl::StatusOr<size_t> DecodeInto(absl::string_view text, uint8_t* out, size_t out_cap) {
  if (text.size() % 4 == 1) {
    return absl::InvalidArgumentError("base64url: impossible length");
  }
  if (text.find('=') != absl::string_view::npos) {
    return absl::InvalidArgumentError("base64url: padding is not allowed");
  }
  size_t bin_len = 0;
  const char* end = nullptr;
  // No `ignore` set: any character outside the alphabet stops decoding, and
  // libsodium rejects non-zero unused trailing bits.
  if (sodium_base642bin(out, out_cap, text.data(), text.size(), nullptr, &bin_len, &end,
                        kVariant) != 0 ||
      end != text.data() + text.size()) {
    size_t pos = end == nullptr ? 0 : static_cast<size_t>(end - text.data());
    return absl::InvalidArgumentError(
        absl::StrCat("base64url: invalid or non-canonical encoding near offset ", pos));
  }
  return bin_len;
}

}  // namespace

std::string Base64UrlEncode(absl::string_view bytes) {
  const size_t cap = sodium_base64_ENCODED_LEN(bytes.size(), kVariant);
  std::string out(cap, '\0');
  sodium_bin2base64(out.data(), cap, reinterpret_cast<const unsigned char*>(bytes.data()),
                    bytes.size(), kVariant);
  out.resize(std::strlen(out.c_str()));
  return out;
}

absl::StatusOr<std::string> Base64UrlDecode(absl::string_view text) {
  std::string out(text.size() * 3 / 4 + 3, '\0');
  auto n = DecodeInto(text, reinterpret_cast<uint8_t*>(out.data()), out.size());
  if (!n.ok()) return n.status();
  out.resize(*n);
  return out;
}

absl::StatusOr<SecretBytes> Base64UrlDecodeSecret(absl::string_view text) {
  SecretBytes buf(text.size() * 3 / 4 + 3);
  auto n = DecodeInto(text, buf.data(), buf.size());
  if (!n.ok()) return n.status();
  return SecretBytes::CopyFrom(buf.view().substr(0, *n));
}

std::string RandomBytes(size_t size) {
  crypto_internal::SodiumReady();
  std::string out(size, '\0');
  if (size > 0) randombytes_buf(out.data(), size);
  return out;
}

uint32_t RandomUniform(uint32_t upper_bound) {
  crypto_internal::SodiumReady();
  return randombytes_uniform(upper_bound);
}

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace kos
