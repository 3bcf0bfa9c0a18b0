#include "kos/api_keys.h"

#include "absl/strings/match.h"
#include "authn/authn_test_env.h"
#include "gtest/gtest.h"
#include "testing/test_util.h"

namespace kos {
namespace {

using testing::AuthnEnv;

TEST(ApiKeysTest, CreateVerifyRevoke) {
  AuthnEnv env;
  NewApiKey spec;
  spec.owner = "agent:kExecutor";
  spec.name = "ci";
  spec.scopes = {"tasks:run"};
  auto created = env.api_keys->Create(spec);
  ASSERT_TRUE(created.ok()) << created.status();
  const std::string& plain = created->plaintext;
  EXPECT_TRUE(absl::StartsWith(plain, "kos_" + created->key.prefix + "_"));
  EXPECT_EQ(plain.size(), 4u + 12 + 1 + 43);
  // Only the hash is stored.
  auto rec = env.store->Get("kos_api_keys", created->key.prefix);
  ASSERT_TRUE(rec.ok());
  EXPECT_EQ(rec->value.find(plain.substr(17)), std::string::npos);

  auto v = env.api_keys->Verify(plain);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->owner, "agent:kExecutor");
  EXPECT_EQ(v->scopes, std::vector<std::string>{"tasks:run"});

  // Wrong secret with the right prefix, mangled shapes: all alike.
  std::string wrong = plain;
  wrong.back() = wrong.back() == 'A' ? 'B' : 'A';
  for (const std::string& bad :
       {wrong, plain.substr(1), plain + "x", std::string("kos__") + plain.substr(5),
        std::string("xyz") + plain.substr(3), std::string(), plain.substr(0, 17)}) {
    auto r = env.api_keys->Verify(bad);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated);
    EXPECT_EQ(r.status().message(), "invalid API key");
  }

  auto listed = env.api_keys->List("agent:kExecutor");
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_TRUE(env.api_keys->List("nobody")->empty());

  KOS_ASSERT_OK(env.api_keys->Revoke(created->key.prefix));
  EXPECT_EQ(env.api_keys->Verify(plain).status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(env.api_keys->Get(created->key.prefix)->revoked);
  EXPECT_EQ(env.api_keys->Revoke("zzzzzzzzzzzz").code(), absl::StatusCode::kNotFound);
}

TEST(ApiKeysTest, Expiry) {
  AuthnEnv env;
  NewApiKey spec;
  spec.owner = "svc";
  spec.ttl = absl::Hours(1);
  auto created = *env.api_keys->Create(spec);
  EXPECT_TRUE(env.api_keys->Verify(created.plaintext).ok());
  env.clock.Advance(absl::Minutes(59));
  EXPECT_TRUE(env.api_keys->Verify(created.plaintext).ok());
  env.clock.Advance(absl::Minutes(1));
  EXPECT_EQ(env.api_keys->Verify(created.plaintext).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST(ApiKeysTest, Validation) {
  AuthnEnv env;
  NewApiKey spec;
  EXPECT_EQ(env.api_keys->Create(spec).status().code(), absl::StatusCode::kInvalidArgument);
  spec.owner = "svc";
  spec.ttl = -absl::Seconds(1);
  EXPECT_EQ(env.api_keys->Create(spec).status().code(), absl::StatusCode::kInvalidArgument);
  spec.ttl = absl::ZeroDuration();
  auto a = *env.api_keys->Create(spec);
  auto b = *env.api_keys->Create(spec);
  EXPECT_NE(a.key.prefix, b.key.prefix);
  EXPECT_NE(a.plaintext, b.plaintext);
}

}  // namespace
}  // namespace kos
