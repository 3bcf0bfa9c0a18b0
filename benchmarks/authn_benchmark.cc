// Access-token validation throughput beside raw libsodium Ed25519 verify of
// the same signing input and signature, in the same process.
//
//   BM_RawEd25519Verify      crypto_sign_verify_detached(sig, header.payload, pk)
//   BM_VerifyAccessTokenUncached  AccessTokenService::Verify with the verified-token
//                            cache off: strict parse, base64url, header checks,
//                            keyring lookup, Ed25519, claims
//   BM_VerifyAccessToken     the same token again with the cache on (the default):
//                            BLAKE2b of the token, a shard lookup, lifetime checks
//   BM_AuthenticatorValidate Verify (cached) + live session (Ephemeral) + user (Store)
//   BM_IssueAccessToken      signing, for scale
#include <sodium.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "benchmark/benchmark.h"
#include "kos/authenticator.h"
#include "kos/clock.h"
#include "kos/crypto.h"
#include "kos/ephemeral.h"
#include "kos/store.h"

namespace {

struct Env {
  kos::FakeClock clock;
  std::unique_ptr<kos::Store> store;
  std::unique_ptr<kos::Ephemeral> ephemeral;
  std::unique_ptr<kos::UserStore> users;
  std::unique_ptr<kos::SigningKeyring> keyring;
  std::unique_ptr<kos::AccessTokenService> tokens;
  std::unique_ptr<kos::AccessTokenService> tokens_uncached;
  std::unique_ptr<kos::SessionManager> sessions;
  std::unique_ptr<kos::Authenticator> auth;
  std::string token;
  std::string signing_input, signature, public_key;

  Env() {
    kos::StoreOptions so;
    so.clock = &clock;
    store = *kos::OpenStore("memory:", so);
    kos::EphemeralOptions eo;
    eo.clock = &clock;
    ephemeral = *kos::OpenEphemeral("memory:", eo);
    kos::UserStoreOptions uo;
    uo.store = store.get();
    uo.clock = &clock;
    uo.hashing = *kos::PasswordHashing::Argon2id(kos::PasswordHasherOptions::Minimum());
    users = *kos::UserStore::Open(uo);
    kos::SigningKeyringOptions ko;
    ko.store = store.get();
    ko.clock = &clock;
    ko.key_encryption_key = std::make_shared<const kos::SecretBytes>(kos::SecretBytes::Random(32));
    keyring = *kos::SigningKeyring::Open(ko);
    kos::AccessTokenOptions to;
    to.keyring = keyring.get();
    to.clock = &clock;
    to.issuer = "https://kos.bench";
    to.audience = "kos-api";
    tokens = *kos::AccessTokenService::Open(to);
    to.verified_cache_entries = 0;
    tokens_uncached = *kos::AccessTokenService::Open(to);
    kos::SessionOptions sess;
    sess.ephemeral = ephemeral.get();
    sess.clock = &clock;
    sessions = *kos::SessionManager::Open(sess);
    kos::AuthenticatorOptions ao;
    ao.users = users.get();
    ao.sessions = sessions.get();
    ao.tokens = tokens.get();
    auth = *kos::Authenticator::Open(ao);

    kos::NewUser nu;
    nu.username = "bench";
    nu.password = "correct horse";
    nu.roles = {"user", "editor"};
    (void)*users->Create(nu);
    token = auth->Login("bench", "correct horse", "127.0.0.1")->access_token;
    std::vector<std::string> parts = absl::StrSplit(token, '.');
    signing_input = parts[0] + "." + parts[1];
    signature = *kos::Base64UrlDecode(parts[2]);
    public_key = keyring->Keys()[0].public_key;
  }
};

Env& GetEnv() {
  static Env* env = new Env();
  return *env;
}

void BM_RawEd25519Verify(benchmark::State& state) {
  Env& e = GetEnv();
  for (auto _ : state) {
    int rc = crypto_sign_verify_detached(
        reinterpret_cast<const unsigned char*>(e.signature.data()),
        reinterpret_cast<const unsigned char*>(e.signing_input.data()), e.signing_input.size(),
        reinterpret_cast<const unsigned char*>(e.public_key.data()));
    if (rc != 0) state.SkipWithError("verify failed");
    benchmark::DoNotOptimize(rc);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(std::to_string(e.signing_input.size()) + " B signing input");
}
BENCHMARK(BM_RawEd25519Verify);

void BM_VerifyAccessTokenUncached(benchmark::State& state) {
  Env& e = GetEnv();
  for (auto _ : state) {
    auto c = e.tokens_uncached->Verify(e.token);
    if (!c.ok()) state.SkipWithError("verify failed");
    benchmark::DoNotOptimize(c);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(std::to_string(e.token.size()) + " B token");
}
BENCHMARK(BM_VerifyAccessTokenUncached);

void BM_VerifyAccessToken(benchmark::State& state) {
  Env& e = GetEnv();
  for (auto _ : state) {
    auto c = e.tokens->Verify(e.token);
    if (!c.ok()) state.SkipWithError("verify failed");
    benchmark::DoNotOptimize(c);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(std::to_string(e.token.size()) + " B token");
}
BENCHMARK(BM_VerifyAccessToken);

void BM_AuthenticatorValidate(benchmark::State& state) {
  Env& e = GetEnv();
  for (auto _ : state) {
    auto p = e.auth->Validate(e.token);
    if (!p.ok()) state.SkipWithError("validate failed");
    benchmark::DoNotOptimize(p);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AuthenticatorValidate);

void BM_IssueAccessToken(benchmark::State& state) {
  Env& e = GetEnv();
  kos::AccessTokenClaims c;
  c.subject = "01HUSER0000000000000000000";
  c.session_id = "sessionid0000000000000";
  c.roles = {"user", "editor"};
  for (auto _ : state) {
    auto t = e.tokens->Issue(c);
    benchmark::DoNotOptimize(t);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_IssueAccessToken);

}  // namespace

BENCHMARK_MAIN();
