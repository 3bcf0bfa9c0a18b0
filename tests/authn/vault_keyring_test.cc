// Signing keys kept in kos::Vault instead of a KEK-sealed Store field.
#include <vector>

#include "absl/synchronization/mutex.h"
#include "authn/authn_test_env.h"
#include "gtest/gtest.h"
#include "kos/audit_sink.h"
#include "kos/vault.h"
#include "testing/test_util.h"

namespace kos {
namespace {

using testing::AuthnEnv;

class RecordingSink final : public AuditSink {
 public:
  absl::Status Record(const AuditEvent& e) override {
    absl::MutexLock l(&mu_);
    events_.push_back(e);
    return absl::OkStatus();
  }
  std::vector<AuditEvent> events() {
    absl::MutexLock l(&mu_);
    return events_;
  }

 private:
  absl::Mutex mu_;
  std::vector<AuditEvent> events_;
};

TEST(VaultKeyringTest, SeedsLiveInTheVault) {
  AuthnEnv env;
  RecordingSink audit;
  SecretBytes master = SecretBytes::Random(32);
  VaultOptions vo;
  vo.store = env.store.get();
  vo.audit = &audit;
  vo.clock = &env.clock;
  vo.master_key = &master;
  vo.master_key_env = "";
  auto vault = Vault::Open(vo);
  ASSERT_TRUE(vault.ok()) << vault.status();

  SigningKeyringOptions ko;
  ko.store = env.store.get();
  ko.clock = &env.clock;
  ko.collection = "vault_signing_keys";
  ko.vault = vault->get();
  auto ring = SigningKeyring::Open(ko);
  ASSERT_TRUE(ring.ok()) << ring.status();
  std::string kid = (*ring)->ActiveKid();
  Json rec = *ParseJson(env.store->Get("vault_signing_keys", kid)->value);
  EXPECT_FALSE(rec.contains("sealed_seed"));
  EXPECT_EQ(rec["vault_path"], "authn/signing_keys/" + kid);
  auto secret = (*vault)->Get("test", "authn/signing_keys/" + kid);
  ASSERT_TRUE(secret.ok()) << secret.status();
  EXPECT_EQ(secret->value.size(), 32u);

  // Tokens sign and verify; a second instance loads the same key from the vault.
  auto sig = (*ring)->Sign("m");
  ASSERT_TRUE(sig.ok());
  auto again = SigningKeyring::Open(ko);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE((*again)->Verify(kid, "m", sig->second).ok());
  EXPECT_EQ((*again)->Sign("m")->second, sig->second);  // Ed25519 is deterministic

  // Rotation stores the new seed in the vault too; retired seeds are removed.
  auto k2 = (*ring)->Rotate();
  ASSERT_TRUE(k2.ok()) << k2.status();
  EXPECT_TRUE((*vault)->Get("test", "authn/signing_keys/" + *k2).ok());
  env.clock.Advance(absl::Hours(2));
  EXPECT_EQ(*(*ring)->PurgeRetired(), 1u);
  EXPECT_FALSE((*vault)->Get("test", "authn/signing_keys/" + kid).ok());

  // Every vault access was audited under the keyring's actor.
  int by_authn = 0;
  for (const AuditEvent& e : audit.events()) by_authn += e.actor == "authn";
  EXPECT_GE(by_authn, 3);

  // Without the vault these records cannot be used.
  SigningKeyringOptions no_vault = ko;
  no_vault.vault = nullptr;
  no_vault.key_encryption_key = env.kek;
  EXPECT_EQ(SigningKeyring::Open(no_vault).status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace kos
