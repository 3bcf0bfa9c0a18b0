// kos_jwt_tool: issues a libkos access token for interoperability tests.
//
//   kos_jwt_tool issue [--rotate] [--age-seconds N]
//
// prints one JSON object {"token","jwks","issuer","audience","kid","sub"}.
// --rotate signs with a second key so the JWKS holds two; --age-seconds
// backdates issuance (N > 900 gives an expired token).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "kos/crypto.h"
#include "kos/json.h"
#include "kos/store.h"
#include "kos/tokens.h"

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "issue") != 0) {
    std::fprintf(stderr, "usage: kos_jwt_tool issue [--rotate] [--age-seconds N]\n");
    return 2;
  }
  bool rotate = false;
  long age = 0;
  for (int i = 2; i < argc; ++i) {
    if (std::strcmp(argv[i], "--rotate") == 0) {
      rotate = true;
    } else if (std::strcmp(argv[i], "--age-seconds") == 0 && i + 1 < argc) {
      age = std::strtol(argv[++i], nullptr, 10);
    } else {
      std::fprintf(stderr, "unknown argument: %s\n", argv[i]);
      return 2;
    }
  }
  kos::FakeClock clock(absl::Now() - absl::Seconds(age));
  kos::StoreOptions so;
  so.clock = &clock;
  auto store = kos::OpenStore("memory:", so);
  if (!store.ok()) return 1;
  kos::SigningKeyringOptions ko;
  ko.store = store->get();
  ko.clock = &clock;
  ko.key_encryption_key = std::make_shared<const kos::SecretBytes>(kos::SecretBytes::Random(32));
  auto keyring = kos::SigningKeyring::Open(ko);
  if (!keyring.ok()) {
    std::fprintf(stderr, "%s\n", keyring.status().ToString().c_str());
    return 1;
  }
  if (rotate && !(*keyring)->Rotate().ok()) return 1;
  kos::AccessTokenOptions to;
  to.keyring = keyring->get();
  to.clock = &clock;
  to.issuer = "https://kos.example";
  to.audience = "kos-api";
  auto tokens = kos::AccessTokenService::Open(to);
  if (!tokens.ok()) return 1;
  kos::AccessTokenClaims c;
  c.subject = "01HUSER0000000000000000000";
  c.session_id = "sessionid0000000000000";
  c.client_id = "kos";
  c.roles = {"user", "editor"};
  c.scope = "memory:read";
  auto token = (*tokens)->Issue(c);
  if (!token.ok()) return 1;
  kos::Json out = {
      {"token", *token},         {"jwks", (*keyring)->Jwks()},     {"issuer", to.issuer},
      {"audience", to.audience}, {"kid", (*keyring)->ActiveKid()}, {"sub", c.subject}};
  std::printf("%s\n", kos::DumpJson(out).c_str());
  return 0;
}
