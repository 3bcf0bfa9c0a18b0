#include "kos/users.h"

#include <atomic>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "authn/authn_test_env.h"
#include "gtest/gtest.h"
#include "testing/test_util.h"

namespace kos {
namespace {

using testing::AuthnEnv;

TEST(UsersTest, CreateGetUpdateDelete) {
  AuthnEnv env;
  NewUser nu;
  nu.username = "  Alice.Smith ";
  nu.email = "Alice@Example.COM";
  nu.password = "correct horse";
  nu.display_name = "Alice";
  nu.preferences = {{"theme", "dark"}};
  nu.roles = {"admin"};
  auto u = env.users->Create(nu);
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->username, "Alice.Smith");
  EXPECT_EQ(u->version, 1u);
  EXPECT_FALSE(u->id.empty());

  auto by_name = env.users->GetByUsername("ALICE.smith");
  ASSERT_TRUE(by_name.ok());
  EXPECT_EQ(by_name->id, u->id);
  auto by_email = env.users->GetByEmail(" alice@example.com");
  ASSERT_TRUE(by_email.ok());
  EXPECT_EQ(by_email->preferences["theme"], "dark");
  EXPECT_EQ(by_email->roles, std::vector<std::string>{"admin"});

  UserUpdate up;
  up.username = "alice2";
  up.email = "a2@example.com";
  up.display_name = "Alice Two";
  up.profile = Json{{"locale", "de"}};
  up.expected_version = 1;
  auto u2 = env.users->Update(u->id, up);
  ASSERT_TRUE(u2.ok()) << u2.status();
  EXPECT_EQ(u2->version, 2u);
  EXPECT_EQ(env.users->GetByUsername("alice.smith").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(env.users->GetByEmail("alice@example.com").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE(env.users->GetByUsername("ALICE2").ok());
  EXPECT_EQ(env.users->Get(u->id)->profile["locale"], "de");
  // The old name is free again.
  NewUser again = nu;
  again.email = "";
  EXPECT_TRUE(env.users->Create(again).ok());

  // Stale version: CAS conflict, nothing changes.
  up.expected_version = 1;
  EXPECT_EQ(env.users->Update(u->id, up).status().code(), absl::StatusCode::kFailedPrecondition);

  KOS_ASSERT_OK(env.users->Delete(u->id));
  EXPECT_EQ(env.users->Get(u->id).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(env.users->GetByUsername("alice2").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(env.users->Delete(u->id).code(), absl::StatusCode::kNotFound);
}

TEST(UsersTest, UniqueCaseInsensitive) {
  AuthnEnv env;
  env.MakeUser("bob");
  NewUser nu;
  nu.username = "BOB";
  nu.password = "password1";
  EXPECT_EQ(env.users->Create(nu).status().code(), absl::StatusCode::kAlreadyExists);
  nu.username = "bobby";
  nu.email = "BOB@example.com";
  auto r = env.users->Create(nu);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_NE(r.status().message().find("email"), std::string::npos);
  // Renaming onto a taken name fails and changes nothing.
  User carol = env.MakeUser("carol");
  UserUpdate up;
  up.username = "Bob";
  EXPECT_EQ(env.users->Update(carol.id, up).status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(env.users->Get(carol.id)->username, "carol");
  EXPECT_TRUE(env.users->GetByUsername("carol").ok());
}

TEST(UsersTest, ConcurrentCreatesOneWinner) {
  AuthnEnv env;
  // Pre-hash outside the race would be nicer, but Create hashes; the minimum
  // Argon2id cost keeps this fast.
  constexpr int kThreads = 8;
  constexpr int kNames = 6;
  std::atomic<int> created{0}, exists{0}, other{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int n = 0; n < kNames; ++n) {
        NewUser nu;
        // Each thread spells the name differently; they normalize alike.
        nu.username = t % 2 ? absl::StrCat("USER", n) : absl::StrCat("user", n);
        nu.email = absl::StrCat("u", n, "-", t, "@example.com");
        nu.password = "password1";
        auto r = env.users->Create(nu);
        if (r.ok()) {
          ++created;
        } else if (absl::IsAlreadyExists(r.status())) {
          ++exists;
        } else {
          ++other;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(created.load(), kNames);
  EXPECT_EQ(exists.load(), kNames * (kThreads - 1));
  EXPECT_EQ(other.load(), 0);
  // Exactly one user record per name, and the index points at it.
  auto page = env.store->Scan("kos_users", {});
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->records.size(), static_cast<size_t>(kNames));
  for (int n = 0; n < kNames; ++n)
    EXPECT_TRUE(env.users->GetByUsername(absl::StrCat("user", n)).ok());
}

TEST(UsersTest, ConcurrentEmailClaims) {
  AuthnEnv env;
  std::atomic<int> created{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      NewUser nu;
      nu.username = absl::StrCat("name", t);
      nu.email = t % 2 ? "Same@Example.com" : "same@example.com ";
      nu.password = "password1";
      if (env.users->Create(nu).ok()) ++created;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(created.load(), 1);
}

TEST(UsersTest, Validation) {
  AuthnEnv env;
  NewUser nu;
  nu.username = "dave";
  nu.password = "pw12";
  auto r = env.users->Create(nu);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message().find("pw12"), std::string::npos);
  nu.password = "long enough";
  nu.username = "bad name";
  EXPECT_EQ(env.users->Create(nu).status().code(), absl::StatusCode::kInvalidArgument);
  nu.username = "";
  EXPECT_EQ(env.users->Create(nu).status().code(), absl::StatusCode::kInvalidArgument);
  nu.username = "dave";
  nu.email = "no-at-sign";
  EXPECT_EQ(env.users->Create(nu).status().code(), absl::StatusCode::kInvalidArgument);
  nu.email = "";
  nu.preferences = Json::array();
  EXPECT_EQ(env.users->Create(nu).status().code(), absl::StatusCode::kInvalidArgument);
  nu.preferences = {{"blob", std::string(70 * 1024, 'x')}};
  auto big = env.users->Create(nu);
  EXPECT_EQ(big.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(big.status().message().find("preferences"), std::string::npos);
  nu.preferences = Json::object();
  ASSERT_TRUE(env.users->Create(nu).ok());
  // Oversized preferences on update leave the stored ones intact.
  User d = *env.users->GetByUsername("dave");
  UserUpdate up;
  up.preferences = Json{{"blob", std::string(70 * 1024, 'x')}};
  EXPECT_EQ(env.users->Update(d.id, up).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(env.users->Get(d.id)->version, d.version);
}

TEST(UsersTest, PasswordNeverStoredOrEchoed) {
  AuthnEnv env;
  User u = env.MakeUser("erin", "hunter2-very-secret");
  auto rec = env.store->Get("kos_users", u.id);
  ASSERT_TRUE(rec.ok());
  EXPECT_EQ(rec->value.find("hunter2"), std::string::npos);
  EXPECT_NE(rec->value.find("$argon2id$"), std::string::npos);
  auto bad = env.users->VerifyPassword("erin", "hunter3-very-secret");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(bad.status().message().find("hunter"), std::string::npos);
}

TEST(UsersTest, UnknownUserCostsOneVerification) {
  AuthnEnv env;
  env.MakeUser("frank");
  int before = env.hashing->verifies.load();
  auto wrong = env.users->VerifyPassword("frank", "wrong password");
  EXPECT_EQ(env.hashing->verifies.load(), before + 1);
  auto unknown = env.users->VerifyPassword("nobody", "wrong password");
  EXPECT_EQ(env.hashing->verifies.load(), before + 2);
  // Same code, same message: nothing tells the two apart.
  EXPECT_EQ(wrong.status(), unknown.status());
  // Through the facade too.
  auto a = env.auth->Login("frank", "wrong password", "1.2.3.4");
  auto b = env.auth->Login("ghost", "wrong password", "1.2.3.4");
  EXPECT_EQ(env.hashing->verifies.load(), before + 4);
  EXPECT_EQ(a.status(), b.status());
  // A disabled account answers like a wrong password.
  KOS_ASSERT_OK(env.users->Disable(env.users->GetByUsername("frank")->id));
  auto c = env.auth->Login("frank", "correct horse", "1.2.3.4");
  EXPECT_EQ(c.status(), a.status());
}

TEST(UsersTest, RehashOnLoginWhenParametersChange) {
  AuthnEnv env;
  User u = env.MakeUser("gina", "correct horse");
  std::string old_hash = env.store->Get("kos_users", u.id)->value;
  // A second store over the same records with stronger parameters.
  PasswordHasherOptions stronger = PasswordHasherOptions::Minimum();
  stronger.ops_limit += 1;
  UserStoreOptions uo;
  uo.store = env.store.get();
  uo.clock = &env.clock;
  uo.hashing = *PasswordHashing::Argon2id(stronger);
  auto users2 = *UserStore::Open(uo);
  auto v = users2->VerifyPassword("gina", "correct horse");
  ASSERT_TRUE(v.ok()) << v.status();
  std::string new_record = env.store->Get("kos_users", u.id)->value;
  EXPECT_NE(new_record, old_hash);
  EXPECT_NE(new_record.find(absl::StrCat("t=", stronger.ops_limit)), std::string::npos);
  // And the new hash still verifies; no further rehash.
  ASSERT_TRUE(users2->VerifyPassword("gina", "correct horse").ok());
  EXPECT_EQ(env.store->Get("kos_users", u.id)->value, new_record);
}

TEST(UsersTest, SetPassword) {
  AuthnEnv env;
  User u = env.MakeUser("hank", "first password");
  KOS_ASSERT_OK(env.users->SetPassword(u.id, "second password"));
  EXPECT_FALSE(env.users->VerifyPassword("hank", "first password").ok());
  EXPECT_TRUE(env.users->VerifyPassword("HANK", "second password").ok());
  EXPECT_EQ(env.users->SetPassword(u.id, "short").code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kos
