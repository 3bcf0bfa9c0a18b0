#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "kos/audit.h"
#include "testing/test_util.h"

namespace kos {
namespace {

// Delegates to a real store; Commit fails while `fail_commit` is set.
class FailingStore : public Store {
 public:
  explicit FailingStore(Store* inner) : inner_(inner) {}
  std::atomic<bool> fail_commit{false};
  absl::StatusOr<Record> Get(absl::string_view c, absl::string_view k) override {
    return inner_->Get(c, k);
  }
  absl::StatusOr<std::vector<WriteResult>> Commit(const std::vector<WriteOp>& ops) override {
    if (fail_commit) return absl::UnavailableError("disk on fire");
    return inner_->Commit(ops);
  }
  absl::StatusOr<ScanPage> Scan(absl::string_view c, const ScanOptions& o) override {
    return inner_->Scan(c, o);
  }
  absl::StatusOr<std::vector<Change>> Changes(uint64_t after, size_t limit) override {
    return inner_->Changes(after, limit);
  }
  absl::StatusOr<uint64_t> LastSequence() override { return inner_->LastSequence(); }
  absl::StatusOr<size_t> PurgeExpired() override { return inner_->PurgeExpired(); }

 private:
  Store* inner_;
};

std::string Key(uint64_t seq) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "%020llu", static_cast<unsigned long long>(seq));
  return buf;
}

AuditEvent Event(const std::string& actor, const std::string& action, int i) {
  AuditEvent e;
  e.actor = actor;
  e.action = action;
  e.resource = absl::StrCat("kv/item-", i);
  e.outcome = "ok";
  e.fields["i"] = absl::StrCat(i);
  return e;
}

class AuditLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StoreOptions so;
    so.clock = &clock_;
    store_ = *OpenStore("memory:", so);
    log_ = Open(store_.get());
  }

  std::unique_ptr<AuditLog> Open(Store* store) {
    AuditLogOptions o;
    o.store = store;
    o.clock = &clock_;
    o.sensitive_fields = {"email", "ip"};
    o.hmac_key = &hmac_key_;
    auto log = AuditLog::Open(o);
    EXPECT_TRUE(log.ok()) << log.status();
    return *std::move(log);
  }

  void AppendN(int n) {
    for (int i = 1; i <= n; ++i) {
      auto seq =
          log_->Append(Event(i % 2 ? "alice" : "bob", i % 3 ? "vault.kv.get" : "vault.kv.put", i));
      ASSERT_TRUE(seq.ok()) << seq.status();
      ASSERT_EQ(*seq, static_cast<uint64_t>(i));
      clock_.Advance(absl::Seconds(1));
    }
  }

  void ExpectBrokenAt(uint64_t seq) {
    auto v = log_->VerifyChain();
    EXPECT_EQ(v.status().code(), absl::StatusCode::kDataLoss) << v.status();
    EXPECT_NE(v.status().message().find(absl::StrCat("at sequence ", seq, ":")), std::string::npos)
        << v.status();
  }

  FakeClock clock_;
  SecretBytes hmac_key_ = SecretBytes::CopyFrom("0123456789abcdef0123456789abcdef");
  std::unique_ptr<Store> store_;
  std::unique_ptr<AuditLog> log_;
};

TEST_F(AuditLogTest, AppendsChainAndVerifies) {
  EXPECT_EQ(*log_->VerifyChain(), 0u);  // empty chain is fine
  AppendN(10);
  EXPECT_EQ(*log_->VerifyChain(), 10u);
  auto page = log_->Query({});
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->entries.size(), 10u);
  for (size_t i = 1; i < page->entries.size(); ++i) {
    EXPECT_EQ(page->entries[i].prev, page->entries[i - 1].hash);
    EXPECT_EQ(page->entries[i].sequence, i + 1);
  }
  EXPECT_EQ(page->entries[0].event.resource, "kv/item-1");
  EXPECT_EQ(page->entries[0].event.time, absl::FromUnixSeconds(1700000000));
  // Stored under zero-padded keys as canonical JSON.
  auto rec = store_->Get("audit", Key(3));
  ASSERT_TRUE(rec.ok()) << rec.status();
  EXPECT_EQ(rec->value.front(), '{');
  EXPECT_NE(rec->value.find("\"seq\":3"), std::string::npos);
}

TEST_F(AuditLogTest, ImplementsAuditSink) {
  AuditSink* sink = log_.get();
  KOS_ASSERT_OK(sink->Record(Event("carol", "auth.login", 1)));
  EXPECT_EQ(log_->Query({})->entries.at(0).event.actor, "carol");
}

TEST_F(AuditLogTest, SensitiveFieldsAreHmacdNotStored) {
  AuditEvent e = Event("alice", "auth.login", 1);
  e.fields["email"] = "alice@example.com";
  e.fields["ip"] = "10.1.2.3";
  KOS_ASSERT_OK(log_->Append(e));
  auto rec = store_->Get("audit", Key(1));
  ASSERT_TRUE(rec.ok());
  EXPECT_EQ(rec->value.find("alice@example.com"), std::string::npos);
  EXPECT_EQ(rec->value.find("10.1.2.3"), std::string::npos);
  AuditEntry got = log_->Query({})->entries.at(0);
  EXPECT_EQ(got.event.fields.count("email"), 0u);
  EXPECT_EQ(got.event.fields.at("i"), "1");
  EXPECT_EQ(got.hmac_fields.at("email"), log_->SensitiveDigest("email", "alice@example.com"));
  EXPECT_NE(got.hmac_fields.at("email"), log_->SensitiveDigest("ip", "alice@example.com"));
  EXPECT_NE(got.hmac_fields.at("ip"), log_->SensitiveDigest("ip", "10.1.2.4"));
  AuditLogOptions o;
  o.store = store_.get();
  o.sensitive_fields = {"email"};
  EXPECT_EQ(AuditLog::Open(o).status().code(), absl::StatusCode::kInvalidArgument);  // no key
}

TEST_F(AuditLogTest, HostileStringsAreRecordedNotRefused) {
  AuditEvent e = Event("mallory\xff\xfe", "auth.login", 1);
  e.resource = std::string("a\0b", 3);
  e.fields["x\xc3"] = "\xed\xa0\x80";
  KOS_ASSERT_OK(log_->Append(e));
  EXPECT_EQ(*log_->VerifyChain(), 1u);
  EXPECT_EQ(log_->Query({})->entries.at(0).event.resource, std::string("a\0b", 3));
}

TEST_F(AuditLogTest, QueryFiltersByActorActionTimeAndPaginates) {
  AppendN(20);  // times 1700000000 + 0..19 s; odd i: alice
  AuditQuery q;
  q.actor = "alice";
  EXPECT_EQ(log_->Query(q)->entries.size(), 10u);
  q.action = "vault.kv.put";  // i % 3 == 0 and odd: 3, 9, 15
  auto page = log_->Query(q);
  ASSERT_EQ(page->entries.size(), 3u);
  EXPECT_EQ(page->entries[1].sequence, 9u);
  AuditQuery t;
  t.from = absl::FromUnixSeconds(1700000005);
  t.to = absl::FromUnixSeconds(1700000008);
  page = log_->Query(t);
  ASSERT_EQ(page->entries.size(), 3u);
  EXPECT_EQ(page->entries[0].sequence, 6u);
  // Pages of 3 over bob's 10 entries: 3 + 3 + 3 + 1, no duplicates, in order.
  AuditQuery p;
  p.actor = "bob";
  p.limit = 3;
  std::vector<uint64_t> seen;
  int pages = 0;
  do {
    auto got = log_->Query(p);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_LE(got->entries.size(), 3u);
    for (const auto& e : got->entries) seen.push_back(e.sequence);
    p.page_token = got->next_page_token;
    ASSERT_LT(++pages, 10);
  } while (!p.page_token.empty());
  ASSERT_EQ(seen.size(), 10u);
  for (size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], 2 * (i + 1));
  AuditQuery bad;
  bad.limit = 0;
  EXPECT_EQ(log_->Query(bad).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(AuditLogTest, DetectsOneAlteredByte) {
  AppendN(10);
  auto rec = *store_->Get("audit", Key(5));
  std::string v = rec.value;
  size_t at = v.find("kv/item-5");
  ASSERT_NE(at, std::string::npos);
  v[at + 3] ^= 1;  // "kv/jtem-5"
  KOS_ASSERT_OK(store_->Put("audit", Key(5), v));
  ExpectBrokenAt(5);
  // Every byte position is covered (a byte flip may break the JSON instead).
  for (size_t i = 0; i < rec.value.size(); i += 7) {
    std::string w = rec.value;
    w[i] ^= 0x01;
    KOS_ASSERT_OK(store_->Put("audit", Key(5), w));
    ExpectBrokenAt(5);
  }
  KOS_ASSERT_OK(store_->Put("audit", Key(5), rec.value));
  EXPECT_EQ(*log_->VerifyChain(), 10u);  // restored
}

TEST_F(AuditLogTest, DetectsRemovedRecord) {
  AppendN(10);
  KOS_ASSERT_OK(store_->Delete("audit", Key(4)));
  ExpectBrokenAt(4);
}

TEST_F(AuditLogTest, DetectsRemovedLastRecord) {
  AppendN(10);
  KOS_ASSERT_OK(store_->Delete("audit", Key(10)));
  ExpectBrokenAt(10);
}

TEST_F(AuditLogTest, DetectsSwappedRecords) {
  AppendN(10);
  std::string a = store_->Get("audit", Key(6))->value, b = store_->Get("audit", Key(7))->value;
  KOS_ASSERT_OK(store_->Put("audit", Key(6), b));
  KOS_ASSERT_OK(store_->Put("audit", Key(7), a));
  ExpectBrokenAt(6);
}

TEST_F(AuditLogTest, DetectsRemovedRecordWithRenumberedSuccessor) {
  // Moving record 5 into slot 4 (hiding 4) breaks the link at 4.
  AppendN(6);
  std::string five = store_->Get("audit", Key(5))->value;
  KOS_ASSERT_OK(store_->Put("audit", Key(4), five));
  ExpectBrokenAt(4);
}

TEST_F(AuditLogTest, FailedWriteIsReturnedToTheCaller) {
  FailingStore failing(store_.get());
  auto log = Open(&failing);
  KOS_ASSERT_OK(log->Append(Event("alice", "vault.kv.get", 1)));
  failing.fail_commit = true;
  auto r = log->Append(Event("alice", "vault.kv.get", 2));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(log->Record(Event("alice", "vault.kv.get", 3)).code(), absl::StatusCode::kUnavailable);
  failing.fail_commit = false;
  EXPECT_EQ(*log->Append(Event("alice", "vault.kv.get", 4)), 2u);
  EXPECT_EQ(*log->VerifyChain(), 2u);
}

TEST_F(AuditLogTest, ConcurrentAppendersFromTwoLogsNeverFork) {
  auto other = Open(store_.get());  // stands in for another process
  constexpr int kThreads = 4, kPerThread = 50;
  std::vector<std::thread> threads;
  std::mutex mu;
  std::set<uint64_t> seqs;
  std::atomic<int> errors{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      AuditLog* log = t % 2 ? other.get() : log_.get();
      for (int i = 0; i < kPerThread; ++i) {
        auto seq = log->Append(Event(absl::StrCat("agent-", t), "task.run", i));
        if (!seq.ok()) {
          errors.fetch_add(1);
          continue;
        }
        std::lock_guard<std::mutex> l(mu);
        seqs.insert(*seq);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(seqs.size(), static_cast<size_t>(kThreads * kPerThread));
  EXPECT_EQ(*seqs.rbegin(), static_cast<uint64_t>(kThreads * kPerThread));
  EXPECT_EQ(*log_->VerifyChain(), static_cast<uint64_t>(kThreads * kPerThread));
}

// Two Store handles on one SQLite file stand in for two processes: the CAS on
// the head keeps the chain linear, and it survives reopening.
TEST(AuditLogSqliteTest, TwoHandlesAppendOneChainThatSurvivesReopen) {
  testing::TempDir dir;
  std::string uri = "sqlite://" + dir.File("audit.db");
  constexpr int kPerThread = 25;
  {
    std::unique_ptr<Store> stores[2] = {*OpenStore(uri), *OpenStore(uri)};
    std::unique_ptr<AuditLog> logs[2];
    for (int i = 0; i < 2; ++i) {
      AuditLogOptions o;
      o.store = stores[i].get();
      logs[i] = *AuditLog::Open(o);
    }
    std::atomic<int> errors{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 2; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i) {
          if (!logs[t]->Append(Event(absl::StrCat("p", t), "task.run", i)).ok()) errors++;
        }
      });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(errors.load(), 0);
  }
  auto store = *OpenStore(uri);
  AuditLogOptions o;
  o.store = store.get();
  auto log = *AuditLog::Open(o);
  auto n = log->VerifyChain();
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 2u * kPerThread);
}

}  // namespace
}  // namespace kos
