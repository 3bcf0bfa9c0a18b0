// Signing keyring: persistence, sealing, rotation, JWKS, retirement.
#include <set>

#include "authn/authn_test_env.h"
#include "gtest/gtest.h"
#include "kos/tokens.h"
#include "testing/test_util.h"

namespace kos {
namespace {

using testing::AuthnEnv;

TEST(SigningKeyringTest, PrivateKeysAreSealedAndReopen) {
  AuthnEnv env;
  std::string kid = env.keyring->ActiveKid();
  auto rec = env.store->Get("kos_signing_keys", kid);
  ASSERT_TRUE(rec.ok());
  Json j = *ParseJson(rec->value);
  EXPECT_FALSE(j.contains("d"));
  EXPECT_FALSE(j.contains("seed"));
  EXPECT_TRUE(j.contains("sealed_seed"));

  AccessTokenClaims claims;
  claims.subject = "s1";
  auto token = env.tokens->Issue(claims);
  ASSERT_TRUE(token.ok());
  // A second process over the same Store with the same KEK verifies and signs
  // with the same key.
  SigningKeyringOptions ko;
  ko.store = env.store.get();
  ko.clock = &env.clock;
  ko.key_encryption_key = env.kek;
  auto again = SigningKeyring::Open(ko);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)->ActiveKid(), kid);
  auto sig = (*again)->Sign("m");
  ASSERT_TRUE(sig.ok());
  EXPECT_TRUE(env.keyring->Verify(kid, "m", sig->second).ok());

  // A wrong KEK cannot open the private key.
  ko.key_encryption_key = std::make_shared<const SecretBytes>(SecretBytes::Random(32));
  auto wrong = SigningKeyring::Open(ko);
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kUnauthenticated);
  ko.key_encryption_key = std::make_shared<const SecretBytes>(SecretBytes::Random(16));
  EXPECT_EQ(SigningKeyring::Open(ko).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(SigningKeyringTest, RotationKeepsOldKeyUntilRetired) {
  AuthnEnv env;
  std::string k1 = env.keyring->ActiveKid();
  AccessTokenClaims c;
  c.subject = "svc";
  std::string old_token = *env.tokens->Issue(c);
  auto k2 = env.keyring->Rotate();
  ASSERT_TRUE(k2.ok()) << k2.status();
  EXPECT_NE(*k2, k1);
  EXPECT_EQ(env.keyring->ActiveKid(), *k2);
  std::string new_token = *env.tokens->Issue(c);

  Json jwks = env.keyring->Jwks();
  ASSERT_EQ(jwks["keys"].size(), 2u);
  std::set<std::string> kids;
  for (const Json& k : jwks["keys"]) {
    EXPECT_EQ(k["kty"], "OKP");
    EXPECT_EQ(k["crv"], "Ed25519");
    EXPECT_EQ(k["alg"], "EdDSA");
    EXPECT_EQ(k["use"], "sig");
    EXPECT_FALSE(k.contains("d"));
    EXPECT_EQ(Base64UrlDecode(k["x"].get<std::string>())->size(), 32u);
    kids.insert(k["kid"].get<std::string>());
  }
  EXPECT_EQ(kids, (std::set<std::string>{k1, *k2}));
  EXPECT_TRUE(env.tokens->Verify(old_token).ok());
  EXPECT_TRUE(env.tokens->Verify(new_token).ok());

  // After retire_after (65 min) the old key leaves the JWKS; its tokens had
  // expired anyway.
  env.clock.Advance(absl::Minutes(66));
  EXPECT_EQ(env.keyring->Jwks()["keys"].size(), 1u);
  EXPECT_EQ(env.keyring->Jwks()["keys"][0]["kid"], *k2);
  auto purged = env.keyring->PurgeRetired();
  ASSERT_TRUE(purged.ok());
  EXPECT_EQ(*purged, 1u);
  EXPECT_EQ(env.keyring->Keys().size(), 1u);
}

TEST(SigningKeyringTest, RotationOnOneReplicaSeenByAnother) {
  AuthnEnv env;
  SigningKeyringOptions ko;
  ko.store = env.store.get();
  ko.clock = &env.clock;
  ko.key_encryption_key = env.kek;
  auto replica = *SigningKeyring::Open(ko);
  auto k2 = *replica->Rotate();
  auto sig = *replica->Sign("msg");
  ASSERT_EQ(sig.first, k2);
  // The first instance has not reloaded; after the reload interval an
  // unknown kid triggers one.
  env.clock.Advance(absl::Seconds(31));
  EXPECT_TRUE(env.keyring->Verify(k2, "msg", sig.second).ok());
  EXPECT_EQ(env.keyring->ActiveKid(), k2);
}

TEST(AccessTokenServiceTest, RejectsBadOptions) {
  AuthnEnv env;
  AccessTokenOptions o;
  EXPECT_EQ(AccessTokenService::Open(o).status().code(), absl::StatusCode::kInvalidArgument);
  o.keyring = env.keyring.get();
  o.issuer = "i";
  EXPECT_EQ(AccessTokenService::Open(o).status().code(), absl::StatusCode::kInvalidArgument);
  o.audience = "a";
  EXPECT_TRUE(AccessTokenService::Open(o).ok());
  EXPECT_EQ(env.tokens->Issue(AccessTokenClaims{}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(AccessTokenServiceTest, ClaimsRoundTrip) {
  AuthnEnv env;
  AccessTokenClaims c;
  c.subject = "u1";
  c.session_id = "s1";
  c.client_id = "cli";
  c.roles = {"a", "b"};
  c.scope = "memory:read tasks:run";
  auto t = env.tokens->Issue(c);
  ASSERT_TRUE(t.ok());
  auto v = env.tokens->Verify(*t);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->subject, "u1");
  EXPECT_EQ(v->session_id, "s1");
  EXPECT_EQ(v->client_id, "cli");
  EXPECT_EQ(v->roles, c.roles);
  EXPECT_EQ(v->scope, c.scope);
  EXPECT_EQ(v->expires - v->issued_at, absl::Minutes(15));
  EXPECT_EQ(v->kid, env.keyring->ActiveKid());
  EXPECT_EQ(v->jwt_id.size(), 22u);
  // Two tokens never share a jti.
  EXPECT_NE(env.tokens->Verify(*env.tokens->Issue(c))->jwt_id, v->jwt_id);
}

}  // namespace
}  // namespace kos
