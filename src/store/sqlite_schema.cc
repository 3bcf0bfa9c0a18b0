#include "store/sqlite_schema.h"

#include <cstdint>

#include "absl/strings/str_cat.h"

namespace kos::internal {
namespace {

struct Migration {
  int version;      // schema_version after this step
  const char* sql;  // run as one script inside the open transaction
};

// Append-only: a released step is never edited, a change is a new step.
constexpr Migration kMigrations[] = {
    {1,
     // Keys are BLOBs so ordering is bytewise, like the memory backend.
     // expires_ms NULL means "never"; the partial index keeps PurgeExpired
     // from scanning records that cannot expire.
     "CREATE TABLE records ("
     "  collection TEXT NOT NULL,"
     "  key BLOB NOT NULL,"
     "  value BLOB NOT NULL,"
     "  version INTEGER NOT NULL,"
     "  sequence INTEGER NOT NULL,"
     "  updated_ms INTEGER NOT NULL,"
     "  expires_ms INTEGER,"
     "  PRIMARY KEY (collection, key)) WITHOUT ROWID;"
     "CREATE INDEX records_expires ON records (expires_ms) WHERE expires_ms IS NOT NULL;"
     "CREATE TABLE changes ("
     "  sequence INTEGER PRIMARY KEY,"
     "  collection TEXT NOT NULL,"
     "  key BLOB NOT NULL,"
     "  deleted INTEGER NOT NULL,"
     "  version INTEGER NOT NULL);"
     "INSERT OR IGNORE INTO meta (name, value) VALUES ('last_sequence', 0);"},
    {2,
     // From version 2 the newest change-feed row carries the sequence and
     // meta.last_sequence is only a floor for an empty feed: a commit then
     // dirties two pages instead of three. A version-1 libkos opened after
     // this refuses the file; one still running while it happens would
     // trust meta alone, so stop every process on the file to upgrade.
     "UPDATE meta SET value = max(value, coalesce((SELECT max(sequence) FROM changes), 0)) "
     "WHERE name = 'last_sequence';"},
};

}  // namespace

int LatestSqliteSchemaVersion() { return kMigrations[std::size(kMigrations) - 1].version; }

absl::Status CheckSqliteFileIsOurs(SqliteConn& conn, const std::string& path) {
  // Tables a kos store would own, in a file without the kos meta table.
  SQLite::Statement q(conn.db(),
                      "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND "
                      "name IN ('records', 'changes') AND NOT EXISTS "
                      "(SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'meta')");
  if (q.executeStep() && q.getColumn(0).getInt() > 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "sqlite store '", path,
        "' is an SQLite database that libkos did not create (it has a 'records' or 'changes' "
        "table but no kos meta table); refusing to touch it"));
  }
  return absl::OkStatus();
}

absl::Status MigrateSqliteSchema(SqliteConn& conn, const std::string& path) {
  conn.db().exec(
      "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) "
      "WITHOUT ROWID");
  int64_t current = 0;
  {
    StmtScope q(conn.Get(Sql::kGetMeta));
    q->bind(1, "schema_version");
    if (q->executeStep()) current = q->getColumn(0).getInt64();
  }
  const int latest = LatestSqliteSchemaVersion();
  if (current > latest) {
    return absl::FailedPreconditionError(absl::StrCat(
        "sqlite store '", path, "' has schema version ", current, ", newer than version ", latest,
        " that this libkos understands; open it with a newer libkos"));
  }
  if (current < 0) {
    return absl::DataLossError(
        absl::StrCat("sqlite store '", path, "' has an invalid schema version ", current));
  }
  for (const Migration& m : kMigrations) {
    if (m.version <= current) continue;
    conn.db().exec(m.sql);
    StmtScope set(conn.Get(Sql::kSetMeta));
    set->bind(1, "schema_version");
    set->bind(2, static_cast<int64_t>(m.version));
    set->exec();
  }
  return absl::OkStatus();
}

}  // namespace kos::internal
