#include "store/sqlite_conn.h"

#include <sqlite3.h>

#include <algorithm>
#include <cstdint>
#include <new>

#include "SQLiteCpp/Exception.h"
#include "absl/strings/str_cat.h"

namespace kos::internal {
namespace {

const char* SqlText(Sql id) {
  switch (id) {
    case Sql::kBegin:
      return "BEGIN";
    case Sql::kBeginImmediate:
      return "BEGIN IMMEDIATE";
    case Sql::kCommit:
      return "COMMIT";
    case Sql::kRollback:
      return "ROLLBACK";
    case Sql::kGetRecord:
      return "SELECT value, version, sequence, updated_ms, expires_ms FROM records "
             "WHERE collection = ?1 AND key = ?2";
    case Sql::kGetVersion:
      return "SELECT version, expires_ms FROM records WHERE collection = ?1 AND key = ?2";
    case Sql::kUpsertRecord:
      return "INSERT OR REPLACE INTO records "
             "(collection, key, value, version, sequence, updated_ms, expires_ms) "
             "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
    case Sql::kDeleteRecord:
      return "DELETE FROM records WHERE collection = ?1 AND key = ?2";
    case Sql::kInsertChange:
      return "INSERT INTO changes (sequence, collection, key, deleted, version) "
             "VALUES (?1, ?2, ?3, ?4, ?5)";
    case Sql::kTrimChanges:
      return "DELETE FROM changes WHERE sequence <= ?1";
    case Sql::kFirstChange:
      return "SELECT min(sequence) FROM changes";
    case Sql::kChangesAfter:
      return "SELECT sequence, collection, key, deleted, version FROM changes "
             "WHERE sequence > ?1 ORDER BY sequence LIMIT ?2";
    case Sql::kGetMeta:
      return "SELECT value FROM meta WHERE name = ?1";
    case Sql::kSetMeta:
      return "INSERT OR REPLACE INTO meta (name, value) VALUES (?1, ?2)";
    case Sql::kLastSequence:
      return "SELECT (SELECT value FROM meta WHERE name = 'last_sequence'), "
             "(SELECT max(sequence) FROM changes)";
    case Sql::kScanFrom:
      // CASE keeps SQLite from reading (possibly overflowed) values for keys_only.
      return "SELECT key, CASE WHEN ?4 THEN NULL ELSE value END, version, sequence, updated_ms, "
             "expires_ms FROM records WHERE collection = ?1 AND key >= ?2 "
             "AND (expires_ms IS NULL OR expires_ms > ?3) ORDER BY key LIMIT ?5";
    case Sql::kScanRange:
      return "SELECT key, CASE WHEN ?5 THEN NULL ELSE value END, version, sequence, updated_ms, "
             "expires_ms FROM records WHERE collection = ?1 AND key >= ?2 AND key < ?3 "
             "AND (expires_ms IS NULL OR expires_ms > ?4) ORDER BY key LIMIT ?6";
    case Sql::kPurgeExpired:
      return "DELETE FROM records WHERE expires_ms IS NOT NULL AND expires_ms <= ?1";
    case Sql::kCount:
      break;
  }
  return "";
}

}  // namespace

absl::StatusOr<std::unique_ptr<SqliteConn>> SqliteConn::Open(const std::string& path, bool create,
                                                             bool sync_full,
                                                             absl::Duration busy_timeout) {
  int flags = SQLite::OPEN_READWRITE | SQLite::OPEN_NOMUTEX | (create ? SQLite::OPEN_CREATE : 0);
  int64_t busy_ms = std::clamp<int64_t>(absl::ToInt64Milliseconds(busy_timeout), 0, INT32_MAX);
  try {
    auto db = std::make_unique<SQLite::Database>(path, flags, static_cast<int>(busy_ms));
    db->exec(sync_full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
    return std::unique_ptr<SqliteConn>(new SqliteConn(std::move(db)));
  } catch (const std::exception& e) {
    return StatusFromException(e, "open", path);
  }
}

SQLite::Statement& SqliteConn::Get(Sql id) {
  auto& slot = stmts_[static_cast<size_t>(id)];
  if (slot == nullptr) {
    slot = std::make_unique<SQLite::Statement>(*db_, SqlText(id));
  }
  return *slot;
}

StmtScope::~StmtScope() {
  // tryReset returns the last step's error, which the caller has already
  // seen; clearing bindings cannot fail on a valid statement.
  s_.tryReset();
  try {
    s_.clearBindings();
  } catch (...) {
  }
}

void BindBlob(SQLite::Statement& s, int index, absl::string_view bytes) {
  static const char kEmpty = 0;
  s.bindNoCopy(index, bytes.empty() ? &kEmpty : bytes.data(), static_cast<int>(bytes.size()));
}

std::string ColumnBytes(SQLite::Statement& s, int index) {
  SQLite::Column c = s.getColumn(index);
  // getBlob before getBytes, as sqlite3_column_bytes requires.
  const void* p = c.getBlob();
  int n = c.getBytes();
  if (p == nullptr || n <= 0) return std::string();
  return std::string(static_cast<const char*>(p), static_cast<size_t>(n));
}

bool IsBusy(const std::exception& e) {
  auto* se = dynamic_cast<const SQLite::Exception*>(&e);
  if (se == nullptr) return false;
  int primary = se->getErrorCode() & 0xff;
  return primary == SQLITE_BUSY || primary == SQLITE_LOCKED;
}

absl::Status StatusFromException(const std::exception& e, absl::string_view what,
                                 absl::string_view path) {
  if (dynamic_cast<const std::bad_alloc*>(&e) != nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("sqlite store '", path, "': out of memory during ", what));
  }
  auto* se = dynamic_cast<const SQLite::Exception*>(&e);
  if (se == nullptr) {
    return absl::InternalError(absl::StrCat("sqlite store '", path, "': ", what, ": ", e.what()));
  }
  int primary = se->getErrorCode() & 0xff;
  std::string detail = absl::StrCat("sqlite store '", path, "': ", what, " failed: ");
  switch (primary) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      // Callers are promised never to see SQLite's own wording for this.
      return absl::UnavailableError(absl::StrCat(
          detail, "another connection held the write lock for longer than busy_timeout"));
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
      return absl::DataLossError(absl::StrCat(
          detail, "the file is not a valid SQLite database or is corrupt (", se->what(), ")"));
    case SQLITE_CANTOPEN:
      return absl::FailedPreconditionError(absl::StrCat(
          detail, "cannot open the database file (missing, a directory, or not readable/writable; ",
          se->what(), ")"));
    case SQLITE_PERM:
    case SQLITE_READONLY:
    case SQLITE_AUTH:
      return absl::PermissionDeniedError(absl::StrCat(detail, se->what()));
    case SQLITE_FULL:
      return absl::ResourceExhaustedError(absl::StrCat(detail, "disk full (", se->what(), ")"));
    case SQLITE_TOOBIG:
    case SQLITE_RANGE:
    case SQLITE_MISMATCH:
      return absl::InvalidArgumentError(absl::StrCat(detail, se->what()));
    case SQLITE_IOERR:
      return absl::UnavailableError(absl::StrCat(detail, "I/O error (", se->what(), ")"));
    default:
      return absl::InternalError(absl::StrCat(detail, se->what()));
  }
}

}  // namespace kos::internal
