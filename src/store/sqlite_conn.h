// Private: one SQLite connection with its prepared-statement cache, and the
// mapping from SQLiteCpp exceptions to absl::Status.
#ifndef KOS_SRC_STORE_SQLITE_CONN_H_
#define KOS_SRC_STORE_SQLITE_CONN_H_

#include <array>
#include <exception>
#include <memory>
#include <string>

#include "SQLiteCpp/Database.h"
#include "SQLiteCpp/Statement.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace kos::internal {

// Every statement the store runs. Text lives in sqlite_conn.cc.
enum class Sql {
  kBegin,           // BEGIN (deferred: readers)
  kBeginImmediate,  // BEGIN IMMEDIATE (writers take the lock up front)
  kCommit,
  kRollback,
  kGetRecord,     // (collection, key) -> value, version, sequence, updated, expires
  kGetVersion,    // (collection, key) -> version, expires
  kUpsertRecord,  // (collection, key, value, version, sequence, updated, expires)
  kDeleteRecord,  // (collection, key)
  kInsertChange,  // (sequence, collection, key, deleted, version)
  kTrimChanges,   // delete changes with sequence <= ?
  kFirstChange,   // -> min(sequence)
  kChangesAfter,  // (after, limit)
  kGetMeta,       // (name) -> value
  kSetMeta,       // (name, value)
  kLastSequence,  // -> meta floor, max(changes.sequence)
  kScanFrom,      // (collection, start, now, keys_only, limit)
  kScanRange,     // (collection, start, end, now, keys_only, limit)
  kPurgeExpired,  // (now)
  kCount
};

// Owns one sqlite3 handle. Not thread-safe: the store hands each connection
// to one thread at a time.
class SqliteConn {
 public:
  // Opens `path` (which must exist unless `create`) with the pragmas every
  // connection needs.
  static absl::StatusOr<std::unique_ptr<SqliteConn>> Open(const std::string& path, bool create,
                                                          bool sync_full,
                                                          absl::Duration busy_timeout);

  SQLite::Database& db() { return *db_; }

  // The cached prepared statement `id`, reset and with bindings cleared.
  SQLite::Statement& Get(Sql id);

 private:
  explicit SqliteConn(std::unique_ptr<SQLite::Database> db) : db_(std::move(db)) {}
  std::unique_ptr<SQLite::Database> db_;
  std::array<std::unique_ptr<SQLite::Statement>, static_cast<size_t>(Sql::kCount)> stmts_;
};

// Resets a statement when the scope ends, so a cached statement never holds
// a read snapshot open or keeps a reference to a bound buffer.
class StmtScope {
 public:
  explicit StmtScope(SQLite::Statement& s) : s_(s) {}
  ~StmtScope();
  StmtScope(const StmtScope&) = delete;
  StmtScope& operator=(const StmtScope&) = delete;
  SQLite::Statement* operator->() { return &s_; }
  SQLite::Statement& operator*() { return s_; }

 private:
  SQLite::Statement& s_;
};

// Binds bytes as a BLOB (never NULL, even when empty) so keys compare
// bytewise, exactly as std::string does in the memory backend.
void BindBlob(SQLite::Statement& s, int index, absl::string_view bytes);
// Reads a BLOB/TEXT column as bytes ("" for NULL or empty).
std::string ColumnBytes(SQLite::Statement& s, int index);

// True for the errors a retry can cure (another connection holds a lock).
bool IsBusy(const std::exception& e);

// Maps an exception thrown by SQLiteCpp (or the standard library) to a
// typed status. `what` says which operation failed; `path` names the file.
absl::Status StatusFromException(const std::exception& e, absl::string_view what,
                                 absl::string_view path);

}  // namespace kos::internal

#endif  // KOS_SRC_STORE_SQLITE_CONN_H_
