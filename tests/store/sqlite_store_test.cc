// SQLite-only behaviour: durability across reopen, several stores (as
// several processes would) on one file, schema versioning, hostile files.
#include <sqlite3.h>

#include <atomic>
#include <filesystem>
#include <fstream>
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
using ::testing::Not;

// Runs SQL on the file with the raw C API, as a foreign process would.
void RawExec(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  EXPECT_EQ(rc, SQLITE_OK) << (err ? err : "");
  sqlite3_free(err);
  sqlite3_close(db);
}

std::string RawQueryText(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_stmt* st = nullptr;
  std::string out;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW) {
    const unsigned char* t = sqlite3_column_text(st, 0);
    if (t) out = reinterpret_cast<const char*>(t);
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

class SqliteStoreTest : public ::testing::Test {
 protected:
  SqliteStoreTest() { options_.clock = &clock_; }
  absl::StatusOr<std::unique_ptr<Store>> Open() { return OpenStore("sqlite://" + path_, options_); }

  FakeClock clock_;
  StoreOptions options_;
  testing::TempDir dir_;
  std::string path_ = dir_.File("nested/dir/kos.db");
};

TEST_F(SqliteStoreTest, CreatesParentDirectoriesAndUsesWal) {
  auto s = Open();
  ASSERT_TRUE(s.ok()) << s.status();
  KOS_ASSERT_OK((*s)->Put("c", "k", "v"));
  EXPECT_EQ(RawQueryText(path_, "PRAGMA journal_mode"), "wal");
  EXPECT_EQ(RawQueryText(path_, "SELECT value FROM meta WHERE name = 'schema_version'"), "2");
}

// A version-1 file (meta.last_sequence rewritten on every commit) upgrades in
// place and keeps numbering where it stopped, even with a stale or trimmed feed.
TEST_F(SqliteStoreTest, VersionOneFileUpgradesAndKeepsItsSequence) {
  {
    auto s = Open();
    ASSERT_TRUE(s.ok()) << s.status();
    for (int i = 0; i < 4; ++i) KOS_ASSERT_OK((*s)->Put("c", absl::StrCat("k", i), "v"));
  }
  // What version 1 left: the feed trimmed to nothing, the counter in meta.
  RawExec(path_,
          "UPDATE meta SET value = 1 WHERE name = 'schema_version';"
          "UPDATE meta SET value = 4 WHERE name = 'last_sequence';"
          "DELETE FROM changes;");
  auto s = Open();
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(RawQueryText(path_, "SELECT value FROM meta WHERE name = 'schema_version'"), "2");
  EXPECT_EQ(*(*s)->LastSequence(), 4u);
  auto w = (*s)->Put("c", "k4", "v");
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->sequence, 5u);
  EXPECT_EQ(*(*s)->LastSequence(), 5u);
}

TEST_F(SqliteStoreTest, MissingSequenceRowIsDataLossNotARestart) {
  { ASSERT_TRUE(Open().ok()); }
  RawExec(path_, "DELETE FROM meta WHERE name = 'last_sequence'");
  auto s = Open();
  ASSERT_TRUE(s.ok()) << s.status();
  auto w = (*s)->Put("c", "k", "v");
  EXPECT_EQ(w.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(w.status().message(), HasSubstr("last_sequence"));
  EXPECT_EQ((*s)->Get("c", "k").status().code(), absl::StatusCode::kNotFound);
}

// The feed is trimmed in chunks: never fewer than the retention, never more
// than retention + chunk - 1 rows, and the counter survives a reopen with
// the smallest retention.
TEST_F(SqliteStoreTest, ChangeFeedTrimsInChunksAndNumberingSurvivesReopen) {
  options_.change_feed_retention = 64;  // chunk 4
  {
    auto s = Open();
    ASSERT_TRUE(s.ok()) << s.status();
    for (int i = 1; i <= 200; ++i) {
      KOS_ASSERT_OK((*s)->Put("c", absl::StrCat("k", i % 7), "v"));
      int rows = std::stoi(RawQueryText(path_, "SELECT count(*) FROM changes"));
      ASSERT_GE(rows, std::min(i, 64)) << "after put " << i;
      ASSERT_LE(rows, std::min(i, 67)) << "after put " << i;
    }
    auto kept = (*s)->Changes(200 - 64, 100);
    ASSERT_TRUE(kept.ok()) << kept.status();
    EXPECT_EQ(kept->size(), 64u);
  }
  options_.change_feed_retention = 1;
  {
    auto s = Open();
    ASSERT_TRUE(s.ok()) << s.status();
    KOS_ASSERT_OK((*s)->Put("c", "x", "v"));
    EXPECT_EQ(RawQueryText(path_, "SELECT count(*) FROM changes"), "1");
  }
  auto s = Open();
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*(*s)->LastSequence(), 201u);
  auto w = (*s)->Put("c", "y", "v");
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->sequence, 202u);
}

// With background checkpoints (SQLite's automatic checkpoint is then off),
// the database file still fills while the store is open (in WAL mode only
// checkpoints write it), concurrent readers never fail, and everything is
// there after a reopen. tests/store/sqlite_checkpointer_test.cc shows which
// thread does the copying.
TEST_F(SqliteStoreTest, BackgroundCheckpointMovesTheLogIntoTheFileAndLosesNothing) {
  options_.background_checkpoint = true;
  const std::string value(3000, 'v');
  {
    auto s = Open();
    ASSERT_TRUE(s.ok()) << s.status();
    const auto before = std::filesystem::file_size(path_);
    std::atomic<bool> done{false};
    std::atomic<int> bad_reads{0};
    std::thread reader([&] {
      while (!done) {
        auto page = (*s)->Scan("c", ScanOptions{});
        if (!page.ok()) ++bad_reads;
      }
    });
    for (int b = 0; b < 40; ++b) {
      std::vector<WriteOp> ops;
      for (int i = 0; i < 50; ++i) {
        ops.push_back(WriteOp::Put("c", absl::StrCat("k", b * 50 + i), value));
      }
      KOS_ASSERT_OK((*s)->Commit(ops).status());
    }
    // 2,000 x 3 KB is ~1,500 WAL pages: the thread has been woken.
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (std::filesystem::file_size(path_) < before + 1000 * 3000 && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    done = true;
    reader.join();
    EXPECT_EQ(bad_reads, 0);
    EXPECT_GE(std::filesystem::file_size(path_), before + 1000 * 3000)
        << "no checkpoint reached the database file while the store was open";
  }
  auto s = Open();
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*(*s)->LastSequence(), 2000u);
  for (int k : {0, 999, 1999}) {
    auto r = (*s)->Get("c", absl::StrCat("k", k));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->value, value);
  }
}

TEST_F(SqliteStoreTest, ReopenKeepsDataVersionsAndSequence) {
  uint64_t seq;
  {
    auto s = Open();
    ASSERT_TRUE(s.ok()) << s.status();
    KOS_ASSERT_OK((*s)->Put("c", "a", "1"));
    KOS_ASSERT_OK((*s)->Put("c", "a", "2"));
    KOS_ASSERT_OK((*s)->Put("c", "t", "ttl", std::nullopt, absl::Seconds(5)));
    seq = *(*s)->LastSequence();
    EXPECT_EQ(seq, 3u);
  }
  auto s = Open();
  ASSERT_TRUE(s.ok()) << s.status();
  auto a = (*s)->Get("c", "a");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->value, "2");
  EXPECT_EQ(a->version, 2u);
  EXPECT_EQ(*(*s)->LastSequence(), seq);
  auto w = (*s)->Put("c", "b", "x");
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->sequence, seq + 1);
  EXPECT_EQ((*s)->Changes(0, 10)->size(), 4u);
  clock_.Advance(absl::Seconds(5));
  EXPECT_EQ((*s)->Get("c", "t").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(SqliteStoreTest, TwoStoresOnOneFileWriteConcurrentlyWithoutLostUpdates) {
  auto s1 = Open();
  auto s2 = Open();
  ASSERT_TRUE(s1.ok() && s2.ok());
  Store* stores[2] = {s1->get(), s2->get()};
  constexpr int kThreadsPerStore = 4;
  constexpr int kIncrements = 25;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 2 * kThreadsPerStore; ++t) {
    Store* store = stores[t % 2];
    threads.emplace_back([&, store, t] {
      for (int i = 0; i < kIncrements; ++i) {
        for (int attempt = 0;; ++attempt) {
          // A broken CAS would otherwise spin forever.
          if (attempt == 100000) {
            ADD_FAILURE() << "CAS never succeeded";
            return;
          }
          auto cur = store->Get("c", "counter");
          uint64_t version = cur.ok() ? cur->version : 0;
          int n = cur.ok() ? std::stoi(cur->value) : 0;
          // A blind write too, so both stores contend on the file lock.
          auto blind = store->Put("c", absl::StrCat("t", t, "-", i), "x");
          if (!blind.ok()) {
            ADD_FAILURE() << blind.status();
            ++failures;
            return;
          }
          auto w = store->Put("c", "counter", std::to_string(n + 1), version);
          if (w.ok()) break;
          if (w.status().code() != absl::StatusCode::kFailedPrecondition) {
            ADD_FAILURE() << w.status();
            ++failures;
            return;
          }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  auto c = (*s1)->Get("c", "counter");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->value, std::to_string(2 * kThreadsPerStore * kIncrements));
  // Both stores share one sequence counter with no duplicates or gaps.
  uint64_t last = *(*s2)->LastSequence();
  auto changes = (*s1)->Changes(0, 100000);
  ASSERT_TRUE(changes.ok());
  ASSERT_EQ(changes->size(), last);
  for (size_t i = 0; i < changes->size(); ++i) EXPECT_EQ((*changes)[i].sequence, i + 1);
}

TEST_F(SqliteStoreTest, LockHeldTooLongIsUnavailableNotDatabaseLocked) {
  {
    auto s = Open();
    ASSERT_TRUE(s.ok()) << s.status();
    KOS_ASSERT_OK((*s)->Put("c", "k", "v"));
  }
  options_.busy_timeout = absl::Milliseconds(100);
  auto s = Open();
  ASSERT_TRUE(s.ok()) << s.status();
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  auto w = (*s)->Put("c", "k", "blocked");
  EXPECT_EQ(w.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(w.status().message()), Not(HasSubstr("database is locked")));
  EXPECT_THAT(w.status().message(), HasSubstr("busy_timeout"));
  // Readers are not blocked by a writer in WAL mode.
  auto r = (*s)->Get("c", "k");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->value, "v");
  sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(other);
  KOS_EXPECT_OK((*s)->Put("c", "k", "after"));
}

TEST_F(SqliteStoreTest, NewerSchemaIsRefused) {
  { ASSERT_TRUE(Open().ok()); }
  RawExec(path_, "UPDATE meta SET value = 99 WHERE name = 'schema_version'");
  auto s = Open();
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.status().message(), HasSubstr("schema version 99"));
  EXPECT_THAT(s.status().message(), HasSubstr("newer"));
  EXPECT_EQ(RawQueryText(path_, "SELECT value FROM meta WHERE name = 'schema_version'"), "99");
}

TEST_F(SqliteStoreTest, GarbageFileIsRefusedAndLeftIntact) {
  std::string garbage(8192, '\0');
  std::mt19937 rng(1);
  for (char& c : garbage) c = static_cast<char>(rng());
  std::string path = dir_.File("garbage.db");
  std::ofstream(path, std::ios::binary) << garbage;
  auto s = OpenStore("sqlite://" + path, options_);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kDataLoss) << s.status();
  EXPECT_THAT(s.status().message(), HasSubstr("not a valid SQLite database"));
  EXPECT_EQ(testing::ReadFileOrDie(path), garbage);
}

TEST_F(SqliteStoreTest, TruncatedDatabaseIsRefused) {
  {
    auto s = Open();
    ASSERT_TRUE(s.ok());
    for (int i = 0; i < 200; ++i)
      KOS_ASSERT_OK((*s)->Put("c", absl::StrCat(i), std::string(500, 'x')));
  }
  std::string content = testing::ReadFileOrDie(path_);
  ASSERT_GT(content.size(), 8192u);
  // Keep the valid header, smash the pages behind it.
  for (size_t i = 4096; i < content.size(); ++i) content[i] = static_cast<char>(i * 31);
  std::ofstream(path_, std::ios::binary | std::ios::trunc) << content;
  auto s = Open();
  if (s.ok()) {
    // Corruption may only surface when the damaged pages are read.
    ScanOptions o;
    o.limit = 1000;
    auto page = (*s)->Scan("c", o);
    EXPECT_FALSE(page.ok());
    EXPECT_EQ(page.status().code(), absl::StatusCode::kDataLoss) << page.status();
  } else {
    EXPECT_EQ(s.status().code(), absl::StatusCode::kDataLoss) << s.status();
  }
}

TEST_F(SqliteStoreTest, ForeignSqliteDatabaseIsRefusedUntouched) {
  std::string path = dir_.File("foreign.db");
  RawExec(path,
          "CREATE TABLE records (id INTEGER PRIMARY KEY, name TEXT);"
          "INSERT INTO records (name) VALUES ('theirs')");
  auto s = OpenStore("sqlite://" + path, options_);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition) << s.status();
  EXPECT_THAT(s.status().message(), HasSubstr("did not create"));
  EXPECT_EQ(RawQueryText(path, "SELECT name FROM records"), "theirs");
  EXPECT_EQ(RawQueryText(path, "SELECT count(*) FROM sqlite_schema WHERE name = 'meta'"), "0");
  EXPECT_EQ(RawQueryText(path, "PRAGMA journal_mode"), "delete");
}

TEST_F(SqliteStoreTest, MissingFileWithoutCreateIsNotFound) {
  options_.create_if_missing = false;
  auto s = Open();
  EXPECT_EQ(s.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(s.status().message(), HasSubstr("create_if_missing"));
}

TEST_F(SqliteStoreTest, RelativeUriAndSyncFullWork) {
  options_.sync_full = true;
  auto s = OpenStore("sqlite:" + dir_.File("rel.db"), options_);
  ASSERT_TRUE(s.ok()) << s.status();
  KOS_EXPECT_OK((*s)->Put("c", "k", "v"));
}

}  // namespace
}  // namespace kos
