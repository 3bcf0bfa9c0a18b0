// The verified-token cache in AccessTokenService: a hit must never accept a
// token that a fresh verification would refuse.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "authn_test_env.h"
#include "gtest/gtest.h"
#include "kos/json.h"
#include "testing/test_util.h"

namespace kos::testing {
namespace {

class VerifiedCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    user_ = env_.MakeUser("alice");
    auto t = env_.auth->Login("alice", "correct horse", "10.0.0.1");
    ASSERT_TRUE(t.ok()) << t.status();
    token_ = t->access_token;
  }

  // A token signed by the active key with the given lifetime claims.
  std::string SignAt(absl::Time iat, absl::Duration life) {
    Json header = {{"alg", "EdDSA"}, {"typ", "at+jwt"}, {"kid", env_.keyring->ActiveKid()}};
    Json payload = {{"iss", AuthnEnv::kIssuer},
                    {"sub", user_.id},
                    {"aud", AuthnEnv::kAudience},
                    {"iat", absl::ToUnixSeconds(iat)},
                    {"nbf", absl::ToUnixSeconds(iat)},
                    {"exp", absl::ToUnixSeconds(iat + life)},
                    {"jti", "j-cache"},
                    {"roles", {"user"}}};
    std::string input =
        absl::StrCat(Base64UrlEncode(DumpJson(header)), ".", Base64UrlEncode(DumpJson(payload)));
    auto sig = env_.keyring->Sign(input);
    return absl::StrCat(input, ".", Base64UrlEncode(sig->second));
  }

  std::unique_ptr<AccessTokenService> ServiceWithCache(size_t entries) {
    AccessTokenOptions o = env_.tokens->options();
    o.verified_cache_entries = entries;
    return *AccessTokenService::Open(o);
  }

  AuthnEnv env_;
  User user_;
  std::string token_;
};

TEST_F(VerifiedCacheTest, HitReturnsTheSameClaimsAsAFreshCheck) {
  auto uncached = ServiceWithCache(0);
  auto fresh = uncached->Verify(token_);
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  for (int i = 0; i < 3; ++i) {
    TokenFailure why = TokenFailure::kSignature;
    auto hit = env_.tokens->Verify(token_, &why);
    ASSERT_TRUE(hit.ok()) << hit.status();
    EXPECT_EQ(why, TokenFailure::kNone);
    EXPECT_EQ(hit->subject, fresh->subject);
    EXPECT_EQ(hit->session_id, fresh->session_id);
    EXPECT_EQ(hit->roles, fresh->roles);
    EXPECT_EQ(hit->expires, fresh->expires);
    EXPECT_EQ(hit->jwt_id, fresh->jwt_id);
    EXPECT_EQ(hit->kid, fresh->kid);
  }
}

TEST_F(VerifiedCacheTest, TamperedCopyOfACachedTokenIsRefused) {
  ASSERT_TRUE(env_.tokens->Verify(token_).ok());
  std::string tampered = token_;
  // Flip a bit inside the signature (not the last character, whose low bits
  // base64url leaves unused).
  size_t pos = tampered.size() - 5;
  tampered[pos] = tampered[pos] == 'A' ? 'B' : 'A';
  TokenFailure why;
  auto r = env_.tokens->Verify(tampered, &why);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(why, TokenFailure::kSignature);
  EXPECT_TRUE(env_.tokens->Verify(token_).ok());
}

TEST_F(VerifiedCacheTest, CachedTokenExpiresOnTime) {
  ASSERT_TRUE(env_.tokens->Verify(token_).ok());
  // 15-minute lifetime plus 60 s leeway.
  env_.clock.Advance(absl::Minutes(16) - absl::Seconds(1));
  EXPECT_TRUE(env_.tokens->Verify(token_).ok());
  env_.clock.Advance(absl::Seconds(1));
  TokenFailure why;
  EXPECT_FALSE(env_.tokens->Verify(token_, &why).ok());
  EXPECT_EQ(why, TokenFailure::kExpired);
}

TEST_F(VerifiedCacheTest, CachedTokenRefusedOnceItsKeyRetires) {
  // Valid from minute 64 to 74 after a rotation at minute 0; the old key
  // retires at minute 65, so only the key's retirement can refuse it.
  absl::Time t0 = env_.clock.Now();
  std::string token = SignAt(t0 + absl::Minutes(64), absl::Minutes(10));
  ASSERT_TRUE(env_.keyring->Rotate().ok());
  env_.clock.Advance(absl::Minutes(64));
  ASSERT_TRUE(env_.tokens->Verify(token).ok());
  ASSERT_TRUE(env_.tokens->Verify(token).ok());
  env_.clock.Advance(absl::Minutes(2));
  TokenFailure why;
  auto r = env_.tokens->Verify(token, &why);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(why, TokenFailure::kUnknownKey);
}

TEST_F(VerifiedCacheTest, KeyDeletedElsewhereRefusesCachedTokenAfterReload) {
  ASSERT_TRUE(env_.tokens->Verify(token_).ok());
  std::string old_kid = env_.keyring->ActiveKid();
  // An operator's emergency revocation on another replica: rotate, then drop
  // the old key's record outright instead of waiting for retirement.
  ASSERT_TRUE(env_.keyring->Rotate().ok());
  auto rec = env_.store->Get("kos_signing_keys", old_kid);
  ASSERT_TRUE(rec.ok()) << rec.status();
  KOS_ASSERT_OK(env_.store->Delete("kos_signing_keys", old_kid, rec->version));
  KOS_ASSERT_OK(env_.keyring->Reload());
  TokenFailure why;
  auto r = env_.tokens->Verify(token_, &why);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(why, TokenFailure::kUnknownKey);
}

TEST_F(VerifiedCacheTest, TinyAndDisabledCachesStayCorrect) {
  for (size_t entries : {size_t{0}, size_t{1}, size_t{3}}) {
    auto svc = ServiceWithCache(entries);
    std::vector<std::string> tokens;
    for (int i = 0; i < 40; ++i) {
      tokens.push_back(SignAt(env_.clock.Now() - absl::Seconds(i), absl::Minutes(10)));
    }
    for (int round = 0; round < 2; ++round) {
      for (const std::string& t : tokens) {
        auto c = svc->Verify(t);
        ASSERT_TRUE(c.ok()) << "entries=" << entries << ": " << c.status();
        EXPECT_EQ(c->subject, user_.id);
      }
    }
  }
}

TEST_F(VerifiedCacheTest, SessionLivenessIsStillCheckedOnEveryValidate) {
  ASSERT_TRUE(env_.auth->Validate(token_).ok());
  KOS_ASSERT_OK(env_.auth->Logout(token_));
  TokenFailure why;
  auto r = env_.auth->Validate(token_, "", &why);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(why, TokenFailure::kRevoked);
}

// UserStore and SessionManager keep decoded records only while the stored
// bytes are unchanged; a change made through another instance (another
// process, in production) must show on the next validation.
TEST_F(VerifiedCacheTest, ChangesByAnotherProcessShowOnTheNextValidate) {
  ASSERT_TRUE(env_.auth->Validate(token_).ok());
  ASSERT_TRUE(env_.auth->Validate(token_).ok());

  UserStoreOptions uo;
  uo.store = env_.store.get();
  uo.clock = &env_.clock;
  uo.hashing = env_.hashing;
  auto other_users = UserStore::Open(uo);
  ASSERT_TRUE(other_users.ok()) << other_users.status();
  UserUpdate rename;
  rename.display_name = "Alice Renamed";
  ASSERT_TRUE((*other_users)->Update(user_.id, rename).ok());
  auto p = env_.auth->Validate(token_);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->user->display_name, "Alice Renamed");
  KOS_ASSERT_OK((*other_users)->Disable(user_.id));
  TokenFailure why;
  EXPECT_FALSE(env_.auth->Validate(token_, "", &why).ok());
  EXPECT_EQ(why, TokenFailure::kRevoked);
  KOS_ASSERT_OK((*other_users)->Enable(user_.id));
  ASSERT_TRUE(env_.auth->Validate(token_).ok());

  SessionOptions so;
  so.ephemeral = env_.ephemeral.get();
  so.clock = &env_.clock;
  auto other_sessions = SessionManager::Open(so);
  ASSERT_TRUE(other_sessions.ok()) << other_sessions.status();
  KOS_ASSERT_OK((*other_sessions)->Revoke(p->claims.session_id));
  EXPECT_FALSE(env_.auth->Validate(token_, "", &why).ok());
  EXPECT_EQ(why, TokenFailure::kRevoked);
}

}  // namespace
}  // namespace kos::testing
