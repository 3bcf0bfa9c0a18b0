// Private: the SQLite store's schema and its table-driven migrations.
#ifndef KOS_SRC_STORE_SQLITE_SCHEMA_H_
#define KOS_SRC_STORE_SQLITE_SCHEMA_H_

#include <string>

#include "absl/status/status.h"
#include "store/sqlite_conn.h"

namespace kos::internal {

// The schema version this build writes and understands.
int LatestSqliteSchemaVersion();

// FAILED_PRECONDITION if the file is an SQLite database made by another
// program (so opening it must not modify it). Read-only; throws SQLiteCpp
// exceptions (e.g. SQLITE_NOTADB for a non-SQLite file).
absl::Status CheckSqliteFileIsOurs(SqliteConn& conn, const std::string& path);

// Brings the database up to LatestSqliteSchemaVersion() inside the caller's
// write transaction. FAILED_PRECONDITION if the file was written by a newer
// libkos. Throws SQLiteCpp exceptions on SQLite errors (the caller maps them).
absl::Status MigrateSqliteSchema(SqliteConn& conn, const std::string& path);

}  // namespace kos::internal

#endif  // KOS_SRC_STORE_SQLITE_SCHEMA_H_
