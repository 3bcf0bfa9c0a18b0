// One behavioural suite run over every Store backend (RocksDB's
// env_basic_test is the model). PostgreSQL runs only when
// KOS_TEST_POSTGRES_URI is set.
#include <algorithm>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kos/clock.h"
#include "kos/store.h"
#include "testing/test_util.h"

namespace kos {
namespace {

using ::testing::HasSubstr;

struct Backend {
  std::string name;
  // Skips the test (with a reason) when the backend is not available here.
  const char* env_uri = nullptr;
  // False for servers that expire records by their own clock.
  bool honours_fake_clock = true;
};

// Printed in failure messages instead of the struct's bytes.
void PrintTo(const Backend& b, std::ostream* os) { *os << b.name; }

// GTEST_SKIP only leaves the function it is written in, so this is a macro.
#define KOS_SKIP_UNLESS_FAKE_CLOCK()                 \
  if (!GetParam().honours_fake_clock)                \
  GTEST_SKIP() << GetParam().name                    \
               << " expires keys by its own clock, " \
                  "not the injected FakeClock"

std::string RandomSuffix() {
  std::random_device rd;
  return absl::StrCat(absl::Hex((static_cast<uint64_t>(rd()) << 32) | rd()));
}

class StoreConformanceTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    options_.clock = &clock_;
    if (GetParam().env_uri != nullptr) {
      const char* uri = std::getenv(GetParam().env_uri);
      if (uri == nullptr || *uri == '\0') {
        GTEST_SKIP() << GetParam().name << " backend not tested: set " << GetParam().env_uri
                     << " to a test database URI to run it";
      }
      uri_ = uri;
      if (GetParam().name == "postgres") {
        // Sequence numbers are per schema: a schema per test keeps the feed
        // assertions exact while ctest runs other tests against the server.
        uri_ += absl::StrCat(uri_.find('?') == std::string::npos ? "?" : "&", "schema=kos_conf_",
                             RandomSuffix());
      }
    } else if (GetParam().name == "memory") {
      uri_ = "memory:";
    } else {
      uri_ = "sqlite://" + dir_.File("kos.db");
    }
    // Shared servers keep data between tests, so each test writes its own collections.
    col_ = "items-" + RandomSuffix();
    other_ = "other-" + RandomSuffix();
    Reopen();
  }

  void Reopen() {
    store_.reset();
    auto s = OpenStore(uri_, options_);
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = std::move(*s);
  }

  std::vector<std::string> Keys(const ScanPage& page) {
    std::vector<std::string> out;
    for (const Record& r : page.records) out.push_back(r.key);
    return out;
  }

  FakeClock clock_;
  StoreOptions options_;
  testing::TempDir dir_;
  std::string uri_, col_, other_;
  std::unique_ptr<Store> store_;
};

TEST_P(StoreConformanceTest, PutGetDeleteTracksVersions) {
  auto r1 = store_->Put(col_, "k", "v1");
  ASSERT_TRUE(r1.ok()) << r1.status();
  EXPECT_EQ(r1->version, 1u);
  auto r2 = store_->Put(col_, "k", "v2");
  ASSERT_TRUE(r2.ok()) << r2.status();
  EXPECT_EQ(r2->version, 2u);
  EXPECT_GT(r2->sequence, r1->sequence);

  auto got = store_->Get(col_, "k");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->collection, col_);
  EXPECT_EQ(got->key, "k");
  EXPECT_EQ(got->value, "v2");
  EXPECT_EQ(got->version, 2u);
  EXPECT_EQ(got->sequence, r2->sequence);
  EXPECT_EQ(got->updated, clock_.Now());
  EXPECT_EQ(got->expires, absl::InfiniteFuture());

  EXPECT_EQ(store_->Get(other_, "k").status().code(), absl::StatusCode::kNotFound);
  KOS_ASSERT_OK(store_->Delete(col_, "k"));
  EXPECT_EQ(store_->Get(col_, "k").status().code(), absl::StatusCode::kNotFound);
  // A new life starts again at version 1.
  auto r3 = store_->Put(col_, "k", "v3");
  ASSERT_TRUE(r3.ok());
  EXPECT_EQ(r3->version, 1u);
}

TEST_P(StoreConformanceTest, EmptyAndBinaryValuesAndKeysRoundTrip) {
  std::string key("a\0b\xff", 4);
  std::string value("\0\x01\xfe", 3);
  KOS_ASSERT_OK(store_->Put(col_, key, value));
  KOS_ASSERT_OK(store_->Put(col_, "empty", ""));
  auto got = store_->Get(col_, key);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->value, value);
  auto empty = store_->Get(col_, "empty");
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(empty->value, "");
  EXPECT_EQ(store_->Get(col_, std::string("a\0c", 3)).status().code(), absl::StatusCode::kNotFound);
}

TEST_P(StoreConformanceTest, CompareAndSetConflictsChangeNothing) {
  auto created = store_->Put(col_, "k", "a", /*expected_version=*/0);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->version, 1u);

  auto again = store_->Put(col_, "k", "b", 0);
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(again.status().message(), HasSubstr("expected 0, found 1"));

  auto stale = store_->Put(col_, "k", "b", 7);
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->Get(col_, "k")->value, "a");

  auto ok = store_->Put(col_, "k", "b", 1);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->version, 2u);

  EXPECT_EQ(store_->Delete(col_, "k", 1).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->Get(col_, "k")->value, "b");
  EXPECT_EQ(store_->Delete(col_, "missing", 3).code(), absl::StatusCode::kFailedPrecondition);
  KOS_EXPECT_OK(store_->Delete(col_, "k", 2));
  EXPECT_EQ(store_->Get(col_, "k").status().code(), absl::StatusCode::kNotFound);
}

TEST_P(StoreConformanceTest, FailingBatchChangesNothing) {
  KOS_ASSERT_OK(store_->Put(col_, "existing", "old"));
  auto before = store_->LastSequence();
  ASSERT_TRUE(before.ok());

  std::vector<WriteOp> batch = {
      WriteOp::Put(col_, "a", "1"),
      WriteOp::Put(col_, "existing", "new"),
      WriteOp::Delete(col_, "existing"),
      WriteOp::Put(col_, "b", "2", /*expected_version=*/5),
  };
  auto res = store_->Commit(batch);
  EXPECT_EQ(res.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(res.status().message(), HasSubstr("op 3"));
  EXPECT_EQ(store_->Get(col_, "a").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Get(col_, "existing")->value, "old");
  EXPECT_EQ(*store_->LastSequence(), *before);

  // An invalid op anywhere rejects the batch before anything happens.
  batch = {WriteOp::Put(col_, "a", "1"), WriteOp::Put("bad/name", "b", "2")};
  EXPECT_EQ(store_->Commit(batch).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->Get(col_, "a").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(*store_->LastSequence(), *before);
}

TEST_P(StoreConformanceTest, BatchAppliesInOrderWithConsecutiveSequences) {
  auto res = store_->Commit({
      WriteOp::Put(col_, "x", "1", 0),
      WriteOp::Put(col_, "x", "2", 1),  // sees the op before it
      WriteOp::Put(col_, "y", "3"),
      WriteOp::Delete(col_, "y", 1),
      WriteOp::Put(other_, "x", "4"),
  });
  ASSERT_TRUE(res.ok()) << res.status();
  ASSERT_EQ(res->size(), 5u);
  EXPECT_EQ((*res)[0].version, 1u);
  EXPECT_EQ((*res)[1].version, 2u);
  EXPECT_EQ((*res)[2].version, 1u);
  EXPECT_EQ((*res)[3].version, 1u);
  for (size_t i = 1; i < res->size(); ++i)
    EXPECT_EQ((*res)[i].sequence, (*res)[i - 1].sequence + 1);
  EXPECT_EQ(*store_->LastSequence(), res->back().sequence);
  EXPECT_EQ(store_->Get(col_, "x")->value, "2");
  EXPECT_EQ(store_->Get(col_, "y").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Get(other_, "x")->value, "4");

  auto empty = store_->Commit({});
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_TRUE(empty->empty());
  EXPECT_EQ(*store_->LastSequence(), res->back().sequence);
}

TEST_P(StoreConformanceTest, ScanIsOrderedFilteredAndPaginated) {
  std::vector<std::string> keys = {"b",     "ab",   "a",        "abc", "abd",    "ac",
                                   "b\xff", "\xff", "\xff\xff", "0",   "ab\xff", "abc0"};
  std::shuffle(keys.begin(), keys.end(), std::mt19937(42));
  for (const std::string& k : keys) KOS_ASSERT_OK(store_->Put(col_, k, "v:" + k));
  KOS_ASSERT_OK(store_->Put(other_, "aa", "elsewhere"));
  std::sort(keys.begin(), keys.end());

  ScanOptions all;
  all.limit = 1000;
  auto page = store_->Scan(col_, all);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(Keys(*page), keys);
  EXPECT_EQ(page->next_page_token, "");
  EXPECT_EQ(page->records[0].value, "v:" + page->records[0].key);

  ScanOptions pre;
  pre.prefix = "ab";
  EXPECT_THAT(Keys(*store_->Scan(col_, pre)),
              ::testing::ElementsAre("ab", "abc", "abc0", "abd", "ab\xff"));
  pre.prefix = "\xff";
  EXPECT_THAT(Keys(*store_->Scan(col_, pre)), ::testing::ElementsAre("\xff", "\xff\xff"));
  pre.prefix = "zzz";
  EXPECT_TRUE(store_->Scan(col_, pre)->records.empty());

  // Walk every page of 5: same keys, same order, last token empty.
  std::vector<std::string> walked;
  ScanOptions paged;
  paged.limit = 5;
  paged.keys_only = true;
  int pages = 0;
  do {
    auto p = store_->Scan(col_, paged);
    ASSERT_TRUE(p.ok()) << p.status();
    ASSERT_LE(p->records.size(), 5u);
    for (const Record& r : p->records) {
      EXPECT_EQ(r.value, "") << "keys_only must leave values empty";
      walked.push_back(r.key);
    }
    paged.page_token = p->next_page_token;
    ASSERT_LT(++pages, 10);
  } while (!paged.page_token.empty());
  EXPECT_EQ(walked, keys);
  EXPECT_EQ(pages, 3);  // 12 keys: 5 + 5 + 2

  // Exactly `limit` results: no further page is announced.
  ScanOptions exact;
  exact.prefix = "ab";
  exact.limit = 5;
  EXPECT_EQ(store_->Scan(col_, exact)->next_page_token, "");
  // Pagination stays inside the prefix.
  exact.limit = 2;
  auto p1 = store_->Scan(col_, exact);
  exact.page_token = p1->next_page_token;
  auto p2 = store_->Scan(col_, exact);
  exact.page_token = p2->next_page_token;
  auto p3 = store_->Scan(col_, exact);
  EXPECT_THAT(Keys(*p3), ::testing::ElementsAre("ab\xff"));
  EXPECT_EQ(p3->next_page_token, "");
}

TEST_P(StoreConformanceTest, InvalidScanArgumentsAreRejected) {
  KOS_ASSERT_OK(store_->Put(col_, "a", "1"));
  ScanOptions o;
  for (const char* token : {"zz", "abc", "0g", "not a token"}) {
    o.page_token = token;
    auto p = store_->Scan(col_, o);
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument) << token;
  }
  o.page_token = "";
  o.limit = 0;
  EXPECT_EQ(store_->Scan(col_, o).status().code(), absl::StatusCode::kInvalidArgument);
  o.limit = 10001;
  EXPECT_EQ(store_->Scan(col_, o).status().code(), absl::StatusCode::kInvalidArgument);
  o.limit = 10;
  EXPECT_EQ(store_->Scan("", o).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->Scan("../x", o).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_P(StoreConformanceTest, BadKeysCollectionsAndValuesAreRejected) {
  options_.max_value_bytes = 1024;
  options_.max_key_bytes = 16;
  Reopen();
  EXPECT_EQ(store_->Put(col_, "", "v").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->Put(col_, std::string(17, 'k'), "v").status().code(),
            absl::StatusCode::kInvalidArgument);
  for (std::string c : {std::string(""), std::string(".hidden"), std::string("a/b"),
                        std::string("a b"), std::string(65, 'c'), std::string("x\0y", 3)}) {
    auto r = store_->Put(c, "k", "v");
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << c;
    EXPECT_EQ(store_->Get(c, "k").status().code(), absl::StatusCode::kInvalidArgument) << c;
  }
  KOS_EXPECT_OK(store_->Put(col_, "fits", std::string(1024, 'v')));
  auto big = store_->Put(col_, "big", std::string(1025, 'v'));
  EXPECT_EQ(big.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(big.status().message(), HasSubstr("limit is 1024"));
  EXPECT_EQ(store_->Get(col_, "big").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Put(col_, "k", "v", std::nullopt, absl::Seconds(-1)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(StoreConformanceTest, LargeValuesRoundTrip) {
  std::string big(6 << 20, '\0');
  std::mt19937 rng(7);
  for (char& c : big) c = static_cast<char>(rng());
  KOS_ASSERT_OK(store_->Put(col_, "big", big));
  KOS_ASSERT_OK(store_->Put(col_, "small", "s"));
  auto got = store_->Get(col_, "big");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(got->value == big);
  ScanOptions o;
  auto page = store_->Scan(col_, o);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->records.size(), 2u);
  EXPECT_EQ(page->records[0].value.size(), big.size());
}

TEST_P(StoreConformanceTest, ExpiredRecordsAreNeverReturned) {
  KOS_SKIP_UNLESS_FAKE_CLOCK();
  auto r = store_->Put(col_, "short", "s", std::nullopt, absl::Seconds(10));
  ASSERT_TRUE(r.ok()) << r.status();
  KOS_ASSERT_OK(store_->Put(col_, "long", "l", std::nullopt, absl::Seconds(100)));
  KOS_ASSERT_OK(store_->Put(col_, "forever", "f"));
  EXPECT_EQ(store_->Get(col_, "short")->expires, clock_.Now() + absl::Seconds(10));

  clock_.Advance(absl::Seconds(9));
  EXPECT_TRUE(store_->Get(col_, "short").ok());
  clock_.Advance(absl::Seconds(1));  // exactly at expiry: gone
  EXPECT_EQ(store_->Get(col_, "short").status().code(), absl::StatusCode::kNotFound);
  ScanOptions o;
  EXPECT_THAT(Keys(*store_->Scan(col_, o)), ::testing::ElementsAre("forever", "long"));

  // An expired record counts as absent for CAS and versions.
  EXPECT_EQ(store_->Put(col_, "short", "x", 1).status().code(),
            absl::StatusCode::kFailedPrecondition);
  auto reborn = store_->Put(col_, "short", "again", 0);
  ASSERT_TRUE(reborn.ok()) << reborn.status();
  EXPECT_EQ(reborn->version, 1u);

  clock_.Advance(absl::Seconds(200));
  uint64_t seq = *store_->LastSequence();
  auto purged = store_->PurgeExpired();
  ASSERT_TRUE(purged.ok()) << purged.status();
  EXPECT_EQ(*purged, 1u);  // "long"; "short" was rewritten without a ttl
  EXPECT_EQ(*store_->PurgeExpired(), 0u);
  EXPECT_EQ(*store_->LastSequence(), seq);
  EXPECT_THAT(Keys(*store_->Scan(col_, o)), ::testing::ElementsAre("forever", "short"));
}

TEST_P(StoreConformanceTest, ChangeFeedListsWritesInOrder) {
  uint64_t start = *store_->LastSequence();
  KOS_ASSERT_OK(store_->Put(col_, "a", "1"));
  KOS_ASSERT_OK(store_->Put(col_, "b", "1"));
  KOS_ASSERT_OK(store_->Put(col_, "a", "2"));
  KOS_ASSERT_OK(store_->Delete(col_, "b"));
  auto changes = store_->Changes(start, 100);
  ASSERT_TRUE(changes.ok()) << changes.status();
  ASSERT_EQ(changes->size(), 4u);
  const Change& c0 = (*changes)[0];
  EXPECT_EQ(c0.sequence, start + 1);
  EXPECT_EQ(c0.collection, col_);
  EXPECT_EQ(c0.key, "a");
  EXPECT_FALSE(c0.deleted);
  EXPECT_EQ(c0.version, 1u);
  EXPECT_EQ((*changes)[2].key, "a");
  EXPECT_EQ((*changes)[2].version, 2u);
  EXPECT_TRUE((*changes)[3].deleted);
  EXPECT_EQ((*changes)[3].version, 1u);
  for (size_t i = 1; i < changes->size(); ++i) {
    EXPECT_EQ((*changes)[i].sequence, (*changes)[i - 1].sequence + 1);
  }
  auto tail = store_->Changes(start + 2, 1);
  ASSERT_TRUE(tail.ok());
  ASSERT_EQ(tail->size(), 1u);
  EXPECT_EQ((*tail)[0].sequence, start + 3);
  EXPECT_TRUE(store_->Changes(start + 4, 10)->empty());
  EXPECT_TRUE(store_->Changes(start + 1000, 10)->empty());
}

TEST_P(StoreConformanceTest, TrimmedChangeFeedIsOutOfRange) {
  options_.change_feed_retention = 5;
  Reopen();
  uint64_t start = *store_->LastSequence();
  for (int i = 0; i < 10; ++i) KOS_ASSERT_OK(store_->Put(col_, absl::StrCat("k", i), "v"));
  auto gone = store_->Changes(start, 100);
  EXPECT_EQ(gone.status().code(), absl::StatusCode::kOutOfRange);
  auto kept = store_->Changes(start + 5, 100);
  ASSERT_TRUE(kept.ok()) << kept.status();
  ASSERT_EQ(kept->size(), 5u);
  EXPECT_EQ(kept->front().sequence, start + 6);
  EXPECT_EQ(kept->back().key, "k9");
  EXPECT_EQ(store_->Changes(start + 4, 100).status().code(), absl::StatusCode::kOutOfRange);
}

TEST_P(StoreConformanceTest, ConcurrentCasIncrementsLoseNoUpdate) {
  constexpr int kThreads = 8;
  constexpr int kIncrements = 40;
  std::vector<std::thread> threads;
  std::atomic<int> errors{0}, conflicts{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kIncrements; ++i) {
        for (int attempt = 0;; ++attempt) {
          // A broken CAS would otherwise spin forever.
          if (attempt == 100000) {
            ADD_FAILURE() << "CAS never succeeded";
            return;
          }
          auto cur = store_->Get(col_, "counter");
          uint64_t version = 0;
          int64_t n = 0;
          if (cur.ok()) {
            version = cur->version;
            n = std::stoll(cur->value);
          } else if (cur.status().code() != absl::StatusCode::kNotFound) {
            ++errors;
            return;
          }
          auto w = store_->Put(col_, "counter", std::to_string(n + 1), version);
          if (w.ok()) break;
          if (w.status().code() != absl::StatusCode::kFailedPrecondition) {
            ADD_FAILURE() << w.status();
            ++errors;
            return;
          }
          ++conflicts;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  auto final_value = store_->Get(col_, "counter");
  ASSERT_TRUE(final_value.ok()) << final_value.status();
  EXPECT_EQ(final_value->value, std::to_string(kThreads * kIncrements));
  EXPECT_EQ(final_value->version, static_cast<uint64_t>(kThreads * kIncrements));
}

TEST_P(StoreConformanceTest, DeletingAnAbsentRecordIsRecorded) {
  uint64_t start = *store_->LastSequence();
  auto res = store_->Commit({WriteOp::Delete(col_, "never")});
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_EQ((*res)[0].version, 0u);
  EXPECT_EQ((*res)[0].sequence, start + 1);
  auto ch = store_->Changes(start, 10);
  ASSERT_EQ(ch->size(), 1u);
  EXPECT_TRUE((*ch)[0].deleted);
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreConformanceTest,
                         ::testing::Values(Backend{"memory"}, Backend{"sqlite"},
                                           Backend{"postgres", "KOS_TEST_POSTGRES_URI"}),
                         [](const auto& info) { return info.param.name; });

TEST(OpenStoreTest, RejectsUnknownAndMalformedUris) {
  for (const char* uri :
       {"redis://localhost", "nocolon", ":memory", "file:///tmp/x", "sqlite:", "sqlite://"}) {
    auto s = OpenStore(uri);
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << uri;
    EXPECT_FALSE(s.status().message().empty());
  }
  auto s = OpenStore("mongodb://x");
  EXPECT_THAT(s.status().message(), HasSubstr("unknown store URI scheme 'mongodb'"));
}

TEST(OpenStoreTest, UnwritablePathGivesClearError) {
  testing::TempDir dir;
  // A regular file where a directory is needed: fails even for root.
  std::string blocker = dir.File("plain-file");
  FILE* f = fopen(blocker.c_str(), "w");
  ASSERT_NE(f, nullptr);
  fclose(f);
  auto s = OpenStore("sqlite://" + blocker + "/sub/kos.db");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(s.status().message(), HasSubstr(blocker));
  auto d = OpenStore("sqlite://" + dir.path());
  EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(d.status().message(), HasSubstr("is a directory"));
}

}  // namespace
}  // namespace kos
