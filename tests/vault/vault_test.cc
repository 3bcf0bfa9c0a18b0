#include "kos/vault.h"

#include <sys/stat.h>

#include <memory>
#include <set>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "testing/test_util.h"
#include "vault/vault_test_util.h"

namespace kos {
namespace {

using absl::StatusCode;
using ::kos::testing::RecordingAuditSink;
using ::kos::testing::TempDir;

// Runs every case on memory: and on a SQLite file.
class VaultTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "memory") {
      uri_ = "memory:";
    } else {
      uri_ = "sqlite:" + dir_.File("kos.db");
    }
    StoreOptions so;
    so.clock = &clock_;
    auto store = OpenStore(uri_, so);
    if (!store.ok() && store.status().code() == absl::StatusCode::kUnimplemented) {
      GTEST_SKIP() << "store backend not available yet: " << store.status();
    }
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    vault_ = OpenVault();
    ASSERT_NE(vault_, nullptr);
  }

  VaultOptions Options() {
    VaultOptions o;
    o.store = store_.get();
    o.audit = &audit_;
    o.clock = &clock_;
    o.master_key = &master_;
    o.master_key_env = "";
    return o;
  }

  std::unique_ptr<Vault> OpenVault() {
    auto v = Vault::Open(Options());
    EXPECT_TRUE(v.ok()) << v.status();
    return v.ok() ? std::move(*v) : nullptr;
  }

  std::string Value(absl::string_view path, uint64_t version = 0) {
    auto s = vault_->Get("alice", path, version);
    if (!s.ok()) return absl::StrCat("<", s.status().ToString(), ">");
    return std::string(s->value.view());
  }

  // Keyring version of the data key of `path` at `version`, read raw.
  uint32_t WrappedWith(absl::string_view path, uint64_t version) {
    auto rec = store_->Get("vault_data", absl::StrFormat("%s@%020d", path, version));
    EXPECT_TRUE(rec.ok()) << rec.status();
    auto j = ParseJson(rec->value);
    auto blob = Base64UrlDecode((*j)["dek"].get<std::string>());
    return ParseSealedHeader(*blob)->key_version;
  }

  TempDir dir_;
  std::string uri_;
  FakeClock clock_;
  RecordingAuditSink audit_;
  SecretBytes master_ = SecretBytes::Random(32);
  std::unique_ptr<Store> store_;
  std::unique_ptr<Vault> vault_;
};

TEST_P(VaultTest, VersionsAndMetadata) {
  auto v1 = vault_->Put("alice", "kv/team/openai", "sk-one");
  ASSERT_TRUE(v1.ok()) << v1.status();
  EXPECT_EQ(*v1, 1u);
  clock_.Advance(absl::Seconds(5));
  EXPECT_EQ(*vault_->Put("alice", "kv/team/openai", "sk-two"), 2u);
  EXPECT_EQ(Value("kv/team/openai"), "sk-two");
  EXPECT_EQ(Value("kv/team/openai", 1), "sk-one");
  EXPECT_EQ(vault_->Get("alice", "kv/team/openai", 3).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(vault_->Get("alice", "kv/team/none").status().code(), StatusCode::kNotFound);
  auto s = vault_->Get("alice", "kv/team/openai");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->version, 2u);
  EXPECT_EQ(s->created, clock_.Now());

  auto md = vault_->GetMetadata("alice", "kv/team/openai");
  ASSERT_TRUE(md.ok()) << md.status();
  EXPECT_EQ(md->current_version, 2u);
  EXPECT_EQ(md->oldest_version, 1u);
  EXPECT_EQ(md->created + absl::Seconds(5), md->updated);
  ASSERT_EQ(md->versions.size(), 2u);
  KOS_ASSERT_OK(vault_->UpdateMetadata(
      "alice", "kv/team/openai",
      {std::nullopt, std::map<std::string, std::string>{{"owner", "ml-team"}}}));
  EXPECT_EQ(vault_->GetMetadata("alice", "kv/team/openai")->custom_metadata.at("owner"), "ml-team");

  // JSON helper.
  ASSERT_TRUE(vault_->PutJson("alice", "kv/team/db", Json{{"user", "u"}, {"pw", "p"}}).ok());
  EXPECT_EQ((*vault_->GetJson("alice", "kv/team/db"))["pw"], "p");
  EXPECT_EQ(vault_->GetJson("alice", "kv/team/openai").status().code(),
            StatusCode::kInvalidArgument);
}

TEST_P(VaultTest, CheckAndSet) {
  VaultPutOptions cas0{0};
  EXPECT_EQ(*vault_->Put("alice", "kv/a", "first", cas0), 1u);
  auto again = vault_->Put("alice", "kv/a", "second", cas0);
  EXPECT_EQ(again.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(again.status().message(), "current version is 1"));
  EXPECT_EQ(vault_->Put("alice", "kv/a", "x", VaultPutOptions{5}).status().code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(*vault_->Put("alice", "kv/a", "second", VaultPutOptions{1}), 2u);
  EXPECT_EQ(Value("kv/a"), "second");
  EXPECT_EQ(vault_->GetMetadata("alice", "kv/a")->current_version, 2u);
}

TEST_P(VaultTest, MaxVersionsPrunesOldest) {
  KOS_ASSERT_OK(vault_->UpdateMetadata("alice", "kv/p", {3u, std::nullopt}));
  for (int i = 1; i <= 5; ++i) ASSERT_TRUE(vault_->Put("alice", "kv/p", absl::StrCat("v", i)).ok());
  auto md = vault_->GetMetadata("alice", "kv/p");
  EXPECT_EQ(md->oldest_version, 3u);
  EXPECT_EQ(md->current_version, 5u);
  EXPECT_EQ(md->versions.size(), 3u);
  EXPECT_EQ(vault_->Get("alice", "kv/p", 2).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(Value("kv/p", 3), "v3");
  ScanOptions so;
  so.prefix = "kv/p@";
  EXPECT_EQ(store_->Scan("vault_data", so)->records.size(), 3u);  // ciphertexts really gone
  // Lowering max_versions prunes immediately; the default (10) applies otherwise.
  KOS_ASSERT_OK(vault_->UpdateMetadata("alice", "kv/p", {1u, std::nullopt}));
  EXPECT_EQ(store_->Scan("vault_data", so)->records.size(), 1u);
  for (int i = 0; i < 12; ++i) ASSERT_TRUE(vault_->Put("alice", "kv/q", "x").ok());
  EXPECT_EQ(vault_->GetMetadata("alice", "kv/q")->versions.size(), 10u);
}

TEST_P(VaultTest, DeleteUndeleteDestroy) {
  ASSERT_TRUE(vault_->Put("alice", "kv/d", "one").ok());
  ASSERT_TRUE(vault_->Put("alice", "kv/d", "two").ok());
  KOS_ASSERT_OK(vault_->Delete("alice", "kv/d"));
  auto deleted = vault_->Get("alice", "kv/d");
  EXPECT_EQ(deleted.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(absl::StrContains(deleted.status().message(), "deleted"));
  EXPECT_EQ(Value("kv/d", 1), "one");
  EXPECT_TRUE(vault_->GetMetadata("alice", "kv/d")->versions[1].deletion_time.has_value());
  KOS_ASSERT_OK(vault_->Undelete("alice", "kv/d", {2}));
  EXPECT_EQ(Value("kv/d"), "two");

  KOS_ASSERT_OK(vault_->Destroy("alice", "kv/d", {1}));
  auto destroyed = vault_->Get("alice", "kv/d", 1);
  EXPECT_EQ(destroyed.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(absl::StrContains(destroyed.status().message(), "destroyed"));
  EXPECT_EQ(store_->Get("vault_data", absl::StrFormat("kv/d@%020d", 1)).status().code(),
            StatusCode::kNotFound);
  EXPECT_EQ(vault_->Undelete("alice", "kv/d", {1}).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(vault_->Destroy("alice", "kv/d", {9}).code(), StatusCode::kNotFound);
  EXPECT_EQ(Value("kv/d"), "two");

  KOS_ASSERT_OK(vault_->DeleteMetadata("alice", "kv/d"));
  EXPECT_EQ(vault_->GetMetadata("alice", "kv/d").status().code(), StatusCode::kNotFound);
  ScanOptions so;
  so.prefix = "kv/d@";
  EXPECT_TRUE(store_->Scan("vault_data", so)->records.empty());
}

TEST_P(VaultTest, ListByPrefix) {
  for (const char* p : {"kv/team/a", "kv/team/b", "kv/other/c", "app/x"}) {
    ASSERT_TRUE(vault_->Put("alice", p, "v").ok());
  }
  EXPECT_EQ(*vault_->List("alice", "kv/team/"),
            (std::vector<std::string>{"kv/team/a", "kv/team/b"}));
  EXPECT_EQ(vault_->List("alice", "")->size(), 4u);
  EXPECT_EQ(vault_->List("alice", "kv/")->size(), 3u);
  EXPECT_EQ(vault_->List("alice", "kv/*").status().code(), StatusCode::kInvalidArgument);
}

TEST_P(VaultTest, RotationRewrapAndMinDecryptionVersion) {
  for (int i = 0; i < 7; ++i)
    ASSERT_TRUE(vault_->Put("alice", absl::StrCat("kv/r", i), "old").ok());
  EXPECT_EQ(*vault_->Rotate("admin"), 2u);
  ASSERT_TRUE(vault_->Put("alice", "kv/new", "new").ok());
  EXPECT_EQ(WrappedWith("kv/r0", 1), 1u);
  EXPECT_EQ(WrappedWith("kv/new", 1), 2u);

  // Retiring version 1 before rewrapping: old secrets fail clearly.
  KOS_ASSERT_OK(vault_->SetMinDecryptionVersion("admin", 2));
  auto retired = vault_->Get("alice", "kv/r0");
  EXPECT_EQ(retired.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(retired.status().message(), "retired")) << retired.status();
  EXPECT_EQ(Value("kv/new"), "new");
  EXPECT_EQ(vault_->RewrapAll("admin", 100).status().code(), StatusCode::kFailedPrecondition);
  KOS_ASSERT_OK(vault_->SetMinDecryptionVersion("admin", 1));

  // Resumable batches of 3.
  std::string token;
  size_t rewrapped = 0, calls = 0;
  do {
    auto r = vault_->RewrapAll("admin", 3, token);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_LE(r->scanned, 3u);
    rewrapped += r->rewrapped;
    token = r->resume_token;
    ++calls;
  } while (!token.empty() && calls < 10);
  EXPECT_EQ(rewrapped, 7u);
  EXPECT_EQ(calls, 3u);
  for (int i = 0; i < 7; ++i) EXPECT_EQ(WrappedWith(absl::StrCat("kv/r", i), 1), 2u);
  EXPECT_EQ(vault_->RewrapAll("admin", 100)->rewrapped, 0u);  // idempotent

  KOS_ASSERT_OK(vault_->SetMinDecryptionVersion("admin", 2));
  EXPECT_EQ(Value("kv/r0"), "old");
  auto info = vault_->GetKeyringInfo("admin");
  EXPECT_EQ(info->current_version, 2u);
  EXPECT_EQ(info->min_decryption_version, 2u);
  EXPECT_EQ(vault_->SetMinDecryptionVersion("admin", 3).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(vault_->SetMinDecryptionVersion("admin", 0).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(vault_->RewrapAll("admin", 0).status().code(), StatusCode::kInvalidArgument);

  // A second Vault on the same store sees the rotation.
  auto other = OpenVault();
  EXPECT_EQ(other->GetKeyringInfo("bob")->current_version, 2u);
  EXPECT_EQ(*other->Rotate("admin"), 3u);
  ASSERT_TRUE(other->Put("bob", "kv/by-other", "x").ok());
  EXPECT_EQ(Value("kv/by-other"), "x");  // vault_ reloads to find key version 3
}

TEST_P(VaultTest, TransitRoundTripRotationAndTampering) {
  KOS_ASSERT_OK(vault_->CreateTransitKey("admin", "payments"));
  EXPECT_EQ(vault_->CreateTransitKey("admin", "payments").code(), StatusCode::kAlreadyExists);
  auto ct1 = vault_->TransitEncrypt("svc", "payments", "4111-1111", "order-1");
  ASSERT_TRUE(ct1.ok()) << ct1.status();
  EXPECT_TRUE(absl::StartsWith(*ct1, "kos:v1:")) << *ct1;
  EXPECT_FALSE(absl::StrContains(*ct1, "4111"));
  EXPECT_EQ(vault_->TransitDecrypt("svc", "payments", *ct1, "order-1")->view(), "4111-1111");

  EXPECT_EQ(*vault_->RotateTransitKey("admin", "payments"), 2u);
  auto ct2 = vault_->TransitEncrypt("svc", "payments", "4111-1111", "order-1");
  EXPECT_TRUE(absl::StartsWith(*ct2, "kos:v2:"));
  EXPECT_EQ(vault_->TransitDecrypt("svc", "payments", *ct1, "order-1")->view(), "4111-1111");
  auto re = vault_->TransitRewrap("svc", "payments", *ct1, "order-1");
  ASSERT_TRUE(re.ok()) << re.status();
  EXPECT_TRUE(absl::StartsWith(*re, "kos:v2:"));
  KOS_ASSERT_OK(vault_->SetTransitMinDecryptionVersion("admin", "payments", 2));
  EXPECT_EQ(vault_->TransitDecrypt("svc", "payments", *ct1, "order-1").status().code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(vault_->TransitDecrypt("svc", "payments", *re, "order-1")->view(), "4111-1111");
  EXPECT_EQ(vault_->GetTransitKey("admin", "payments")->latest_version, 2u);

  // Tampering and misuse.
  EXPECT_EQ(vault_->TransitDecrypt("svc", "payments", *re, "order-2").status().code(),
            StatusCode::kUnauthenticated);
  std::string flipped = *re;
  flipped[flipped.size() - 5] = flipped[flipped.size() - 5] == 'A' ? 'B' : 'A';
  EXPECT_EQ(vault_->TransitDecrypt("svc", "payments", flipped, "order-1").status().code(),
            StatusCode::kUnauthenticated);
  std::string relabeled = *re;
  relabeled.replace(0, 7, "kos:v1:");
  EXPECT_EQ(vault_->TransitDecrypt("svc", "payments", relabeled, "order-1").status().code(),
            StatusCode::kInvalidArgument);
  for (const char* bad : {"", "kos:", "kos:v:AAAA", "kos:v2:", "kos:v2:!!!!", "vault:v1:AAAA",
                          "kos:v02:AAAA", "kos:v2:AAAA"}) {
    EXPECT_EQ(vault_->TransitDecrypt("svc", "payments", bad).status().code(),
              StatusCode::kInvalidArgument)
        << bad;
  }
  KOS_ASSERT_OK(vault_->CreateTransitKey("admin", "other"));
  std::string moved = *vault_->TransitEncrypt("svc", "other", "x");
  EXPECT_EQ(vault_->TransitDecrypt("svc", "payments", moved.replace(5, 1, "2")).status().code(),
            StatusCode::kInvalidArgument);
  // A v2 ciphertext of another key does not decrypt under "payments" (the
  // key name is bound in as associated data).
  ASSERT_TRUE(vault_->RotateTransitKey("admin", "other").ok());
  EXPECT_EQ(vault_->TransitDecrypt("svc", "payments", *vault_->TransitEncrypt("svc", "other", "x"))
                .status()
                .code(),
            StatusCode::kUnauthenticated);
  EXPECT_EQ(vault_->TransitEncrypt("svc", "missing", "x").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(vault_->CreateTransitKey("admin", "bad/name").code(), StatusCode::kInvalidArgument);
}

TEST_P(VaultTest, WrongMasterKeyIsAClearError) {
  ASSERT_TRUE(vault_->Put("alice", "kv/x", "secret").ok());
  SecretBytes other = SecretBytes::Random(32);
  VaultOptions o = Options();
  o.master_key = &other;
  auto v = Vault::Open(o);
  EXPECT_EQ(v.status().code(), StatusCode::kUnauthenticated);
  EXPECT_TRUE(absl::StrContains(v.status().message(), "master key does not match"));
  // No key at all for an existing vault.
  o.master_key = nullptr;
  o.development_mode = true;
  EXPECT_EQ(Vault::Open(o).status().code(), StatusCode::kFailedPrecondition);
}

TEST_P(VaultTest, CiphertextMovedOrCorruptedIsDataLoss) {
  ASSERT_TRUE(vault_->Put("alice", "kv/a", "value-a").ok());
  ASSERT_TRUE(vault_->Put("alice", "kv/b", "value-b").ok());
  const std::string ka = absl::StrFormat("kv/a@%020d", 1), kb = absl::StrFormat("kv/b@%020d", 1);
  auto rec_a = store_->Get("vault_data", ka);
  ASSERT_TRUE(store_->Put("vault_data", kb, rec_a->value).ok());
  auto moved = vault_->Get("alice", "kv/b");
  EXPECT_EQ(moved.status().code(), StatusCode::kDataLoss) << moved.status();
  ASSERT_TRUE(store_->Put("vault_data", ka, "{not json").ok());
  EXPECT_EQ(vault_->Get("alice", "kv/a").status().code(), StatusCode::kDataLoss);
  // Flip one byte of the value ciphertext.
  ASSERT_TRUE(vault_->Put("alice", "kv/c", "value-c").ok());
  const std::string kc = absl::StrFormat("kv/c@%020d", 1);
  auto j = *ParseJson(store_->Get("vault_data", kc)->value);
  std::string ct = *Base64UrlDecode(j["ct"].get<std::string>());
  ct[ct.size() - 1] ^= 1;
  j["ct"] = Base64UrlEncode(ct);
  ASSERT_TRUE(store_->Put("vault_data", kc, DumpJson(j)).ok());
  EXPECT_EQ(vault_->Get("alice", "kv/c").status().code(), StatusCode::kDataLoss);
}

TEST_P(VaultTest, BadPathsAndOversizeValues) {
  for (const char* bad : {"", "/kv/a", "kv/a/", "kv//a", "kv/../a", "kv/./a", "kv/a b", "kv/a@1",
                          "kv/\xc3\xa9", "kv/a\n"}) {
    auto r = vault_->Put("alice", bad, "v");
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(vault_->Get("alice", bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_EQ(vault_->Put("alice", std::string(300, 'a'), "v").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(vault_->Put("alice", "kv/" + std::string(65, 'a'), "v").status().code(),
            StatusCode::kInvalidArgument);
  KOS_EXPECT_OK(ValidateSecretPath("kv/team/openai"));
  KOS_EXPECT_OK(ValidateSecretPath("a.b/c-d/e_f"));

  const std::string big(Options().max_value_bytes + 1, 'S');
  auto r = vault_->Put("alice", "kv/big", big);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(absl::StrContains(r.status().message(), "SSSS"));
  EXPECT_TRUE(vault_->Put("alice", "kv/big", big.substr(1)).ok());
  EXPECT_EQ(vault_->Put("", "kv/x", "v").status().code(), StatusCode::kInvalidArgument);
}

TEST_P(VaultTest, EveryAccessIsAuditedWithoutValues) {
  audit_.Clear();
  ASSERT_TRUE(vault_->Put("alice", "kv/audited", "TOPSECRETVALUE").ok());
  ASSERT_TRUE(vault_->Get("bob", "kv/audited").ok());
  EXPECT_FALSE(vault_->Get("bob", "kv/missing").ok());
  auto events = audit_.events();
  ASSERT_EQ(events.size(), 6u);
  EXPECT_EQ(events[0].action, "vault.kv.put");
  EXPECT_EQ(events[0].outcome, "request");
  EXPECT_EQ(events[1].outcome, "ok");
  EXPECT_EQ(events[1].actor, "alice");
  EXPECT_EQ(events[1].resource, "kv/audited");
  EXPECT_EQ(events[1].fields.at("version"), "1");
  EXPECT_EQ(events[3].action, "vault.kv.get");
  EXPECT_EQ(events[3].actor, "bob");
  EXPECT_EQ(events[5].outcome, "NOT_FOUND");
  EXPECT_EQ(events[5].time, clock_.Now());
  for (const AuditEvent& e : events) {
    EXPECT_FALSE(absl::StrContains(e.resource, "TOPSECRET"));
    for (const auto& [k, v] : e.fields) EXPECT_FALSE(absl::StrContains(v, "TOPSECRET"));
  }
}

TEST_P(VaultTest, AuditFailureFailsClosed) {
  ASSERT_TRUE(vault_->Put("alice", "kv/f", "v1").ok());
  audit_.FailRequests(true);
  auto put = vault_->Put("alice", "kv/f", "v2");
  EXPECT_EQ(put.status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(put.status().message(), "not performed"));
  EXPECT_EQ(vault_->Get("alice", "kv/f").status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(vault_->Rotate("admin").status().code(), StatusCode::kUnavailable);
  audit_.FailRequests(false);
  EXPECT_EQ(vault_->GetMetadata("alice", "kv/f")->current_version, 1u);  // nothing written
  EXPECT_EQ(vault_->GetKeyringInfo("admin")->current_version, 1u);

  audit_.FailOutcomes(true);
  auto get = vault_->Get("alice", "kv/f");
  EXPECT_EQ(get.status().code(), StatusCode::kUnavailable);  // value withheld
  EXPECT_TRUE(absl::StrContains(get.status().message(), "withheld"));
  audit_.FailOutcomes(false);
}

TEST_P(VaultTest, ConcurrentWritersGetDistinctVersions) {
  constexpr int kThreads = 4, kPuts = 25;
  std::vector<std::thread> threads;
  std::vector<std::vector<uint64_t>> got(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPuts; ++i) {
        auto v = vault_->Put(absl::StrCat("writer", t), "kv/hot", absl::StrCat(t, ":", i));
        ASSERT_TRUE(v.ok()) << v.status();
        got[t].push_back(*v);
      }
    });
  }
  for (auto& th : threads) th.join();
  std::set<uint64_t> all;
  for (const auto& g : got) all.insert(g.begin(), g.end());
  EXPECT_EQ(all.size(), static_cast<size_t>(kThreads * kPuts));
  EXPECT_EQ(vault_->GetMetadata("alice", "kv/hot")->current_version,
            static_cast<uint64_t>(kThreads * kPuts));
  // Destroyed versions are pruned cleanly later.
  KOS_ASSERT_OK(vault_->Destroy("alice", "kv/hot", {91, 92}));
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(vault_->Put("alice", "kv/hot", "x").ok());
  EXPECT_EQ(vault_->GetMetadata("alice", "kv/hot")->oldest_version, 101u);
}

INSTANTIATE_TEST_SUITE_P(Backends, VaultTest, ::testing::Values("memory", "sqlite"),
                         [](const auto& info) { return info.param; });

// ---- Master key sources (memory store only).

class VaultMasterKeyTest : public ::testing::Test {
 protected:
  VaultOptions Options() {
    VaultOptions o;
    o.store = store_.get();
    o.audit = &audit_;
    o.master_key_env = "";
    return o;
  }
  void WriteFile(const std::string& path, const std::string& text, mode_t mode) {
    FILE* f = fopen(path.c_str(), "w");
    ASSERT_NE(f, nullptr);
    fputs(text.c_str(), f);
    fclose(f);
    chmod(path.c_str(), mode);
  }
  TempDir dir_;
  RecordingAuditSink audit_;
  std::unique_ptr<Store> store_ = *OpenStore("memory:");
};

TEST_F(VaultMasterKeyTest, NoKeyOutsideDevelopmentModeFails) {
  auto v = Vault::Open(Options());
  EXPECT_EQ(v.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(v.status().message(), "no vault master key"));
  VaultOptions o = Options();
  o.store = nullptr;
  EXPECT_EQ(Vault::Open(o).status().code(), StatusCode::kInvalidArgument);
  o = Options();
  o.audit = nullptr;
  EXPECT_EQ(Vault::Open(o).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(VaultMasterKeyTest, EnvironmentVariable) {
  const std::string key_b64 = Base64UrlEncode(RandomBytes(32));
  setenv("KOS_TEST_VAULT_KEY", key_b64.c_str(), 1);
  VaultOptions o = Options();
  o.master_key_env = "KOS_TEST_VAULT_KEY";
  auto v = Vault::Open(o);
  ASSERT_TRUE(v.ok()) << v.status();
  ASSERT_TRUE((*v)->Put("a", "kv/x", "1").ok());
  setenv("KOS_TEST_VAULT_KEY", "not-base64!", 1);
  auto bad = Vault::Open(o);
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(absl::StrContains(bad.status().message(), "not-base64"));
  setenv("KOS_TEST_VAULT_KEY", Base64UrlEncode(RandomBytes(16)).c_str(), 1);
  EXPECT_EQ(Vault::Open(o).status().code(), StatusCode::kInvalidArgument);
  unsetenv("KOS_TEST_VAULT_KEY");
}

TEST_F(VaultMasterKeyTest, KeyFileMustBePrivate) {
  const std::string path = dir_.File("master.key");
  WriteFile(path, Base64UrlEncode(RandomBytes(32)) + "\n", 0644);
  VaultOptions o = Options();
  o.master_key_file = path;
  auto loose = Vault::Open(o);
  EXPECT_EQ(loose.status().code(), StatusCode::kPermissionDenied);
  EXPECT_TRUE(absl::StrContains(loose.status().message(), "chmod 600"));
  chmod(path.c_str(), 0600);
  auto v = Vault::Open(o);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_TRUE((*v)->Put("a", "kv/x", "1").ok());
}

TEST_F(VaultMasterKeyTest, DevelopmentModeGeneratesKeyFileOnce) {
  const std::string path = dir_.File("dev.key");
  VaultOptions o = Options();
  o.master_key_file = path;
  o.development_mode = true;
  {
    auto v = Vault::Open(o);
    ASSERT_TRUE(v.ok()) << v.status();
    ASSERT_TRUE((*v)->Put("a", "kv/x", "dev-secret").ok());
  }
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto events = audit_.events();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events[0].action, "vault.master_key.generated");
  EXPECT_TRUE(absl::StrContains(events[0].fields.at("warning"), "development"));
  // The second start reads the generated key instead of making a new one.
  o.development_mode = false;
  auto again = Vault::Open(o);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)->Get("a", "kv/x")->value.view(), "dev-secret");
}

}  // namespace
}  // namespace kos
