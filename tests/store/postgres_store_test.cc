// PostgreSQL Store against a real server (KOS_TEST_POSTGRES_URI, written by
// scripts/start-services.sh). Every test works in a schema of its own
// (?schema=...), dropped afterwards, so reruns and parallel runs never collide.
// URI and unreachable-server cases need no server.
#include <libpq-fe.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "kos/store.h"
#include "testing/test_util.h"

namespace kos {
namespace {

using ::absl::StatusCode;

std::string PostgresUri() {
  const char* uri = std::getenv("KOS_TEST_POSTGRES_URI");
  return uri != nullptr ? uri : "";
}

std::string WithOption(const std::string& uri, const std::string& kv) {
  return absl::StrCat(uri, uri.find('?') == std::string::npos ? "?" : "&", kv);
}

// Runs SQL on the test server directly (setup and teardown only).
bool RunSql(const std::string& uri, const std::string& sql, std::string* error = nullptr) {
  PGconn* c = PQconnectdb(uri.c_str());
  bool ok = PQstatus(c) == CONNECTION_OK;
  if (ok) {
    PQsetNoticeProcessor(
        c, [](void*, const char*) {}, nullptr);  // "drop cascades to ..."
    PGresult* r = PQexec(c, sql.c_str());
    ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    PQclear(r);
  }
  if (!ok && error != nullptr) *error = PQerrorMessage(c);
  PQfinish(c);
  return ok;
}

class PostgresStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = PostgresUri();
    if (base_.empty()) {
      GTEST_SKIP()
          << "KOS_TEST_POSTGRES_URI not set: start services with scripts/start-services.sh";
    }
    static std::atomic<int> counter{0};
    schema_ = absl::StrCat("kos_test_", getpid(), "_", counter++, "_",
                           absl::ToUnixMicros(absl::Now()) % 1000000000);
    options_.clock = &clock_;
    auto s = Open();
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = std::move(*s);
  }

  void TearDown() override {
    store_.reset();
    if (!schema_.empty()) {
      std::string error;
      EXPECT_TRUE(
          RunSql(base_, absl::StrCat("DROP SCHEMA IF EXISTS ", schema_, " CASCADE"), &error))
          << error;
    }
  }

  absl::StatusOr<std::unique_ptr<Store>> Open(const std::string& extra = "") {
    return Open(options_, extra);
  }
  absl::StatusOr<std::unique_ptr<Store>> Open(const StoreOptions& options,
                                              const std::string& extra = "") {
    std::string uri = WithOption(base_, "schema=" + schema_);
    if (!extra.empty()) uri = WithOption(uri, extra);
    return OpenStore(uri, options);
  }

  std::string base_;
  std::string schema_;
  FakeClock clock_;
  StoreOptions options_;
  std::unique_ptr<Store> store_;
};

TEST_F(PostgresStoreTest, PutGetDeleteWithVersions) {
  EXPECT_EQ(*store_->LastSequence(), 0u);
  EXPECT_EQ(store_->Get("c", "k").status().code(), StatusCode::kNotFound);
  absl::StatusOr<WriteResult> w1 = store_->Put("c", "k", "v1");
  ASSERT_TRUE(w1.ok()) << w1.status();
  EXPECT_EQ(w1->version, 1u);
  EXPECT_EQ(w1->sequence, 1u);
  absl::StatusOr<WriteResult> w2 = store_->Put("c", "k", "v2");
  EXPECT_EQ(w2->version, 2u);
  EXPECT_EQ(w2->sequence, 2u);
  absl::StatusOr<Record> r = store_->Get("c", "k");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->collection, "c");
  EXPECT_EQ(r->key, "k");
  EXPECT_EQ(r->value, "v2");
  EXPECT_EQ(r->version, 2u);
  EXPECT_EQ(r->sequence, 2u);
  EXPECT_EQ(r->updated, clock_.Now());
  EXPECT_EQ(r->expires, absl::InfiniteFuture());
  KOS_ASSERT_OK(store_->Delete("c", "k"));
  EXPECT_EQ(store_->Get("c", "k").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(*store_->LastSequence(), 3u);
  // A new record after a delete starts again at version 1.
  EXPECT_EQ(store_->Put("c", "k", "v3")->version, 1u);
  // Collections are separate namespaces.
  EXPECT_EQ(store_->Get("other", "k").status().code(), StatusCode::kNotFound);
}

TEST_F(PostgresStoreTest, BinaryKeysAndValuesRoundTrip) {
  std::string key("k\0\xff\x01", 4), value("\0\x80\xff\r\n", 5);
  KOS_ASSERT_OK(store_->Put("bin", key, value));
  absl::StatusOr<Record> r = store_->Get("bin", key);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->key, key);
  EXPECT_EQ(r->value, value);
  EXPECT_EQ(store_->Get("bin", std::string("k", 1)).status().code(), StatusCode::kNotFound);
  KOS_ASSERT_OK(store_->Put("bin", "empty", ""));
  EXPECT_EQ(store_->Get("bin", "empty")->value, "");
}

TEST_F(PostgresStoreTest, CompareAndSetConflictsChangeNothing) {
  KOS_ASSERT_OK(store_->Put("c", "k", "v1", /*expected_version=*/0));
  absl::StatusOr<WriteResult> stale = store_->Put("c", "k", "v2", 0);
  EXPECT_EQ(stale.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(stale.status().message().find("expected 0, found 1"), std::string::npos)
      << stale.status();
  EXPECT_EQ(store_->Put("c", "k", "v2", 7).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->Put("c", "k", "v2", 1)->version, 2u);
  EXPECT_EQ(store_->Delete("c", "k", 1).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->Get("c", "k")->value, "v2");
  KOS_ASSERT_OK(store_->Delete("c", "k", 2));
  EXPECT_EQ(store_->Delete("c", "missing", 0).code(), StatusCode::kOk);
  EXPECT_EQ(store_->Put("c", "absent", "v", 1).status().code(), StatusCode::kFailedPrecondition);
}

TEST_F(PostgresStoreTest, BatchesAreAtomic) {
  KOS_ASSERT_OK(store_->Put("c", "a", "1"));
  uint64_t before = *store_->LastSequence();
  absl::StatusOr<std::vector<WriteResult>> bad =
      store_->Commit({WriteOp::Put("c", "b", "2"), WriteOp::Put("c", "a", "x", /*expected=*/5),
                      WriteOp::Delete("c", "a")});
  EXPECT_EQ(bad.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(bad.status().message().find("(op 1)"), std::string::npos) << bad.status();
  EXPECT_EQ(store_->Get("c", "b").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->Get("c", "a")->value, "1");
  EXPECT_EQ(*store_->LastSequence(), before);

  // An invalid op rejects the batch before anything runs.
  EXPECT_EQ(store_->Commit({WriteOp::Put("c", "b", "2"), WriteOp::Put("bad name!", "k", "v")})
                .status()
                .code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->Get("c", "b").status().code(), StatusCode::kNotFound);

  // One key twice in a batch: versions chain, the sequence grows per op.
  absl::StatusOr<std::vector<WriteResult>> ok =
      store_->Commit({WriteOp::Put("c", "n", "1", 0), WriteOp::Put("c", "n", "2", 1),
                      WriteOp::Delete("c", "n", 2), WriteOp::Put("c", "n", "3", 0)});
  ASSERT_TRUE(ok.ok()) << ok.status();
  ASSERT_EQ(ok->size(), 4u);
  EXPECT_EQ((*ok)[0].version, 1u);
  EXPECT_EQ((*ok)[1].version, 2u);
  EXPECT_EQ((*ok)[2].version, 2u);
  EXPECT_EQ((*ok)[3].version, 1u);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ((*ok)[i].sequence, before + 1 + i);
  EXPECT_EQ(store_->Get("c", "n")->value, "3");
  EXPECT_TRUE(store_->Commit({})->empty());
}

TEST_F(PostgresStoreTest, ValidationMatchesTheOtherBackends) {
  StoreOptions o = options_;
  o.max_key_bytes = 8;
  o.max_value_bytes = 4;
  auto small = Open(o);
  ASSERT_TRUE(small.ok()) << small.status();
  Store& s = **small;
  EXPECT_EQ(s.Put("c", "", "v").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.Put("c", "123456789", "v").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.Put("c", "k", "12345").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.Put("c", "k", "v", std::nullopt, absl::Seconds(-1)).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(s.Put(".c", "k", "v").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.Get("", "k").status().code(), StatusCode::kInvalidArgument);
  ScanOptions zero;
  zero.limit = 0;
  EXPECT_EQ(s.Scan("c", zero).status().code(), StatusCode::kInvalidArgument);
  ScanOptions bad_token;
  bad_token.page_token = "zz";
  EXPECT_EQ(s.Scan("c", bad_token).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(*s.LastSequence(), 0u);
}

TEST_F(PostgresStoreTest, ScanIsBytewiseWithPrefixAndPages) {
  std::vector<std::string> keys = {"b",     "a", std::string("a\0", 2), "ab", "\x01", "\xff", "B",
                                   "a\xff", "ac"};
  for (const std::string& k : keys) KOS_ASSERT_OK(store_->Put("s", k, "v:" + k));
  KOS_ASSERT_OK(store_->Put("s2", "a", "other collection"));

  std::vector<std::string> want = keys;
  std::sort(want.begin(), want.end());  // std::string compares bytewise (as unsigned)
  ScanOptions all;
  all.limit = 100;
  absl::StatusOr<ScanPage> p = store_->Scan("s", all);
  ASSERT_TRUE(p.ok()) << p.status();
  std::vector<std::string> got;
  for (const Record& r : p->records) got.push_back(r.key);
  EXPECT_EQ(got, want);
  EXPECT_EQ(p->next_page_token, "");
  EXPECT_EQ(p->records[0].value, "v:" + p->records[0].key);

  // Pages of 2 give the same sequence.
  ScanOptions paged;
  paged.limit = 2;
  std::vector<std::string> paged_keys;
  int pages = 0;
  do {
    absl::StatusOr<ScanPage> page = store_->Scan("s", paged);
    ASSERT_TRUE(page.ok()) << page.status();
    for (const Record& r : page->records) paged_keys.push_back(r.key);
    paged.page_token = page->next_page_token;
    ASSERT_LT(++pages, 20);
  } while (!paged.page_token.empty());
  EXPECT_EQ(paged_keys, want);
  EXPECT_EQ(pages, 5);

  ScanOptions prefix;
  prefix.prefix = "a";
  prefix.keys_only = true;
  got.clear();
  p = store_->Scan("s", prefix);
  for (const Record& r : p->records) {
    got.push_back(r.key);
    EXPECT_EQ(r.value, "");
    EXPECT_GE(r.version, 1u);
  }
  EXPECT_EQ(got, (std::vector<std::string>{"a", std::string("a\0", 2), "ab", "ac", "a\xff"}));

  // A prefix ending in 0xFF has no simple upper bound.
  prefix.prefix = "a\xff";
  p = store_->Scan("s", prefix);
  ASSERT_EQ(p->records.size(), 1u);
  EXPECT_EQ(p->records[0].key, "a\xff");
  prefix.prefix = "\xff";
  EXPECT_EQ(store_->Scan("s", prefix)->records.size(), 1u);

  // Prefix and pages together.
  prefix.prefix = "a";
  prefix.limit = 3;
  p = store_->Scan("s", prefix);
  ASSERT_EQ(p->records.size(), 3u);
  ASSERT_FALSE(p->next_page_token.empty());
  prefix.page_token = p->next_page_token;
  p = store_->Scan("s", prefix);
  ASSERT_EQ(p->records.size(), 2u);
  EXPECT_EQ(p->records[0].key, "ac");
  EXPECT_EQ(p->next_page_token, "");
}

TEST_F(PostgresStoreTest, TtlFollowsTheInjectedClock) {
  KOS_ASSERT_OK(store_->Put("t", "short", "v", std::nullopt, absl::Seconds(10)));
  KOS_ASSERT_OK(store_->Put("t", "long", "v", std::nullopt, absl::Seconds(100)));
  KOS_ASSERT_OK(store_->Put("t", "forever", "v"));
  EXPECT_EQ(store_->Get("t", "short")->expires, clock_.Now() + absl::Seconds(10));
  clock_.Advance(absl::Seconds(9));
  KOS_EXPECT_OK(store_->Get("t", "short"));
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(store_->Get("t", "short").status().code(), StatusCode::kNotFound);
  ScanOptions all;
  absl::StatusOr<ScanPage> p = store_->Scan("t", all);
  ASSERT_EQ(p->records.size(), 2u);
  EXPECT_EQ(p->records[0].key, "forever");
  EXPECT_EQ(p->records[1].key, "long");
  // An expired record counts as absent for compare-and-set: versions restart.
  EXPECT_EQ(store_->Put("t", "short", "again", 1).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->Put("t", "short", "again", 0)->version, 1u);
  clock_.Advance(absl::Seconds(200));
  EXPECT_EQ(*store_->PurgeExpired(), 1u);  // "long"
  EXPECT_EQ(*store_->PurgeExpired(), 0u);
  KOS_EXPECT_OK(store_->Get("t", "forever"));
  KOS_EXPECT_OK(store_->Get("t", "short"));
}

TEST_F(PostgresStoreTest, ChangeFeedFollowsCommits) {
  KOS_ASSERT_OK(store_->Put("f", "a", "1"));
  KOS_ASSERT_OK(store_->Put("g", "b", "1"));
  KOS_ASSERT_OK(store_->Put("f", "a", "2"));
  KOS_ASSERT_OK(store_->Delete("f", "a"));
  absl::StatusOr<std::vector<Change>> ch = store_->Changes(0, 100);
  ASSERT_TRUE(ch.ok()) << ch.status();
  ASSERT_EQ(ch->size(), 4u);
  EXPECT_EQ((*ch)[0].sequence, 1u);
  EXPECT_EQ((*ch)[0].collection, "f");
  EXPECT_EQ((*ch)[0].key, "a");
  EXPECT_FALSE((*ch)[0].deleted);
  EXPECT_EQ((*ch)[1].collection, "g");
  EXPECT_EQ((*ch)[2].version, 2u);
  EXPECT_TRUE((*ch)[3].deleted);
  EXPECT_EQ((*ch)[3].version, 2u);
  ch = store_->Changes(2, 1);
  ASSERT_EQ(ch->size(), 1u);
  EXPECT_EQ((*ch)[0].sequence, 3u);
  EXPECT_TRUE(store_->Changes(4, 10)->empty());
  EXPECT_EQ(*store_->LastSequence(), 4u);
}

TEST_F(PostgresStoreTest, TrimmedChangeFeedIsOutOfRange) {
  StoreOptions o = options_;
  o.change_feed_retention = 3;
  auto s = Open(o);
  ASSERT_TRUE(s.ok()) << s.status();
  for (int i = 0; i < 6; ++i) KOS_ASSERT_OK((*s)->Put("c", absl::StrCat("k", i), "v"));
  EXPECT_EQ((*s)->Changes(0, 10).status().code(), StatusCode::kOutOfRange);
  absl::StatusOr<std::vector<Change>> ch = (*s)->Changes(3, 10);
  ASSERT_TRUE(ch.ok()) << ch.status();
  ASSERT_EQ(ch->size(), 3u);
  EXPECT_EQ(ch->front().sequence, 4u);
}

TEST_F(PostgresStoreTest, DataSurvivesReopen) {
  KOS_ASSERT_OK(store_->Put("p", "k", "durable"));
  store_.reset();
  auto again = Open();
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)->Get("p", "k")->value, "durable");
  EXPECT_EQ(*(*again)->LastSequence(), 1u);
}

TEST_F(PostgresStoreTest, NewerSchemaIsRefused) {
  store_.reset();
  std::string error;
  ASSERT_TRUE(RunSql(
      base_, absl::StrCat("UPDATE ", schema_, ".kos_schema_version SET version = 99"), &error))
      << error;
  auto s = Open();
  EXPECT_EQ(s.status().code(), StatusCode::kFailedPrecondition) << s.status();
  EXPECT_NE(s.status().message().find("99"), std::string::npos) << s.status();
}

TEST_F(PostgresStoreTest, ConcurrentCasIncrementsLoseNoUpdate) {
  KOS_ASSERT_OK(store_->Put("cnt", "n", "0"));
  constexpr int kThreads = 8, kEach = 15;
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) {
        for (;;) {
          absl::StatusOr<Record> r = store_->Get("cnt", "n");
          if (!r.ok()) {
            ++errors;
            break;
          }
          absl::StatusOr<WriteResult> w =
              store_->Put("cnt", "n", absl::StrCat(std::stoi(r->value) + 1), r->version);
          if (w.ok()) break;
          if (w.status().code() != StatusCode::kFailedPrecondition) {
            ++errors;
            break;
          }
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  absl::StatusOr<Record> r = store_->Get("cnt", "n");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->value, absl::StrCat(kThreads * kEach));
  EXPECT_EQ(r->version, 1u + kThreads * kEach);
  // Sequences are gapless: one per committed write.
  EXPECT_EQ(*store_->LastSequence(), 1u + kThreads * kEach);
}

TEST_F(PostgresStoreTest, ConcurrentBatchesKeepTheChangeFeedOrdered) {
  constexpr int kThreads = 8, kEach = 10;
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        if (!store_
                 ->Commit({WriteOp::Put("b", absl::StrCat(t, "-", i), "x"),
                           WriteOp::Put("b", absl::StrCat("shared-", i % 3), "y")})
                 .ok()) {
          ++errors;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  absl::StatusOr<std::vector<Change>> ch = store_->Changes(0, 10000);
  ASSERT_TRUE(ch.ok()) << ch.status();
  ASSERT_EQ(ch->size(), 2u * kThreads * kEach);
  for (size_t i = 0; i < ch->size(); ++i) EXPECT_EQ((*ch)[i].sequence, i + 1);
}

TEST_F(PostgresStoreTest, PooledConnectionsKilledByTheServerAreReplaced) {
  std::string app = absl::StrCat("kostest_", getpid(), "_", absl::ToUnixMicros(absl::Now()));
  auto s = Open("pool_size=2&application_name=" + app);
  ASSERT_TRUE(s.ok()) << s.status();
  KOS_ASSERT_OK((*s)->Put("r", "k", "before"));
  std::string error;
  ASSERT_TRUE(RunSql(base_,
                     absl::StrCat("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                  "WHERE application_name = '",
                                  app, "'"),
                     &error))
      << error;
  absl::SleepFor(absl::Milliseconds(100));  // the backend exits asynchronously
  // A write (not only a read) works on a fresh connection.
  absl::StatusOr<WriteResult> w = (*s)->Put("r", "k", "after", 1);
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->version, 2u);
  EXPECT_EQ((*s)->Get("r", "k")->value, "after");
}

// --- No server needed -------------------------------------------------------

TEST(PostgresStoreUriTest, BadUrisAreInvalidArgument) {
  for (const char* uri :
       {"postgresql://[::1/db", "postgresql://host/db?schema=Bad-Name",
        "postgresql://host/db?schema=1abc", "postgresql://host/db?pool_size=0",
        "postgresql://host/db?pool_size=x", "postgresql://host/db?no_such_option=1",
        "postgresql://host/db?sslmode"}) {
    absl::StatusOr<std::unique_ptr<Store>> s = OpenStore(uri);
    EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument) << uri << ": " << s.status();
  }
}

// A loopback listener that never answers: connects succeed, replies never come.
class SilentListener {
 public:
  SilentListener() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&a), len) == 0 && listen(fd_, 8) == 0 &&
        getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
      port_ = ntohs(a.sin_port);
    }
  }
  ~SilentListener() { close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TEST(PostgresStoreUriTest, SilentServerTimesOutAsUnavailable) {
  SilentListener silent;
  ASSERT_NE(silent.port(), 0);
  absl::Time start = absl::Now();
  // libpq's shortest connect_timeout is 2 s.
  absl::StatusOr<std::unique_ptr<Store>> s = OpenStore(absl::StrCat(
      "postgresql://kos:pw-not-shown@127.0.0.1:", silent.port(), "/kos?connect_timeout=2"));
  EXPECT_EQ(s.status().code(), StatusCode::kUnavailable) << s.status();
  EXPECT_EQ(s.status().message().find("pw-not-shown"), std::string::npos) << s.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(6));
}

TEST(PostgresStoreUriTest, UnreachableServerIsUnavailableWithoutThePassword) {
  absl::Time start = absl::Now();
  absl::StatusOr<std::unique_ptr<Store>> s =
      OpenStore("postgresql://kos:hunter2secret@127.0.0.1:1/kos?connect_timeout=2");
  EXPECT_EQ(s.status().code(), StatusCode::kUnavailable) << s.status();
  EXPECT_EQ(s.status().message().find("hunter2secret"), std::string::npos) << s.status();
  EXPECT_NE(s.status().message().find("127.0.0.1:1"), std::string::npos) << s.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  s = OpenStore("postgresql://kos:hunter2secret@127.0.0.1:1/kos?bogus=1");
  EXPECT_EQ(s.status().message().find("hunter2secret"), std::string::npos) << s.status();
}

}  // namespace
}  // namespace kos
