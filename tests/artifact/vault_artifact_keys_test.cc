#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "kos/artifact.h"
#include "kos/vault.h"

namespace kos {
namespace {

class CountingSink : public AuditSink {
 public:
  absl::Status Record(const AuditEvent&) override {
    absl::MutexLock l(&mu_);
    ++n_;
    return absl::OkStatus();
  }
  int n() {
    absl::MutexLock l(&mu_);
    return n_;
  }

 private:
  absl::Mutex mu_;
  int n_ = 0;
};

TEST(VaultArtifactKeysTest, ArtifactsUseVaultKeysAndSurviveRotation) {
  auto store = OpenStore("memory:").value();
  auto blobs = OpenBlobStore("memory:").value();
  CountingSink audit;
  SecretBytes master = SecretBytes::Random(32);
  VaultOptions vo;
  vo.store = store.get();
  vo.audit = &audit;
  vo.master_key = &master;
  vo.master_key_env = "";
  auto vault = Vault::Open(vo).value();

  auto keys = VaultArtifactKeys::Load(vault.get()).value();
  EXPECT_EQ(keys->current_version(), 1u);
  ArtifactStoreOptions o;
  o.store = store.get();
  o.blobs = blobs.get();
  keys->Configure(&o);
  auto artifacts = ArtifactStore::Open(o).value();
  ArtifactInfo info;
  info.name = "notes.txt";
  info.owner = "user:alice";
  auto old = artifacts->Put(info, "sealed under key 1").value();
  EXPECT_GT(audit.n(), 0);  // key reads went through the audited vault

  // Loading again finds the same keys (nothing regenerated).
  auto again = VaultArtifactKeys::Load(vault.get()).value();
  ArtifactStoreOptions o2 = o;
  again->Configure(&o2);
  EXPECT_EQ(*ArtifactStore::Open(o2).value()->ReadAll(old.id), "sealed under key 1");

  ASSERT_EQ(*VaultArtifactKeys::Rotate(vault.get()), 2u);
  auto rotated = VaultArtifactKeys::Load(vault.get()).value();
  EXPECT_EQ(rotated->current_version(), 2u);
  ArtifactStoreOptions o3 = o;
  rotated->Configure(&o3);
  auto after = ArtifactStore::Open(o3).value();
  EXPECT_EQ(*after->ReadAll(old.id), "sealed under key 1");
  info.name = "new.txt";
  auto fresh = after->Put(info, "sealed under key 2").value();
  EXPECT_EQ(*after->ReadAll(fresh.id), "sealed under key 2");
  // A store that only knows the old key set cannot read the new content.
  EXPECT_FALSE(ArtifactStore::Open(o2).value()->ReadAll(fresh.id).ok());
  // Signed URLs made before the rotation still verify: the URL key did not change.
  std::string url = artifacts->SignUrl(old.id, ArtifactOp::kRead, absl::Minutes(1)).value();
  EXPECT_EQ(*after->VerifyUrl(url, ArtifactOp::kRead), old.id);

  EXPECT_EQ(VaultArtifactKeys::Load(nullptr).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kos
