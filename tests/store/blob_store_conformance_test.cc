// One behavioural suite over every BlobStore backend (file: and memory:).
#include <filesystem>
#include <random>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kos/blob_store.h"
#include "testing/test_util.h"

namespace kos {
namespace {

using ::testing::ElementsAre;

class BlobStoreConformanceTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::string uri = GetParam() == "file" ? "file://" + dir_.File("blobs") : "memory:";
    auto b = OpenBlobStore(uri);
    ASSERT_TRUE(b.ok()) << b.status();
    blobs_ = std::move(*b);
  }

  // Files left in the file backend's temp area (0 for memory:).
  size_t TempFiles() {
    if (GetParam() != "file") return 0;
    size_t n = 0;
    for (auto& e : std::filesystem::directory_iterator(dir_.File("blobs/.tmp"))) {
      (void)e;
      ++n;
    }
    return n;
  }

  testing::TempDir dir_;
  std::unique_ptr<BlobStore> blobs_;
};

TEST_P(BlobStoreConformanceTest, StreamsLargeBlobsInAndOut) {
  std::string data(3 << 20, '\0');
  std::mt19937 rng(3);
  for (char& c : data) c = static_cast<char>(rng());
  auto w = blobs_->NewWriter("media/big.bin");
  ASSERT_TRUE(w.ok()) << w.status();
  for (size_t off = 0; off < data.size(); off += 65536) {
    KOS_ASSERT_OK((*w)->Append(absl::string_view(data).substr(off, 65536)));
  }
  EXPECT_EQ((*w)->BytesWritten(), data.size());
  KOS_ASSERT_OK((*w)->Commit());
  EXPECT_EQ((*w)->Append("more").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ((*w)->Commit().code(), absl::StatusCode::kFailedPrecondition);

  auto r = blobs_->NewReader("media/big.bin");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->Size(), data.size());
  std::string back;
  char buf[10000];
  for (;;) {
    auto n = (*r)->Read(buf, sizeof buf);
    ASSERT_TRUE(n.ok()) << n.status();
    if (*n == 0) break;
    back.append(buf, *n);
  }
  EXPECT_TRUE(back == data);
  EXPECT_EQ(*blobs_->Size("media/big.bin"), data.size());
}

TEST_P(BlobStoreConformanceTest, UncommittedWriterIsInvisibleAndLeavesNothing) {
  KOS_ASSERT_OK(blobs_->PutAll("doc", "old"));
  {
    auto w = blobs_->NewWriter("doc");
    ASSERT_TRUE(w.ok());
    KOS_ASSERT_OK((*w)->Append("new content"));
    auto w2 = blobs_->NewWriter("fresh");
    ASSERT_TRUE(w2.ok());
    KOS_ASSERT_OK((*w2)->Append("x"));
    EXPECT_EQ(*blobs_->GetAll("doc"), "old");
    EXPECT_FALSE(*blobs_->Exists("fresh"));
    EXPECT_EQ(blobs_->NewReader("fresh").status().code(), absl::StatusCode::kNotFound);
    EXPECT_THAT(*blobs_->List(""), ElementsAre("doc"));
  }  // both writers destroyed without Commit
  EXPECT_EQ(*blobs_->GetAll("doc"), "old");
  EXPECT_FALSE(*blobs_->Exists("fresh"));
  EXPECT_EQ(TempFiles(), 0u);

  auto w = blobs_->NewWriter("doc");
  KOS_ASSERT_OK((*w)->Append("replaced"));
  KOS_ASSERT_OK((*w)->Commit());
  EXPECT_EQ(*blobs_->GetAll("doc"), "replaced");
  EXPECT_EQ(TempFiles(), 0u);
}

TEST_P(BlobStoreConformanceTest, UnsafeKeysAreRejected) {
  for (std::string key :
       {std::string("../x"), std::string("/etc/passwd"), std::string("a//b"), std::string("a/./b"),
        std::string("a/.."), std::string("a/../../b"), std::string(""), std::string("."),
        std::string(".tmp/x"), std::string("a/"), std::string("a\\b"), std::string("a b"),
        std::string("a\0b", 3), std::string(513, 'k')}) {
    EXPECT_EQ(blobs_->NewWriter(key).status().code(), absl::StatusCode::kInvalidArgument) << key;
    EXPECT_EQ(blobs_->NewReader(key).status().code(), absl::StatusCode::kInvalidArgument) << key;
    EXPECT_EQ(blobs_->Delete(key).code(), absl::StatusCode::kInvalidArgument) << key;
    EXPECT_EQ(blobs_->Exists(key).status().code(), absl::StatusCode::kInvalidArgument) << key;
  }
  EXPECT_TRUE(blobs_->List("")->empty());
  if (GetParam() == "file") {
    EXPECT_FALSE(std::filesystem::exists(dir_.File("x")));
  }
}

TEST_P(BlobStoreConformanceTest, ListDeleteAndSize) {
  for (const char* k : {"b/2", "a/1", "a/2/deep", "c", "ab"}) KOS_ASSERT_OK(blobs_->PutAll(k, k));
  EXPECT_THAT(*blobs_->List(""), ElementsAre("a/1", "a/2/deep", "ab", "b/2", "c"));
  EXPECT_THAT(*blobs_->List("a/"), ElementsAre("a/1", "a/2/deep"));
  EXPECT_THAT(*blobs_->List("a"), ElementsAre("a/1", "a/2/deep", "ab"));
  EXPECT_TRUE(blobs_->List("zzz")->empty());
  EXPECT_EQ(*blobs_->Size("a/2/deep"), 8u);
  KOS_ASSERT_OK(blobs_->Delete("a/1"));
  EXPECT_EQ(blobs_->Delete("a/1").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(blobs_->Size("a/1").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(blobs_->GetAll("a/1").status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(*blobs_->List("a"), ElementsAre("a/2/deep", "ab"));
  KOS_ASSERT_OK(blobs_->PutAll("empty", ""));
  EXPECT_EQ(*blobs_->GetAll("empty"), "");
}

INSTANTIATE_TEST_SUITE_P(Backends, BlobStoreConformanceTest, ::testing::Values("file", "memory"),
                         [](const auto& info) { return info.param; });

TEST(OpenBlobStoreTest, RejectsUnknownSchemesAndUnwritableDirectories) {
  EXPECT_EQ(OpenBlobStore("s3://bucket").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OpenBlobStore("file:").status().code(), absl::StatusCode::kInvalidArgument);
  testing::TempDir dir;
  std::string blocker = dir.File("plain");
  FILE* f = fopen(blocker.c_str(), "w");
  ASSERT_NE(f, nullptr);
  fclose(f);
  auto b = OpenBlobStore("file://" + blocker + "/blobs");
  ASSERT_FALSE(b.ok());
  EXPECT_THAT(b.status().message(), ::testing::HasSubstr(blocker));
}

TEST(FileBlobStoreTest, ReopeningDropsAbandonedTempFiles) {
  testing::TempDir dir;
  std::string root = dir.File("blobs");
  {
    auto b = OpenBlobStore("file://" + root);
    ASSERT_TRUE(b.ok());
  }
  // As if a writer had crashed mid-upload.
  FILE* f = fopen((root + "/.tmp/orphan").c_str(), "w");
  ASSERT_NE(f, nullptr);
  fclose(f);
  auto b = OpenBlobStore("file://" + root);
  ASSERT_TRUE(b.ok());
  EXPECT_FALSE(std::filesystem::exists(root + "/.tmp/orphan"));
  EXPECT_TRUE((*b)->List("")->empty());
}

}  // namespace
}  // namespace kos
