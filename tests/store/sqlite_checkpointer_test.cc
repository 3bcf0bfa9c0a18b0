#include "store/sqlite_checkpointer.h"

#include <sqlite3.h>

#include <climits>
#include <filesystem>
#include <string>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "testing/test_util.h"

namespace kos::internal {
namespace {

// A raw connection in WAL mode with SQLite's own automatic checkpoint off, so
// that only the checkpointer under test moves pages into the database file.
class CheckpointerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.File("c.db");
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db_), SQLITE_OK);
    Exec("PRAGMA journal_mode = WAL");
    Exec("PRAGMA wal_autocheckpoint = 0");
    Exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)");
  }
  void TearDown() override { sqlite3_close(db_); }
  void Exec(const std::string& sql) {
    ASSERT_EQ(sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK)
        << sql << ": " << sqlite3_errmsg(db_);
  }
  // One transaction of `rows` 3 KB rows (about one WAL page each).
  void Write(int rows) {
    Exec("BEGIN");
    for (int i = 0; i < rows; ++i) Exec("INSERT INTO t (v) VALUES (randomblob(3000))");
    Exec("COMMIT");
  }
  static int64_t Rows(sqlite3* db) {
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(db, "SELECT count(*) FROM t", -1, &s, nullptr);
    sqlite3_step(s);
    const int64_t n = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return n;
  }
  int64_t Rows() { return Rows(db_); }
  uintmax_t Size(const std::string& p) {
    std::error_code ec;
    const auto n = std::filesystem::file_size(p, ec);
    return ec ? 0 : n;
  }

  testing::TempDir dir_;
  std::string path_;
  sqlite3* db_ = nullptr;
};

TEST_F(CheckpointerTest, ThreadCopiesTheWalIntoTheDatabaseWithoutTheWriter) {
  SqliteCheckpointerOptions o;
  o.wake_pages = 20;
  o.inline_pages = INT_MAX;
  const uintmax_t before = Size(path_);
  {
    SqliteCheckpointer c(path_, db_, o);
    for (int i = 0; i < 10; ++i) Write(10);
    // The writer only signals; the pages reach the file from the thread.
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while ((c.completed() == 0 || Size(path_) <= before) && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    EXPECT_GE(c.completed(), 1);
    EXPECT_GT(Size(path_), before + 20 * 3000) << "database file did not receive the pages";
  }
  EXPECT_EQ(Rows(), 100);
}

TEST_F(CheckpointerTest, WriterCheckpointsItselfWhenTheThreadFallsBehind) {
  SqliteCheckpointerOptions o;
  o.wake_pages = INT_MAX;  // the thread never runs: only the inline path
  o.inline_pages = 30;
  {
    SqliteCheckpointer c(path_, db_, o);
    for (int i = 0; i < 100; ++i) Write(5);
    EXPECT_EQ(c.completed(), 0);
  }
  // 500 pages were written; a WAL that restarts after each inline checkpoint
  // never holds more than the threshold plus one transaction.
  EXPECT_LT(Size(path_ + "-wal"), uintmax_t{(30 + 5 + 4) * (4096 + 24) + 32});
  EXPECT_GT(Size(path_), uintmax_t{400 * 3000});
  EXPECT_EQ(Rows(), 500);
}

TEST_F(CheckpointerTest, ReadersKeepTheirSnapshotWhileCheckpointsRun) {
  SqliteCheckpointerOptions o;
  o.wake_pages = 10;
  o.inline_pages = 40;
  SqliteCheckpointer c(path_, db_, o);
  Write(5);
  sqlite3* reader = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &reader), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(reader, "BEGIN", nullptr, nullptr, nullptr), SQLITE_OK);
  auto count = [&] { return Rows(reader); };
  EXPECT_EQ(count(), 5);  // the snapshot starts here
  for (int i = 0; i < 40; ++i) Write(5);
  EXPECT_EQ(count(), 5);
  ASSERT_EQ(sqlite3_exec(reader, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
  EXPECT_EQ(count(), 205);
  sqlite3_close(reader);
}

}  // namespace
}  // namespace kos::internal
