// Private: libpq connections for the PostgreSQL Store — URI handling, a
// thread-safe connection pool, parameter binding and SQLSTATE -> status codes.
// libpq is used directly (not libpqxx) so no C++ exception crosses our code
// and bytea travels in binary, byte for byte.
#ifndef KOS_SRC_STORE_POSTGRES_CONN_H_
#define KOS_SRC_STORE_POSTGRES_CONN_H_

#include <libpq-fe.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace kos::internal {

// What a `postgresql://` URI says. libpq understands the URI itself; these
// are the parts libkos reads or adds. Query keys libkos consumes (the rest go
// to libpq): pool_size (connections, default 8) and schema (a schema of its
// own for the kos_* tables, created if missing; default: the search_path).
struct PostgresConfig {
  std::string conninfo;  // the URI for libpq, kos-only keys removed
  std::string password;  // only to scrub it from messages
  std::string address;   // "host:port/db" for messages
  std::string schema;    // empty: server default search_path
  int pool_size = 8;
};

// INVALID_ARGUMENT for a malformed URI; messages never hold the password.
absl::StatusOr<PostgresConfig> ParsePostgresUri(absl::string_view uri);

struct PgResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using PgResult = std::unique_ptr<PGresult, PgResultDeleter>;

// Positional parameters; bytea goes in binary so any byte (NUL too) survives.
class PgParams {
 public:
  PgParams& Text(std::string s);
  PgParams& Bytes(std::string s);
  PgParams& Int(int64_t v);
  PgParams& Null();

  int size() const { return static_cast<int>(values_.size()); }
  std::vector<const char*> Values() const;
  const int* Lengths() const { return lengths_.data(); }
  const int* Formats() const { return formats_.data(); }

 private:
  std::vector<std::string> values_;
  std::vector<bool> null_;
  std::vector<int> lengths_;
  std::vector<int> formats_;
};

// Reading binary-format result columns.
int64_t PgInt64(const PGresult* r, int row, int col);  // bigint
bool PgBool(const PGresult* r, int row, int col);
std::string PgBytes(const PGresult* r, int row, int col);  // bytea / text

// Retryable (serialization failure, deadlock): the transaction should be rerun.
bool IsRetryable(const absl::Status& s);

// One borrowed connection. Not thread-safe; returned to the pool on destruction.
class PgPool;
class PgConn {
 public:
  PgConn(PgPool* pool, PGconn* conn) : pool_(pool), conn_(conn) {}
  ~PgConn();
  PgConn(const PgConn&) = delete;
  PgConn& operator=(const PgConn&) = delete;

  // Runs one statement (results in binary). Errors carry the SQLSTATE class
  // as their code: UNAVAILABLE for a lost connection, ABORTED for a
  // serialization failure or deadlock, and so on.
  absl::StatusOr<PgResult> Exec(const char* sql, const PgParams& params = PgParams());
  // True once the connection broke; it is then closed instead of pooled.
  bool broken() const;

 private:
  PgPool* pool_;
  PGconn* conn_;
};

// Thread-safe pool of open connections, each with the schema's search_path.
class PgPool {
 public:
  explicit PgPool(PostgresConfig config) : config_(std::move(config)) {}
  ~PgPool();

  const PostgresConfig& config() const { return config_; }

  // Borrows an idle connection or opens one (UNAVAILABLE if the server
  // cannot be reached); waits up to `wait` when all are busy.
  absl::StatusOr<std::unique_ptr<PgConn>> Acquire(absl::Duration wait = absl::Seconds(30));

  // Replaces the password with "***" in server and libpq messages.
  std::string Scrub(absl::string_view message) const;

 private:
  friend class PgConn;
  void Release(PGconn* conn, bool broken);
  absl::StatusOr<PGconn*> Connect();

  const PostgresConfig config_;
  absl::Mutex mu_;
  std::vector<PGconn*> idle_ ABSL_GUARDED_BY(mu_);
  int open_ ABSL_GUARDED_BY(mu_) = 0;  // idle + borrowed
};

}  // namespace kos::internal

#endif  // KOS_SRC_STORE_POSTGRES_CONN_H_
