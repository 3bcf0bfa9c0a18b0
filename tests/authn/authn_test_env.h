// A complete in-memory authentication stack on a FakeClock, shared by the
// authn tests.
#ifndef KOS_TESTS_AUTHN_AUTHN_TEST_ENV_H_
#define KOS_TESTS_AUTHN_AUTHN_TEST_ENV_H_

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "kos/api_keys.h"
#include "kos/authenticator.h"
#include "kos/clock.h"
#include "kos/crypto.h"
#include "kos/ephemeral.h"
#include "kos/oauth2.h"
#include "kos/sessions.h"
#include "kos/store.h"
#include "kos/tokens.h"
#include "kos/users.h"

namespace kos::testing {

// Argon2id at libsodium's minimum cost, counting every call so tests can
// check that unknown users cost a verification too.
class CountingHashing final : public PasswordHashing {
 public:
  explicit CountingHashing(PasswordHasherOptions options)
      : inner_(*PasswordHashing::Argon2id(options)) {}
  absl::StatusOr<std::string> Hash(absl::string_view password) const override {
    ++hashes;
    return inner_->Hash(password);
  }
  absl::Status Verify(absl::string_view hash, absl::string_view password) const override {
    ++verifies;
    return inner_->Verify(hash, password);
  }
  absl::StatusOr<bool> NeedsRehash(absl::string_view hash) const override {
    return inner_->NeedsRehash(hash);
  }
  mutable std::atomic<int> hashes{0};
  mutable std::atomic<int> verifies{0};

 private:
  std::shared_ptr<const PasswordHashing> inner_;
};

struct AuthnEnv {
  static constexpr const char* kIssuer = "https://kos.test";
  static constexpr const char* kAudience = "kos-api";

  FakeClock clock;
  std::unique_ptr<Store> store;
  std::unique_ptr<Ephemeral> ephemeral;
  std::shared_ptr<CountingHashing> hashing;
  std::shared_ptr<const SecretBytes> kek;
  std::unique_ptr<UserStore> users;
  std::unique_ptr<SigningKeyring> keyring;
  std::unique_ptr<AccessTokenService> tokens;
  std::unique_ptr<SessionManager> sessions;
  std::unique_ptr<OAuthClientRegistry> clients;
  std::unique_ptr<Authenticator> auth;
  std::unique_ptr<TokenEndpoint> endpoint;
  std::unique_ptr<ApiKeyManager> api_keys;

  // Hook observations. Hooks may run on several threads at once; read these
  // only after the threads have joined.
  absl::Mutex hook_mu;
  std::vector<std::string> failures, successes, reuses, signature_failures;
  absl::Duration locked = absl::ZeroDuration();

  explicit AuthnEnv(absl::Duration session_timeout = absl::Minutes(10)) {
    StoreOptions so;
    so.clock = &clock;
    store = *OpenStore("memory:", so);
    EphemeralOptions eo;
    eo.clock = &clock;
    ephemeral = *OpenEphemeral("memory:", eo);
    hashing = std::make_shared<CountingHashing>(PasswordHasherOptions::Minimum());
    kek = std::make_shared<const SecretBytes>(SecretBytes::Random(32));

    UserStoreOptions uo;
    uo.store = store.get();
    uo.clock = &clock;
    uo.hashing = hashing;
    users = *UserStore::Open(uo);

    SigningKeyringOptions ko;
    ko.store = store.get();
    ko.clock = &clock;
    ko.key_encryption_key = kek;
    keyring = *SigningKeyring::Open(ko);

    AccessTokenOptions to;
    to.keyring = keyring.get();
    to.clock = &clock;
    to.issuer = kIssuer;
    to.audience = kAudience;
    tokens = *AccessTokenService::Open(to);

    SessionOptions sess;
    sess.ephemeral = ephemeral.get();
    sess.clock = &clock;
    sess.session_timeout = session_timeout;
    sess.max_session_lifetime = absl::Hours(24);
    sessions = *SessionManager::Open(sess);

    OAuthClientRegistryOptions co;
    co.store = store.get();
    co.clock = &clock;
    clients = *OAuthClientRegistry::Open(co);

    AuthenticatorOptions ao;
    ao.users = users.get();
    ao.sessions = sessions.get();
    ao.tokens = tokens.get();
    ao.clients = clients.get();
    ao.hooks.lockout = [this](absl::string_view, absl::string_view) { return locked; };
    ao.hooks.login_failure = [this](absl::string_view a, absl::string_view) {
      absl::MutexLock l(&hook_mu);
      failures.emplace_back(a);
    };
    ao.hooks.login_success = [this](absl::string_view a, absl::string_view) {
      absl::MutexLock l(&hook_mu);
      successes.emplace_back(a);
    };
    ao.hooks.refresh_reuse = [this](absl::string_view user, absl::string_view family,
                                    absl::string_view) {
      absl::MutexLock l(&hook_mu);
      reuses.push_back(std::string(user) + "/" + std::string(family));
    };
    ao.hooks.signature_failure = [this](absl::string_view kid, absl::string_view) {
      absl::MutexLock l(&hook_mu);
      signature_failures.emplace_back(kid);
    };
    auth = *Authenticator::Open(ao);

    TokenEndpointOptions eopt;
    eopt.authenticator = auth.get();
    eopt.clients = clients.get();
    endpoint = *TokenEndpoint::Open(eopt);

    ApiKeyManagerOptions ak;
    ak.store = store.get();
    ak.clock = &clock;
    api_keys = *ApiKeyManager::Open(ak);
  }

  User MakeUser(const std::string& name, const std::string& password = "correct horse",
                std::vector<std::string> roles = {"user"}) {
    NewUser nu;
    nu.username = name;
    nu.email = name + "@example.com";
    nu.password = password;
    nu.roles = std::move(roles);
    auto u = users->Create(nu);
    EXPECT_TRUE(u.ok()) << u.status();
    return u.ok() ? *u : User();
  }
};

}  // namespace kos::testing

#endif  // KOS_TESTS_AUTHN_AUTHN_TEST_ENV_H_
