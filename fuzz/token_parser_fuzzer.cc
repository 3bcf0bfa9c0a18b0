// libFuzzer target for access-token parsing and validation.
//
// The first input byte picks a mode so the fuzzer reaches code behind the
// signature check too:
//   0: the rest is a compact JWS, parsed and verified as is;
//   1: the rest is "<header JSON>\n<payload JSON>", encoded and signed with
//      the real key, so claim parsing and checks see arbitrary JSON;
//   2: the rest is a payload JSON signed under a well-formed header.
// Every outcome must be OK or UNAUTHENTICATED; anything else (or a crash,
// leak, or sanitizer report) is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "kos/clock.h"
#include "kos/crypto.h"
#include "kos/store.h"
#include "kos/tokens.h"

namespace {

struct Env {
  kos::FakeClock clock;
  std::unique_ptr<kos::Store> store;
  std::unique_ptr<kos::SigningKeyring> keyring;
  std::unique_ptr<kos::AccessTokenService> tokens;

  Env() {
    kos::StoreOptions so;
    so.clock = &clock;
    store = *kos::OpenStore("memory:", so);
    kos::SigningKeyringOptions ko;
    ko.store = store.get();
    ko.clock = &clock;
    ko.key_encryption_key = std::make_shared<const kos::SecretBytes>(kos::SecretBytes(32));
    keyring = *kos::SigningKeyring::Open(ko);
    kos::AccessTokenOptions to;
    to.keyring = keyring.get();
    to.clock = &clock;
    to.issuer = "https://kos.fuzz";
    to.audience = "kos-api";
    tokens = *kos::AccessTokenService::Open(to);
  }

  std::string Sign(absl::string_view header, absl::string_view payload) {
    std::string input =
        absl::StrCat(kos::Base64UrlEncode(header), ".", kos::Base64UrlEncode(payload));
    auto sig = keyring->Sign(input);
    return absl::StrCat(input, ".", kos::Base64UrlEncode(sig->second));
  }
};

void Check(const absl::Status& s) {
  if (!s.ok() && !absl::IsUnauthenticated(s)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Env* env = new Env();
  if (size == 0) return 0;
  absl::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string token;
  switch (data[0] % 3) {
    case 0:
      token = std::string(in);
      (void)kos::ParseCompactJws(in);
      break;
    case 1: {
      size_t nl = in.find('\n');
      if (nl == absl::string_view::npos) return 0;
      token = env->Sign(in.substr(0, nl), in.substr(nl + 1));
      break;
    }
    default:
      token = env->Sign(absl::StrCat(R"({"alg":"EdDSA","typ":"at+jwt","kid":")",
                                     env->keyring->ActiveKid(), "\"}"),
                        in);
      break;
  }
  kos::TokenFailure why;
  auto claims = env->tokens->Verify(token, &why);
  Check(claims.status());
  if (claims.ok() != (why == kos::TokenFailure::kNone)) std::abort();
  return 0;
}
