#include "kos/signed_task.h"

#include <atomic>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"
#include "kos/crypto.h"
#include "kos/jcs.h"
#include "testing/test_util.h"

namespace kos {
namespace {

Ed25519KeyPair TestKey(char fill) { return *Ed25519KeyPair::FromSeed(std::string(32, fill)); }

class SignedTaskTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StoreOptions so;
    so.clock = &clock_;
    store_ = *OpenStore("memory:", so);
    KeyRegistryOptions ko;
    ko.store = store_.get();
    ko.clock = &clock_;
    keys_ = *KeyRegistry::Open(ko);
    KOS_ASSERT_OK(keys_->AddKey("core-1", "kCore", key_.public_key()));
    signer_ = MakeSigner("core-1", "kCore", key_, &clock_);
    verifier_ = MakeVerifier("kExecutor");
  }

  std::unique_ptr<TaskSigner> MakeSigner(const std::string& kid, const std::string& iss,
                                         const Ed25519KeyPair& key, Clock* clock) {
    TaskSignerOptions o;
    o.issuer = iss;
    o.kid = kid;
    o.key_pair = &key;
    o.clock = clock;
    auto s = TaskSigner::Open(o);
    EXPECT_TRUE(s.ok()) << s.status();
    return *std::move(s);
  }

  std::unique_ptr<TaskVerifier> MakeVerifier(const std::string& audience, Store* store = nullptr) {
    TaskVerifierOptions o;
    o.keys = keys_.get();
    o.nonce_store = store ? store : store_.get();
    o.clock = &clock_;
    o.audience = audience;
    o.max_payload_bytes = 1024;
    auto v = TaskVerifier::Open(o);
    EXPECT_TRUE(v.ok()) << v.status();
    return *std::move(v);
  }

  SignedEnvelope Sign(Json payload = {{"op", "run"}, {"n", 1}},
                      const std::string& aud = "kExecutor") {
    TaskRequest r;
    r.audience = aud;
    r.payload = std::move(payload);
    auto e = signer_->Sign(r);
    EXPECT_TRUE(e.ok()) << e.status();
    return *std::move(e);
  }

  uint64_t Seq() { return *store_->LastSequence(); }

  // Verifies `text`, expects `code`, and checks nothing was written.
  void ExpectRefused(const std::string& text, absl::StatusCode code, const std::string& what) {
    uint64_t before = Seq();
    auto got = verifier_->Verify(text);
    EXPECT_EQ(got.status().code(), code) << what << ": " << got.status();
    EXPECT_FALSE(got.status().message().empty()) << what;
    EXPECT_EQ(Seq(), before) << what << ": the store changed";
  }

  FakeClock clock_;
  Ed25519KeyPair key_ = TestKey('k');
  std::unique_ptr<Store> store_;
  std::unique_ptr<KeyRegistry> keys_;
  std::unique_ptr<TaskSigner> signer_;
  std::unique_ptr<TaskVerifier> verifier_;
};

TEST_F(SignedTaskTest, SignedTaskVerifiesWithAllFields) {
  TaskRequest r;
  r.audience = "kExecutor";
  r.payload = {{"op", "run"}, {"args", {1, 2, "x"}}};
  r.task_id = "task-7";
  r.parent_task_id = "task-1";
  r.ttl = absl::Seconds(90);
  auto env = signer_->Sign(r);
  ASSERT_TRUE(env.ok()) << env.status();
  auto got = verifier_->Verify(env->text);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->kid, "core-1");
  EXPECT_EQ(got->issuer, "kCore");
  EXPECT_EQ(got->audience, "kExecutor");
  EXPECT_EQ(got->task_id, "task-7");
  EXPECT_EQ(got->parent_task_id, std::optional<std::string>("task-1"));
  EXPECT_EQ(got->issued_at, clock_.Now());
  EXPECT_EQ(got->expires_at, clock_.Now() + absl::Seconds(90));
  EXPECT_EQ(got->payload, r.payload);
  EXPECT_EQ(got->nonce, env->task.nonce);
  EXPECT_EQ(Base64UrlDecode(got->nonce)->size(), 16u);
}

TEST_F(SignedTaskTest, EnvelopeIsJcsAndSignatureCoversJcsWithoutSig) {
  SignedEnvelope env = Sign();
  EXPECT_EQ(*Canonicalize(env.text), env.text);
  Json doc = *ParseJson(env.text);
  EXPECT_EQ(doc["v"], 1);
  EXPECT_FALSE(doc.contains("parent"));
  EXPECT_EQ(doc["exp"].get<int64_t>() - doc["iat"].get<int64_t>(), 300);  // 5 min default
  std::string sig = *Base64UrlDecode(doc["sig"].get<std::string>());
  doc.erase("sig");
  KOS_EXPECT_OK(Ed25519Verify(key_.public_key(), *Canonicalize(doc), sig));
}

TEST_F(SignedTaskTest, DefaultTaskIdsAndNoncesAreUnique) {
  SignedEnvelope a = Sign(), b = Sign();
  EXPECT_NE(a.task.task_id, b.task.task_id);
  EXPECT_NE(a.task.nonce, b.task.nonce);
  EXPECT_TRUE(IsValidId(a.task.task_id));
}

TEST_F(SignedTaskTest, ReplayIsRefused) {
  SignedEnvelope env = Sign();
  KOS_ASSERT_OK(verifier_->Verify(env.text));
  auto again = verifier_->Verify(env.text);
  EXPECT_EQ(again.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(again.status().message().find("replay"), std::string::npos) << again.status();
  // A second verifier over the same store refuses it as well.
  EXPECT_EQ(MakeVerifier("kExecutor")->Verify(env.text).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(SignedTaskTest, NonceIsKeptUntilExpiryPlusSkewThenTaskIsExpired) {
  SignedEnvelope env = Sign();
  KOS_ASSERT_OK(verifier_->Verify(env.text));
  std::string key = absl::StrCat("core-1/", env.task.nonce);
  clock_.Advance(absl::Minutes(5) + absl::Seconds(29));
  KOS_EXPECT_OK(store_->Get("signed_task_nonces", key));
  EXPECT_EQ(verifier_->Verify(env.text).status().code(), absl::StatusCode::kUnauthenticated);
  clock_.Advance(absl::Seconds(2));
  EXPECT_TRUE(absl::IsNotFound(store_->Get("signed_task_nonces", key).status()));
  auto late = verifier_->Verify(env.text);
  EXPECT_EQ(late.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(late.status().message().find("expired"), std::string::npos) << late.status();
}

TEST_F(SignedTaskTest, ClockSkewIsToleratedBothWays) {
  FakeClock ahead(clock_.Now() + absl::Seconds(20));
  auto future_signer = MakeSigner("core-1", "kCore", key_, &ahead);
  TaskRequest r;
  r.audience = "kExecutor";
  KOS_EXPECT_OK(verifier_->Verify(future_signer->Sign(r)->text));
  SignedEnvelope env = Sign();
  clock_.Advance(absl::Minutes(5) + absl::Seconds(10));  // expired 10 s ago, skew 30 s
  KOS_EXPECT_OK(verifier_->Verify(env.text));
}

TEST_F(SignedTaskTest, HostileSignatureAndPayloadTampering) {
  SignedEnvelope env = Sign();
  Json doc = *ParseJson(env.text);
  {
    std::string sig = *Base64UrlDecode(doc["sig"].get<std::string>());
    for (int bit : {0, 7, 255, 511}) {
      std::string bad = sig;
      bad[bit / 8] ^= static_cast<char>(1 << (bit % 8));
      Json d = doc;
      d["sig"] = Base64UrlEncode(bad);
      ExpectRefused(DumpJson(d), absl::StatusCode::kUnauthenticated,
                    absl::StrCat("flipped signature bit ", bit));
    }
  }
  for (const char* field : {"op"}) {
    Json d = doc;
    d["payload"][field] = "rm -rf";
    ExpectRefused(DumpJson(d), absl::StatusCode::kUnauthenticated, "tampered payload");
  }
  {
    Json d = doc;
    d["payload"]["extra"] = true;
    ExpectRefused(DumpJson(d), absl::StatusCode::kUnauthenticated, "added payload member");
  }
  for (const char* field : {"tid", "aud", "iss"}) {
    Json d = doc;
    d[field] = std::string("kExecutor") == d[field].get<std::string>() ? "kOther" : "kExecutor2";
    ExpectRefused(DumpJson(d), absl::StatusCode::kUnauthenticated,
                  absl::StrCat("tampered ", field));
  }
  {
    Json d = doc;
    d["exp"] = d["exp"].get<int64_t>() + 3600;
    ExpectRefused(DumpJson(d), absl::StatusCode::kUnauthenticated, "extended exp");
  }
  {
    Json d = doc;
    d["parent"] = "task-0";
    ExpectRefused(DumpJson(d), absl::StatusCode::kUnauthenticated, "added parent");
  }
  // Whitespace and member order do not matter: the signature covers JCS.
  KOS_EXPECT_OK(verifier_->Verify(DumpJson(doc, 2)));
}

TEST_F(SignedTaskTest, HostileTimeAudienceAndKeys) {
  {
    SignedEnvelope env = Sign();
    clock_.Advance(absl::Minutes(6));
    ExpectRefused(env.text, absl::StatusCode::kUnauthenticated, "expired");
    clock_.Advance(-absl::Minutes(6));
  }
  {
    FakeClock ahead(clock_.Now() + absl::Seconds(31));
    TaskRequest r;
    r.audience = "kExecutor";
    ExpectRefused(MakeSigner("core-1", "kCore", key_, &ahead)->Sign(r)->text,
                  absl::StatusCode::kUnauthenticated, "not yet valid");
  }
  {
    TaskRequest r;
    r.audience = "kExecutor";
    r.ttl = absl::Hours(2);
    ExpectRefused(signer_->Sign(r)->text, absl::StatusCode::kUnauthenticated,
                  "lifetime beyond max");
  }
  ExpectRefused(Sign(Json::object(), "kReviewer").text, absl::StatusCode::kUnauthenticated,
                "wrong audience");
  Ed25519KeyPair other = TestKey('o');
  {
    TaskRequest r;
    r.audience = "kExecutor";
    ExpectRefused(MakeSigner("ghost-1", "kCore", other, &clock_)->Sign(r)->text,
                  absl::StatusCode::kUnauthenticated, "unknown kid");
  }
  // A registered kid used with a different private key.
  {
    TaskRequest r;
    r.audience = "kExecutor";
    ExpectRefused(MakeSigner("core-1", "kCore", other, &clock_)->Sign(r)->text,
                  absl::StatusCode::kUnauthenticated, "wrong private key");
  }
  // A key registered for another issuer cannot sign for kCore.
  KOS_ASSERT_OK(keys_->AddKey("planner-1", "kPlanner", other.public_key()));
  {
    TaskRequest r;
    r.audience = "kExecutor";
    ExpectRefused(MakeSigner("planner-1", "kCore", other, &clock_)->Sign(r)->text,
                  absl::StatusCode::kUnauthenticated, "issuer not the key's");
    KOS_EXPECT_OK(
        verifier_->Verify(MakeSigner("planner-1", "kPlanner", other, &clock_)->Sign(r)->text));
  }
  SignedEnvelope before_revoke = Sign();
  KOS_ASSERT_OK(keys_->Revoke("core-1"));
  ExpectRefused(before_revoke.text, absl::StatusCode::kUnauthenticated, "revoked key");
}

TEST_F(SignedTaskTest, HostileMalformedEnvelopes) {
  SignedEnvelope env = Sign();
  const std::string& text = env.text;
  ExpectRefused(text.substr(0, text.size() - 3), absl::StatusCode::kInvalidArgument, "truncated");
  ExpectRefused(text.substr(0, text.size() / 2), absl::StatusCode::kInvalidArgument, "half");
  ExpectRefused("", absl::StatusCode::kInvalidArgument, "empty");
  ExpectRefused("not json at all", absl::StatusCode::kInvalidArgument, "non-JSON");
  ExpectRefused("[1,2,3]", absl::StatusCode::kInvalidArgument, "array envelope");
  ExpectRefused("\"x\"", absl::StatusCode::kInvalidArgument, "string envelope");
  ExpectRefused(absl::StrCat("{\"aud\":\"kExecutor\",", text.substr(1)),
                absl::StatusCode::kInvalidArgument, "duplicate aud");
  ExpectRefused(absl::StrReplaceAll(text, {{"\"payload\":{", "\"payload\":{\"op\":\"x\","}}),
                absl::StatusCode::kInvalidArgument, "duplicate key inside payload");
  ExpectRefused(text + "\xff", absl::StatusCode::kInvalidArgument, "trailing garbage");

  Json doc = *ParseJson(text);
  for (const char* field :
       {"v", "kid", "iss", "aud", "tid", "nonce", "iat", "exp", "payload", "sig"}) {
    Json d = doc;
    d.erase(field);
    ExpectRefused(DumpJson(d), absl::StatusCode::kInvalidArgument, absl::StrCat("missing ", field));
  }
  struct Mutation {
    const char* field;
    Json value;
    const char* what;
  } mutations[] = {
      {"v", "1", "v as string"},
      {"v", 2, "unsupported version"},
      {"v", 1.5, "v as float"},
      {"kid", 7, "kid as number"},
      {"kid", "", "empty kid"},
      {"kid", "a/b", "kid with slash"},
      {"iss", nullptr, "iss null"},
      {"aud", Json::array({"kExecutor"}), "aud as array"},
      {"tid", Json::object(), "tid as object"},
      {"nonce", "AAAA", "short nonce"},
      {"nonce", "!!!!!!!!!!!!!!!!!!!!!!", "nonce not base64url"},
      {"nonce", 12, "nonce as number"},
      {"iat", "1700000000", "iat as string"},
      {"iat", 1700000000.5, "iat as float"},
      {"iat", -5, "negative iat"},
      {"exp", true, "exp as bool"},
      {"exp", 1, "exp before iat"},
      {"payload", Json::array({1}), "payload as array"},
      {"payload", "run", "payload as string"},
      {"parent", 3, "parent as number"},
      {"parent", "", "empty parent"},
      {"sig", "AAAA", "short sig"},
      {"sig", 5, "sig as number"},
      {"extra", "x", "unknown member"},
  };
  for (const Mutation& m : mutations) {
    Json d = doc;
    d[m.field] = m.value;
    ExpectRefused(DumpJson(d), absl::StatusCode::kInvalidArgument, m.what);
  }
  {
    std::string big_int = absl::StrReplaceAll(text, {{"\"n\":1", "\"n\":123456789012345678901"}});
    ASSERT_NE(big_int, text);
    ExpectRefused(big_int, absl::StatusCode::kInvalidArgument, "integer beyond 2^53 in payload");
  }
  // Still accepted afterwards: nothing above consumed the nonce.
  KOS_EXPECT_OK(verifier_->Verify(text));
}

TEST_F(SignedTaskTest, OversizePayloadIsRefused) {
  // Limit 1024 bytes of canonical payload.
  ExpectRefused(Sign({{"blob", std::string(1100, 'a')}}).text, absl::StatusCode::kInvalidArgument,
                "oversize payload");
  ExpectRefused(std::string(64 * 1024, ' ') + Sign().text, absl::StatusCode::kInvalidArgument,
                "oversize envelope text");
  KOS_EXPECT_OK(verifier_->Verify(Sign({{"blob", std::string(900, 'a')}}).text));
}

TEST_F(SignedTaskTest, SignerRejectsBadRequests) {
  TaskRequest r;
  r.audience = "";
  EXPECT_EQ(signer_->Sign(r).status().code(), absl::StatusCode::kInvalidArgument);
  r.audience = "kExecutor";
  r.payload = Json::array();
  EXPECT_EQ(signer_->Sign(r).status().code(), absl::StatusCode::kInvalidArgument);
  r.payload = {{"id", uint64_t{1} << 60}};
  EXPECT_EQ(signer_->Sign(r).status().code(), absl::StatusCode::kInvalidArgument);
  r.payload = {{"x", std::numeric_limits<double>::quiet_NaN()}};
  EXPECT_EQ(signer_->Sign(r).status().code(), absl::StatusCode::kInvalidArgument);
  TaskSignerOptions o;
  o.issuer = "kCore";
  o.kid = "k";
  EXPECT_EQ(TaskSigner::Open(o).status().code(), absl::StatusCode::kInvalidArgument);  // no key
  TaskVerifierOptions vo;
  EXPECT_EQ(TaskVerifier::Open(vo).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(SignedTaskTest, EightThreadsRacingCopiesAcceptEachTaskExactlyOnce) {
  constexpr int kTasks = 100, kCopies = 100, kThreads = 8;
  std::vector<std::string> envelopes;
  for (int i = 0; i < kTasks; ++i) envelopes.push_back(Sign({{"i", i}}).text);
  std::vector<std::atomic<int>> accepted(kTasks);
  std::atomic<int> other_errors{0};
  std::atomic<int> next{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      // Interleave: copy c of task i is job c * kTasks + i.
      for (int job; (job = next.fetch_add(1)) < kTasks * kCopies;) {
        int i = job % kTasks;
        auto got = verifier_->Verify(envelopes[i]);
        if (got.ok()) {
          accepted[i].fetch_add(1);
        } else if (got.status().code() != absl::StatusCode::kUnauthenticated) {
          other_errors.fetch_add(1);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(other_errors.load(), 0);
  for (int i = 0; i < kTasks; ++i) EXPECT_EQ(accepted[i].load(), 1) << "task " << i;
}

TEST(SignedTaskDurableTest, ReplayRefusedAfterReopeningSqliteStore) {
  testing::TempDir dir;
  FakeClock clock;
  StoreOptions so;
  so.clock = &clock;
  std::string uri = "sqlite://" + dir.File("kos.db");
  auto store = OpenStore(uri, so);
  ASSERT_TRUE(store.ok()) << store.status();
  Ed25519KeyPair key = TestKey('d');
  std::string envelope;
  auto make = [&](Store* s, std::unique_ptr<KeyRegistry>* keys) {
    KeyRegistryOptions ko;
    ko.store = s;
    ko.clock = &clock;
    *keys = *KeyRegistry::Open(ko);
    TaskVerifierOptions vo;
    vo.keys = keys->get();
    vo.nonce_store = s;
    vo.clock = &clock;
    vo.audience = "kExecutor";
    return *TaskVerifier::Open(vo);
  };
  {
    std::unique_ptr<KeyRegistry> keys;
    auto verifier = make(store->get(), &keys);
    KOS_ASSERT_OK(keys->AddKey("core-1", "kCore", key.public_key()));
    TaskSignerOptions o;
    o.issuer = "kCore";
    o.kid = "core-1";
    o.key_pair = &key;
    o.clock = &clock;
    TaskRequest r;
    r.audience = "kExecutor";
    envelope = (*TaskSigner::Open(o))->Sign(r)->text;
    KOS_ASSERT_OK(verifier->Verify(envelope));
  }
  store->reset();
  auto reopened = OpenStore(uri, so);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  std::unique_ptr<KeyRegistry> keys;
  auto verifier = make(reopened->get(), &keys);
  EXPECT_EQ(keys->Get("core-1")->issuer, "kCore");  // the registry persisted too
  auto again = verifier->Verify(envelope);
  EXPECT_EQ(again.status().code(), absl::StatusCode::kUnauthenticated) << again.status();
}

// Two Store handles on one SQLite file stand in for two processes.
TEST(SignedTaskDurableTest, TwoSqliteHandlesRacingAcceptEachTaskOnce) {
  testing::TempDir dir;
  FakeClock clock;
  StoreOptions so;
  so.clock = &clock;
  std::string uri = "sqlite://" + dir.File("kos.db");
  std::unique_ptr<Store> stores[2] = {*OpenStore(uri, so), *OpenStore(uri, so)};
  Ed25519KeyPair key = TestKey('p');
  std::unique_ptr<KeyRegistry> keys[2];
  std::unique_ptr<TaskVerifier> verifiers[2];
  for (int i = 0; i < 2; ++i) {
    KeyRegistryOptions ko;
    ko.store = stores[i].get();
    ko.clock = &clock;
    keys[i] = *KeyRegistry::Open(ko);
    TaskVerifierOptions vo;
    vo.keys = keys[i].get();
    vo.nonce_store = stores[i].get();
    vo.clock = &clock;
    vo.audience = "kExecutor";
    verifiers[i] = *TaskVerifier::Open(vo);
  }
  KOS_ASSERT_OK(keys[0]->AddKey("core-1", "kCore", key.public_key()));
  TaskSignerOptions o;
  o.issuer = "kCore";
  o.kid = "core-1";
  o.key_pair = &key;
  o.clock = &clock;
  auto signer = *TaskSigner::Open(o);
  constexpr int kTasks = 50, kCopies = 20, kThreads = 4;
  std::vector<std::string> envelopes;
  TaskRequest r;
  r.audience = "kExecutor";
  for (int i = 0; i < kTasks; ++i) envelopes.push_back(signer->Sign(r)->text);
  std::vector<std::atomic<int>> accepted(kTasks);
  std::atomic<int> other_errors{0}, next{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int job; (job = next.fetch_add(1)) < kTasks * kCopies;) {
        auto got = verifiers[t % 2]->Verify(envelopes[job % kTasks]);
        if (got.ok()) {
          accepted[job % kTasks].fetch_add(1);
        } else if (got.status().code() != absl::StatusCode::kUnauthenticated) {
          other_errors.fetch_add(1);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(other_errors.load(), 0);
  for (int i = 0; i < kTasks; ++i) EXPECT_EQ(accepted[i].load(), 1) << "task " << i;
}

TEST(KeyRegistryTest, AddRevokeListAndPersistence) {
  FakeClock clock;
  auto store = *OpenStore("memory:");
  KeyRegistryOptions ko;
  ko.store = store.get();
  ko.clock = &clock;
  auto reg = *KeyRegistry::Open(ko);
  Ed25519KeyPair a = TestKey('a'), b = TestKey('b');
  KOS_ASSERT_OK(reg->AddKey("a-1", "kCore", a.public_key()));
  KOS_ASSERT_OK(reg->AddKey("b-1", "kPlanner", b.public_key()));
  EXPECT_EQ(reg->AddKey("a-1", "kCore", b.public_key()).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(reg->AddKey("c-1", "kCore", "short").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(reg->AddKey("bad kid", "kCore", a.public_key()).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(reg->Get("a-1")->public_key, a.public_key());
  EXPECT_EQ(reg->List()->size(), 2u);
  ASSERT_EQ(reg->List("kPlanner")->size(), 1u);
  EXPECT_EQ((*reg->List("kPlanner"))[0].kid, "b-1");
  clock.Advance(absl::Hours(1));
  KOS_ASSERT_OK(reg->Revoke("a-1"));
  KOS_ASSERT_OK(reg->Revoke("a-1"));  // idempotent
  EXPECT_EQ(reg->Revoke("zzz").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(reg->Get("zzz").status().code(), absl::StatusCode::kNotFound);
  // Another registry over the same store sees the revocation.
  auto reg2 = *KeyRegistry::Open(ko);
  auto k = reg2->Get("a-1");
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_EQ(k->status, TrustedKeyStatus::kRevoked);
  EXPECT_EQ(k->revoked, clock.Now());
  // A revoked kid cannot be re-added with another key.
  EXPECT_EQ(reg2->AddKey("a-1", "kCore", b.public_key()).code(), absl::StatusCode::kAlreadyExists);
  // Corruption is reported, not trusted.
  KOS_ASSERT_OK(store->Put("signed_task_keys", "b-1", "{\"kid\":\"b-1\"}"));
  EXPECT_EQ(reg2->Get("b-1").status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace kos
