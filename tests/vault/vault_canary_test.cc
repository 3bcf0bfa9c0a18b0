// Canary test: secrets written through the vault must never reach the SQLite
// database, its WAL/SHM files or anything else on disk in plaintext (nor
// base64url-encoded plaintext).
#include <filesystem>
#include <iostream>
#include <memory>
#include <set>
#include <string>
#include <unordered_set>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "kos/vault.h"
#include "testing/test_util.h"
#include "vault/vault_test_util.h"

namespace kos {
namespace {

using ::kos::testing::RecordingAuditSink;
using ::kos::testing::TempDir;

// Counts windows of every file under `dir` that equal one of `needles`
// (all of length `len`), and also raw "KOSCANARY" markers.
size_t CountHits(const std::string& dir, const std::unordered_set<std::string>& needles, size_t len,
                 std::vector<std::string>* where) {
  size_t hits = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    const std::string data = ::kos::testing::ReadFileOrDie(entry.path().string());
    for (size_t i = 0; i + len <= data.size(); ++i) {
      if (needles.count(data.substr(i, len)) != 0) {
        ++hits;
        where->push_back(absl::StrCat(entry.path().filename().string(), "@", i));
      }
    }
    for (size_t p = data.find("KOSCANARY"); p != std::string::npos;
         p = data.find("KOSCANARY", p + 1)) {
      ++hits;
      where->push_back(absl::StrCat(entry.path().filename().string(), "@", p, " (marker)"));
    }
  }
  return hits;
}

TEST(VaultCanaryTest, NoPlaintextCanaryOnDisk) {
  TempDir dir;
  auto store = OpenStore("sqlite:" + dir.File("kos.db"));
  if (!store.ok() && store.status().code() == absl::StatusCode::kUnimplemented) {
    GTEST_SKIP() << "sqlite store not available: " << store.status();
  }
  ASSERT_TRUE(store.ok()) << store.status();
  RecordingAuditSink audit;
  VaultOptions o;
  o.store = store->get();
  o.audit = &audit;
  o.master_key_env = "";
  o.master_key_file = dir.File("master.key");
  o.development_mode = true;  // key file lives in the scanned directory too
  auto vault = Vault::Open(o);
  ASSERT_TRUE(vault.ok()) << vault.status();
  Vault& v = **vault;

  std::vector<std::string> canaries;
  auto canary = [&] {
    canaries.push_back(absl::StrCat("KOSCANARY-", absl::BytesToHexString(RandomBytes(16))));
    return canaries.back();
  };
  constexpr int kSecrets = 1000;
  for (int i = 0; i < kSecrets; ++i) {
    ASSERT_TRUE(v.Put("loader", absl::StrCat("kv/canary/", i), canary()).ok());
  }
  // Workload: reads, updates, rotation + rewrap, deletes, destroys, transit.
  for (int i = 0; i < kSecrets; i += 3) {
    auto s = v.Get("reader", absl::StrCat("kv/canary/", i));
    ASSERT_TRUE(s.ok()) << s.status();
    ASSERT_EQ(s->value.view(), canaries[i]);
  }
  for (int i = 0; i < 200; ++i)
    ASSERT_TRUE(v.Put("writer", absl::StrCat("kv/canary/", i), canary()).ok());
  ASSERT_TRUE(v.Rotate("admin").ok());
  std::string token;
  do {
    auto r = v.RewrapAll("admin", 250, token);
    ASSERT_TRUE(r.ok()) << r.status();
    token = r->resume_token;
  } while (!token.empty());
  ASSERT_TRUE(v.SetMinDecryptionVersion("admin", 2).ok());
  for (int i = 200; i < 300; ++i)
    ASSERT_TRUE(v.Delete("admin", absl::StrCat("kv/canary/", i)).ok());
  for (int i = 300; i < 350; ++i) {
    ASSERT_TRUE(v.Destroy("admin", absl::StrCat("kv/canary/", i), {1}).ok());
  }
  ASSERT_TRUE(v.CreateTransitKey("admin", "canary").ok());
  for (int i = 0; i < 50; ++i) {
    const std::string c = canary();
    auto ct = v.TransitEncrypt("svc", "canary", c);
    ASSERT_TRUE(ct.ok());
    // Callers store transit ciphertexts; do the same so they are scanned.
    ASSERT_TRUE((*store)->Put("app_data", absl::StrCat("row", i), *ct).ok());
    ASSERT_EQ(v.TransitDecrypt("svc", "canary", *ct)->view(), c);
  }
  ASSERT_EQ(v.Get("reader", "kv/canary/999")->value.view(), canaries[999]);

  std::unordered_set<std::string> plain(canaries.begin(), canaries.end());
  std::unordered_set<std::string> encoded;
  for (const auto& c : canaries) encoded.insert(Base64UrlEncode(c));
  const size_t plain_len = canaries[0].size(), enc_len = Base64UrlEncode(canaries[0]).size();

  auto list_files = [&](const char* when) {
    std::cout << "[canary] " << canaries.size() << " canaries; files " << when << ":";
    for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
      std::cout << " " << e.path().filename().string() << "(" << e.file_size() << "B)";
    }
    std::cout << std::endl;
  };
  // While open (WAL not yet checkpointed) and after closing.
  list_files("while open");
  std::vector<std::string> where;
  EXPECT_EQ(CountHits(dir.path(), plain, plain_len, &where), 0u);
  EXPECT_EQ(CountHits(dir.path(), encoded, enc_len, &where), 0u);
  vault->reset();
  store->reset();
  EXPECT_EQ(CountHits(dir.path(), plain, plain_len, &where), 0u);
  EXPECT_EQ(CountHits(dir.path(), encoded, enc_len, &where), 0u);
  for (size_t i = 0; i < where.size() && i < 10; ++i) ADD_FAILURE() << "canary at " << where[i];

  // The scan can find things: the same files do contain the (non-secret) paths.
  std::vector<std::string> unused;
  EXPECT_GT(CountHits(dir.path(), {"kv/canary/999"}, 13, &unused), 0u);
  list_files("after close");
}

}  // namespace
}  // namespace kos
