// Login, logout, refresh rotation and reuse detection, session timeouts.
#include "kos/sessions.h"

#include <atomic>
#include <thread>
#include <vector>

#include "absl/strings/str_split.h"
#include "authn/authn_test_env.h"
#include "gtest/gtest.h"
#include "testing/test_util.h"

namespace kos {
namespace {

using testing::AuthnEnv;

TEST(AuthenticatorTest, LoginValidateLogout) {
  AuthnEnv env;
  User u = env.MakeUser("alice", "correct horse", {"user", "editor"});
  auto t = env.auth->Login("ALICE", "correct horse", "10.0.0.1");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->token_type, "Bearer");
  EXPECT_EQ(t->expires_in, absl::Minutes(15));
  EXPECT_EQ(t->refresh_token.size(), 43u);
  EXPECT_EQ(env.successes, std::vector<std::string>{"alice"});

  auto p = env.auth->Validate(t->access_token);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->claims.subject, u.id);
  EXPECT_EQ(p->claims.session_id, t->session_id);
  EXPECT_EQ(p->claims.client_id, "kos");
  EXPECT_EQ(p->claims.roles, (std::vector<std::string>{"user", "editor"}));
  EXPECT_EQ(p->claims.issuer, AuthnEnv::kIssuer);
  EXPECT_EQ(p->claims.audience, std::vector<std::string>{AuthnEnv::kAudience});
  ASSERT_TRUE(p->user.has_value());
  EXPECT_EQ(p->user->username, "alice");

  // Header is exactly what docs/auth.md promises.
  std::vector<std::string> parts = absl::StrSplit(t->access_token, '.');
  Json header = *ParseJson(*Base64UrlDecode(parts[0]));
  EXPECT_EQ(header, (Json{{"alg", "EdDSA"}, {"typ", "at+jwt"}, {"kid", env.keyring->ActiveKid()}}));

  KOS_ASSERT_OK(env.auth->Logout(t->access_token));
  EXPECT_EQ(env.auth->Validate(t->access_token).status().code(),
            absl::StatusCode::kUnauthenticated);
  // The family is gone too.
  EXPECT_EQ(env.auth->Refresh(t->refresh_token, "10.0.0.1").status().code(),
            absl::StatusCode::kUnauthenticated);
  // Logging out twice: the token no longer validates.
  EXPECT_EQ(env.auth->Logout(t->access_token).code(), absl::StatusCode::kUnauthenticated);
}

TEST(AuthenticatorTest, FailedLoginsReportedAndLockoutHonoured) {
  AuthnEnv env;
  env.MakeUser("bob");
  EXPECT_EQ(env.auth->Login("Bob", "nope nope", "10.0.0.2").status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(env.auth->Login("ghost", "nope nope", "10.0.0.2").status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(env.failures, (std::vector<std::string>{"bob", "ghost"}));
  env.locked = absl::Minutes(1);
  int verifies = env.hashing->verifies.load();
  auto locked = env.auth->Login("bob", "correct horse", "10.0.0.2");
  EXPECT_EQ(locked.status().code(), absl::StatusCode::kResourceExhausted);
  // While locked, no password is even checked.
  EXPECT_EQ(env.hashing->verifies.load(), verifies);
  env.locked = absl::ZeroDuration();
  EXPECT_TRUE(env.auth->Login("bob", "correct horse", "10.0.0.2").ok());
}

TEST(AuthenticatorTest, RefreshRotates) {
  AuthnEnv env;
  env.MakeUser("carol");
  auto t1 = *env.auth->Login("carol", "correct horse", "10.0.0.3");
  env.clock.Advance(absl::Minutes(5));
  auto t2 = env.auth->Refresh(t1.refresh_token, "10.0.0.3");
  ASSERT_TRUE(t2.ok()) << t2.status();
  EXPECT_NE(t2->refresh_token, t1.refresh_token);
  EXPECT_NE(t2->access_token, t1.access_token);
  EXPECT_EQ(t2->session_id, t1.session_id);
  EXPECT_TRUE(env.auth->Validate(t2->access_token).ok());
  // Refresh slides the idle timeout: 9 more minutes is past the original
  // 10-minute window but inside the refreshed one.
  env.clock.Advance(absl::Minutes(9));
  auto t3 = env.auth->Refresh(t2->refresh_token, "10.0.0.3");
  ASSERT_TRUE(t3.ok()) << t3.status();
  // Roles changed since login show up in refreshed tokens.
  UserUpdate up;
  up.roles = std::vector<std::string>{"admin"};
  ASSERT_TRUE(env.users->Update(env.users->GetByUsername("carol")->id, up).ok());
  auto t4 = *env.auth->Refresh(t3->refresh_token, "10.0.0.3");
  EXPECT_EQ(env.auth->Validate(t4.access_token)->claims.roles, std::vector<std::string>{"admin"});
  // Nothing is stored in clear: the Ephemeral key is the SHA-256, not the token.
  EXPECT_FALSE(env.ephemeral->Get("kos:authn:rt:" + t4.refresh_token).ok());
  EXPECT_TRUE(env.ephemeral->Get("kos:authn:rt:" + Base64UrlEncode(Sha256(t4.refresh_token))).ok());
}

TEST(AuthenticatorTest, ReuseRevokesFamily) {
  AuthnEnv env;
  User u = env.MakeUser("dave");
  auto t1 = *env.auth->Login("dave", "correct horse", "10.0.0.4");
  auto t2 = *env.auth->Refresh(t1.refresh_token, "10.0.0.4");
  auto t3 = *env.auth->Refresh(t2.refresh_token, "10.0.0.4");
  ASSERT_TRUE(env.auth->Validate(t3.access_token).ok());
  // An attacker replays the first (already used) token.
  auto replay = env.auth->Refresh(t1.refresh_token, "198.51.100.7");
  EXPECT_EQ(replay.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(replay.status().message().find("reuse"), std::string::npos);
  ASSERT_EQ(env.reuses.size(), 1u);
  EXPECT_EQ(env.reuses[0], u.id + "/" + t1.session_id);
  // The whole family is dead: the newest refresh token and access token too.
  EXPECT_EQ(env.auth->Refresh(t3.refresh_token, "10.0.0.4").status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(env.auth->Validate(t3.access_token).status().code(),
            absl::StatusCode::kUnauthenticated);
  // Other sessions of the same user are unaffected.
  auto other = env.auth->Login("dave", "correct horse", "10.0.0.4");
  ASSERT_TRUE(other.ok());
  EXPECT_TRUE(env.auth->Validate(other->access_token).ok());
}

TEST(AuthenticatorTest, ConcurrentUseOfOneRefreshTokenHasOneWinner) {
  AuthnEnv env;
  env.MakeUser("erin");
  auto t = *env.auth->Login("erin", "correct horse", "10.0.0.5");
  std::atomic<int> ok{0}, refused{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      auto r = env.auth->Refresh(t.refresh_token, "10.0.0.5");
      (r.ok() ? ok : refused)++;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_LE(ok.load(), 1);
  EXPECT_EQ(ok.load() + refused.load(), 8);
  // Any second presentation is reuse, so the family ends either way.
  EXPECT_EQ(env.sessions->Get(t.session_id).status().code(), absl::StatusCode::kNotFound);
}

TEST(AuthenticatorTest, RefreshRefusals) {
  AuthnEnv env;
  User u = env.MakeUser("fay");
  auto t = *env.auth->Login("fay", "correct horse", "10.0.0.6");
  for (std::string bad :
       {std::string(), std::string("x"), std::string(43, 'A'), t.refresh_token + "A",
        t.refresh_token.substr(1) + "=", std::string(43, '\xff')}) {
    EXPECT_EQ(env.auth->Refresh(bad, "").status().code(), absl::StatusCode::kUnauthenticated);
  }
  EXPECT_TRUE(env.reuses.empty());
  // Idle timeout passes: the session and its family end.
  env.clock.Advance(absl::Minutes(11));
  EXPECT_EQ(env.auth->Refresh(t.refresh_token, "").status().code(),
            absl::StatusCode::kUnauthenticated);
  // Disabled user: refresh refused and the session revoked.
  auto t2 = *env.auth->Login("fay", "correct horse", "10.0.0.6");
  KOS_ASSERT_OK(env.users->Disable(u.id));
  EXPECT_EQ(env.auth->Refresh(t2.refresh_token, "").status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(env.sessions->Get(t2.session_id).status().code(), absl::StatusCode::kNotFound);
}

TEST(SessionManagerTest, AbsoluteLifetimeCapsRefresh) {
  FakeClock clock;
  EphemeralOptions eo;
  eo.clock = &clock;
  auto eph = *OpenEphemeral("memory:", eo);
  SessionOptions so;
  so.ephemeral = eph.get();
  so.clock = &clock;
  so.session_timeout = absl::Minutes(30);
  so.max_session_lifetime = absl::Hours(1);
  auto sm = *SessionManager::Open(so);
  auto r = *sm->Create("user1", "kos", "addr", "");
  std::string rt = r.refresh_token;
  for (int i = 0; i < 2; ++i) {
    clock.Advance(absl::Minutes(25));
    auto next = sm->Rotate(rt);
    ASSERT_TRUE(next.ok()) << next.status();
    rt = next->refresh_token;
    EXPECT_LE(next->session.expires, r.session.absolute_expiry);
  }
  clock.Advance(absl::Minutes(11));  // 61 minutes after login
  EXPECT_EQ(sm->Rotate(rt).status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(sm->Get(r.session.id).status().code(), absl::StatusCode::kNotFound);
}

TEST(SessionManagerTest, RejectsBadOptions) {
  SessionOptions so;
  EXPECT_EQ(SessionManager::Open(so).status().code(), absl::StatusCode::kInvalidArgument);
  auto eph = *OpenEphemeral("memory:");
  so.ephemeral = eph.get();
  so.session_timeout = absl::Hours(2);
  so.max_session_lifetime = absl::Hours(1);
  EXPECT_EQ(SessionManager::Open(so).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kos
