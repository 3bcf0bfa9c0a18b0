// Authenticator wired to the real IntrusionDetector through IntrusionHooks.
#include "authn/authn_test_env.h"
#include "gtest/gtest.h"
#include "kos/intrusion.h"
#include "testing/test_util.h"

namespace kos {
namespace {

using testing::AuthnEnv;

TEST(IntrusionWiringTest, LockoutAndEvents) {
  AuthnEnv env;
  std::vector<SecurityEvent> events;
  absl::Mutex mu;
  IntrusionOptions io;
  io.ephemeral = env.ephemeral.get();
  io.clock = &env.clock;
  io.account_failure_threshold = 3;
  io.sink = [&](const SecurityEvent& e) {
    absl::MutexLock l(&mu);
    events.push_back(e);
  };
  auto ids = *IntrusionDetector::Open(io);
  AuthenticatorOptions ao = env.auth->options();
  ao.hooks = IntrusionHooks(ids.get());
  auto auth = *Authenticator::Open(ao);

  env.MakeUser("alice");
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(auth->Login("alice", "wrong password", "10.9.9.9").status().code(),
              absl::StatusCode::kUnauthenticated);
  }
  // Locked now: even the right password is refused without being checked.
  int verifies = env.hashing->verifies.load();
  EXPECT_EQ(auth->Login("Alice", "correct horse", "10.9.9.9").status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(env.hashing->verifies.load(), verifies);
  env.clock.Advance(absl::Minutes(2));
  auto t = auth->Login("alice", "correct horse", "10.9.9.9");
  ASSERT_TRUE(t.ok()) << t.status();

  // Refresh-token reuse becomes a security event naming the family.
  auto t2 = *auth->Refresh(t->refresh_token, "10.9.9.9");
  EXPECT_FALSE(auth->Refresh(t->refresh_token, "10.9.9.9").ok());
  // A forged signature becomes a signature-failure event.
  std::string forged = t2.access_token;
  forged[forged.size() - 5] = forged[forged.size() - 5] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(auth->Validate(forged, "10.9.9.9").ok());

  absl::MutexLock l(&mu);
  auto count = [&](SecurityEventType type) {
    int n = 0;
    for (const auto& e : events) n += e.type == type;
    return n;
  };
  EXPECT_EQ(count(SecurityEventType::kLoginFailure), 3);
  EXPECT_EQ(count(SecurityEventType::kAccountLocked), 1);
  ASSERT_EQ(count(SecurityEventType::kRefreshTokenReuse), 1);
  for (const auto& e : events) {
    if (e.type == SecurityEventType::kRefreshTokenReuse) {
      EXPECT_EQ(e.subject, t->session_id);
    }
    // No event carries a secret.
    EXPECT_EQ(e.ToJson().dump().find(t->refresh_token), std::string::npos);
    EXPECT_EQ(e.ToJson().dump().find("correct horse"), std::string::npos);
  }
  EXPECT_GE(count(SecurityEventType::kSignatureFailure), 1);
}

}  // namespace
}  // namespace kos
