#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "kos/artifact.h"
#include "kos/id.h"
#include "testing/test_util.h"

namespace kos {
namespace {

class ArtifactStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = OpenStore("memory:").value();
    blobs_ = OpenBlobStore("file://" + dir_.path()).value();
    content_key_ = SecretBytes::Random(32);
    url_key_ = SecretBytes::Random(32);
    options_.store = store_.get();
    options_.blobs = blobs_.get();
    options_.clock = &clock_;
    options_.content_key = &content_key_;
    options_.url_key = &url_key_;
    options_.chunk_bytes = 4096;
    options_.max_artifact_bytes = 1 << 20;
    options_.owner_quota_bytes = 2 << 20;
    artifacts_ = ArtifactStore::Open(options_).value();
  }

  ArtifactInfo Info(std::string name = "report.txt", std::string owner = "user:alice") {
    ArtifactInfo i;
    i.name = std::move(name);
    i.owner = std::move(owner);
    i.content_type = "text/plain";
    i.tags = {{"project", "kos"}};
    return i;
  }

  size_t BlobCount() { return blobs_->List("artifacts/").value().size(); }

  testing::TempDir dir_;
  FakeClock clock_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<BlobStore> blobs_;
  SecretBytes content_key_, url_key_;
  ArtifactStoreOptions options_;
  std::unique_ptr<ArtifactStore> artifacts_;
};

std::string Pattern(size_t n, char seed = 'a') {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(seed + (i * 7919) % 23);
  return s;
}

TEST_F(ArtifactStoreTest, StreamedRoundTripAcrossManyChunks) {
  std::string content = Pattern(100000);  // ~25 chunks of 4 KiB
  auto w = artifacts_->NewWriter(Info()).value();
  for (size_t off = 0; off < content.size(); off += 999) {
    ASSERT_TRUE(w->Append(absl::string_view(content).substr(off, 999)).ok());
  }
  auto m = w->Commit();
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->size, content.size());
  EXPECT_EQ(m->blake2b.size(), 64u);
  EXPECT_EQ(m->info.tags.at("project"), "kos");
  EXPECT_EQ(*artifacts_->ReadAll(m->id), content);
  auto got = artifacts_->Get(m->id).value();
  EXPECT_EQ(got.blake2b, m->blake2b);
  EXPECT_EQ(got.info.name, "report.txt");
  EXPECT_EQ(*artifacts_->Usage("user:alice"), content.size());
}

TEST_F(ArtifactStoreTest, ExactChunkMultiplesAndOneByte) {
  for (size_t n : {size_t{1}, size_t{4096}, size_t{8192}, size_t{4097}}) {
    std::string c = Pattern(n, 'k');
    auto m = artifacts_->Put(Info(absl::StrCat("f", n)), c);
    ASSERT_TRUE(m.ok()) << n << m.status();
    EXPECT_EQ(*artifacts_->ReadAll(m->id), c) << n;
  }
}

TEST_F(ArtifactStoreTest, ContentIsEncryptedAtRest) {
  std::string canary = "CANARY-" + std::string(5000, 'Z') + "-END";
  ASSERT_TRUE(artifacts_->Put(Info(), canary).ok());
  for (auto& e : std::filesystem::recursive_directory_iterator(dir_.path())) {
    if (!e.is_regular_file()) continue;
    std::string bytes = testing::ReadFileOrDie(e.path());
    EXPECT_FALSE(absl::StrContains(bytes, "CANARY")) << e.path();
    EXPECT_FALSE(absl::StrContains(bytes, "ZZZZZZZZ")) << e.path();
  }
}

TEST_F(ArtifactStoreTest, IdenticalContentIsStoredOnceAndFreedWithTheLastReference) {
  std::string c = Pattern(10000);
  auto a = artifacts_->Put(Info("a.txt"), c).value();
  auto b = artifacts_->Put(Info("b.txt", "user:bob"), c).value();
  EXPECT_NE(a.id, b.id);
  EXPECT_EQ(a.blake2b, b.blake2b);
  EXPECT_EQ(BlobCount(), 1u);
  ASSERT_TRUE(artifacts_->Delete(a.id).ok());
  EXPECT_EQ(BlobCount(), 1u);
  EXPECT_EQ(*artifacts_->ReadAll(b.id), c);
  ASSERT_TRUE(artifacts_->Delete(b.id).ok());
  EXPECT_EQ(BlobCount(), 0u);
  EXPECT_EQ(artifacts_->Get(a.id).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(*artifacts_->Usage("user:alice"), 0u);
  EXPECT_EQ(artifacts_->Delete(a.id).code(), absl::StatusCode::kNotFound);
}

TEST_F(ArtifactStoreTest, InterruptedUploadLeavesNothing) {
  {
    auto w = artifacts_->NewWriter(Info()).value();
    ASSERT_TRUE(w->Append(Pattern(20000)).ok());
    // Destroyed without Commit: the client went away.
  }
  EXPECT_EQ(BlobCount(), 0u);
  EXPECT_TRUE(artifacts_->List("", "").value().artifacts.empty());
  EXPECT_EQ(*artifacts_->Usage("user:alice"), 0u);
  EXPECT_TRUE(blobs_->List("").value().empty());
}

TEST_F(ArtifactStoreTest, WrongContentHashIsRefusedAndDiscarded) {
  ArtifactInfo i = Info();
  i.expected_blake2b = std::string(64, '0');
  auto w = artifacts_->NewWriter(i).value();
  ASSERT_TRUE(w->Append("hello").ok());
  auto m = w->Commit();
  EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(BlobCount(), 0u);
  EXPECT_TRUE(artifacts_->List("", "").value().artifacts.empty());
  // The right hash is accepted.
  std::string right = artifacts_->Put(Info("x"), "hello").value().blake2b;
  i.expected_blake2b = right;
  EXPECT_TRUE(artifacts_->Put(i, "hello").ok());
}

TEST_F(ArtifactStoreTest, BadNamesAndMetadataAreRefused) {
  for (std::string name : std::vector<std::string>{"", "..", ".", "../etc/passwd", "a/b", "a\\b",
                                                   std::string("a\0b", 3), "tab\there",
                                                   std::string(256, 'x'), "\xff\xfe"}) {
    auto w = artifacts_->NewWriter(Info(name));
    EXPECT_EQ(w.status().code(), absl::StatusCode::kInvalidArgument) << name;
  }
  EXPECT_FALSE(artifacts_->NewWriter(Info("ok", "user/../alice")).ok());
  EXPECT_FALSE(artifacts_->NewWriter(Info("ok", "")).ok());
  ArtifactInfo i = Info();
  i.content_type = "nonsense";
  EXPECT_FALSE(artifacts_->NewWriter(i).ok());
  i = Info();
  i.tags["bad tag"] = "x";
  EXPECT_FALSE(artifacts_->NewWriter(i).ok());
  EXPECT_EQ(artifacts_->Get("../../x").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(artifacts_->Get(NewId()).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ArtifactStoreTest, ZeroLengthAndOversizeFilesAreRefused) {
  auto empty = artifacts_->Put(Info(), "");
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kInvalidArgument);
  auto w = artifacts_->NewWriter(Info()).value();
  ASSERT_TRUE(w->Append(std::string(1 << 19, 'a')).ok());
  ASSERT_TRUE(w->Append(std::string(1 << 19, 'a')).ok());
  EXPECT_EQ(w->Append("x").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(w->Commit().ok());  // poisoned after the error
  w.reset();
  EXPECT_EQ(BlobCount(), 0u);
}

TEST_F(ArtifactStoreTest, QuotaPerOwner) {
  std::string mb(1 << 20, 'q');
  ASSERT_TRUE(artifacts_->Put(Info("1"), mb).ok());
  mb[0] = 'r';
  ASSERT_TRUE(artifacts_->Put(Info("2"), mb).ok());
  mb[0] = 's';
  auto third = artifacts_->Put(Info("3"), mb);
  EXPECT_EQ(third.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(artifacts_->Put(Info("3", "user:bob"), mb).ok());  // bob has his own quota
  EXPECT_EQ(*artifacts_->Usage("user:alice"), 2u << 20);
}

TEST_F(ArtifactStoreTest, TamperedOrTruncatedContentIsDetected) {
  auto m = artifacts_->Put(Info(), Pattern(12000)).value();
  std::string key = blobs_->List("artifacts/").value().front();
  std::string original = blobs_->GetAll(key).value();

  std::string flipped = original;
  flipped[100] ^= 1;
  ASSERT_TRUE(blobs_->PutAll(key, flipped).ok());
  EXPECT_EQ(artifacts_->ReadAll(m.id).status().code(), absl::StatusCode::kDataLoss);

  // Drop the final chunk: the reader must notice the missing "last" chunk.
  size_t first_len =
      (static_cast<unsigned char>(original[2]) << 8) | static_cast<unsigned char>(original[3]);
  std::string truncated = original.substr(0, 4 + first_len);
  ASSERT_TRUE(blobs_->PutAll(key, truncated).ok());
  EXPECT_EQ(artifacts_->ReadAll(m.id).status().code(), absl::StatusCode::kDataLoss);

  ASSERT_TRUE(blobs_->PutAll(key, original.substr(0, original.size() - 7)).ok());
  EXPECT_EQ(artifacts_->ReadAll(m.id).status().code(), absl::StatusCode::kDataLoss);

  ASSERT_TRUE(blobs_->PutAll(key, original).ok());
  EXPECT_TRUE(artifacts_->ReadAll(m.id).ok());
}

TEST_F(ArtifactStoreTest, ChunksCannotBeSwappedBetweenObjects) {
  auto a = artifacts_->Put(Info("a"), Pattern(3000, 'a')).value();
  auto b = artifacts_->Put(Info("b"), Pattern(3000, 'b')).value();
  auto keys = blobs_->List("artifacts/").value();
  ASSERT_EQ(keys.size(), 2u);
  std::string ka = blobs_->GetAll(keys[0]).value();
  std::string kb = blobs_->GetAll(keys[1]).value();
  ASSERT_TRUE(blobs_->PutAll(keys[0], kb).ok());
  ASSERT_TRUE(blobs_->PutAll(keys[1], ka).ok());
  EXPECT_EQ(artifacts_->ReadAll(a.id).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(artifacts_->ReadAll(b.id).status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(ArtifactStoreTest, SignedUrls) {
  auto m = artifacts_->Put(Info(), "signed").value();
  std::string t = artifacts_->SignUrl(m.id, ArtifactOp::kRead, absl::Minutes(5)).value();
  EXPECT_EQ(*artifacts_->VerifyUrl(t, ArtifactOp::kRead), m.id);
  EXPECT_EQ(artifacts_->VerifyUrl(t, ArtifactOp::kDelete).status().code(),
            absl::StatusCode::kUnauthenticated);
  for (size_t i = 0; i < t.size(); i += 3) {
    std::string bad = t;
    bad[i] = bad[i] == 'A' ? 'B' : 'A';
    EXPECT_EQ(artifacts_->VerifyUrl(bad, ArtifactOp::kRead).status().code(),
              absl::StatusCode::kUnauthenticated)
        << i;
  }
  for (std::string bad : std::vector<std::string>{
           "", ".", "abc", t + ".x", t.substr(0, t.size() - 2), std::string(5000, 'a')}) {
    EXPECT_EQ(artifacts_->VerifyUrl(bad, ArtifactOp::kRead).status().code(),
              absl::StatusCode::kUnauthenticated);
  }
  clock_.Advance(absl::Minutes(5));
  EXPECT_EQ(artifacts_->VerifyUrl(t, ArtifactOp::kRead).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_FALSE(artifacts_->SignUrl(m.id, ArtifactOp::kRead, absl::Hours(48)).ok());
  EXPECT_FALSE(artifacts_->SignUrl(m.id, ArtifactOp::kRead, absl::ZeroDuration()).ok());
  EXPECT_EQ(artifacts_->SignUrl(NewId(), ArtifactOp::kRead, absl::Minutes(1)).status().code(),
            absl::StatusCode::kNotFound);
  // A token for a deleted artifact stops working.
  std::string t2 = artifacts_->SignUrl(m.id, ArtifactOp::kRead, absl::Minutes(5)).value();
  ASSERT_TRUE(artifacts_->Delete(m.id).ok());
  EXPECT_FALSE(artifacts_->VerifyUrl(t2, ArtifactOp::kRead).ok());
}

TEST_F(ArtifactStoreTest, OldContentKeysStayReadableThroughLookup) {
  auto m = artifacts_->Put(Info(), "old key content").value();
  SecretBytes v2 = SecretBytes::Random(32);
  ArtifactStoreOptions o = options_;
  o.content_key = &v2;
  o.content_key_version = 2;
  o.key_lookup = [&](uint32_t v) -> absl::StatusOr<const SecretBytes*> {
    if (v == 1) return &content_key_;
    if (v == 2) return &v2;
    return absl::NotFoundError("retired");
  };
  auto rotated = ArtifactStore::Open(o).value();
  EXPECT_EQ(*rotated->ReadAll(m.id), "old key content");
  auto n = rotated->Put(Info("new"), "new key content").value();
  EXPECT_EQ(*rotated->ReadAll(n.id), "new key content");
  // The store that only knows key 1 cannot read key-2 content.
  EXPECT_FALSE(artifacts_->ReadAll(n.id).ok());
}

TEST_F(ArtifactStoreTest, ListByOwnerWithPagination) {
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(artifacts_->Put(Info(absl::StrCat(i)), absl::StrCat("c", i)).ok());
  ASSERT_TRUE(artifacts_->Put(Info("b", "user:bob"), "bob").ok());
  auto p1 = artifacts_->List("user:alice", "", 3).value();
  ASSERT_EQ(p1.artifacts.size(), 3u);
  auto p2 = artifacts_->List("user:alice", p1.next_page_token, 3).value();
  EXPECT_EQ(p2.artifacts.size(), 2u);
  EXPECT_TRUE(p2.next_page_token.empty());
  EXPECT_EQ(artifacts_->List("", "", 100).value().artifacts.size(), 6u);
}

TEST_F(ArtifactStoreTest, ConcurrentUploadsKeepUsageExact) {
  std::vector<std::thread> ts;
  for (int t = 0; t < 8; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        ASSERT_TRUE(
            artifacts_->Put(Info(absl::StrCat(t, "-", i)), absl::StrCat("payload", t, "-", i))
                .ok());
      }
    });
  }
  for (auto& t : ts) t.join();
  uint64_t expect = 0;
  for (int t = 0; t < 8; ++t) {
    for (int i = 0; i < 10; ++i) expect += absl::StrCat("payload", t, "-", i).size();
  }
  EXPECT_EQ(*artifacts_->Usage("user:alice"), expect);
  EXPECT_EQ(artifacts_->List("user:alice", "", 1000).value().artifacts.size(), 80u);
}

TEST_F(ArtifactStoreTest, CorruptUsageRecordIsDataLossAndLeavesNothing) {
  ASSERT_TRUE(store_->Put("artifact_usage", "user:alice", "not-a-number").ok());
  EXPECT_EQ(artifacts_->Usage("user:alice").status().code(), absl::StatusCode::kDataLoss);
  auto w = artifacts_->NewWriter(Info());
  EXPECT_EQ(w.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(BlobCount(), 0u);
  EXPECT_TRUE(artifacts_->List("", "").value().artifacts.empty());
}

TEST(ArtifactOptionsTest, RejectsMissingKeys) {
  auto store = OpenStore("memory:").value();
  auto blobs = OpenBlobStore("memory:").value();
  ArtifactStoreOptions o;
  o.store = store.get();
  o.blobs = blobs.get();
  EXPECT_EQ(ArtifactStore::Open(o).status().code(), absl::StatusCode::kInvalidArgument);
  SecretBytes short_key = SecretBytes::Random(16);
  o.content_key = &short_key;
  o.url_key = &short_key;
  EXPECT_EQ(ArtifactStore::Open(o).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kos
