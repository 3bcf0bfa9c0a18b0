// PostgreSQL Store: `postgresql://user:pass@host:port/db[?schema=..&pool_size=..]`.
//
// Tables kos_records, kos_changes, kos_sequence and kos_schema_version live in
// the URI's schema (or the search_path). Every Commit is one transaction that
// first locks the single kos_sequence row: commits are thereby serialized, so
// sequence numbers are gapless and become visible in order — a follower of the
// change feed can never see sequence N+1 before N. Keys are bytea, so ordering
// is bytewise like every other backend. TTLs use the injected Clock (expiry
// times are computed here, in milliseconds), like the SQLite backend.
#include <map>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "kos/status.h"
#include "store/backends.h"
#include "store/postgres_conn.h"

namespace kos::internal {
namespace {

constexpr int64_t kSchemaVersion = 1;
// pg_advisory_xact_lock key serializing migrations of concurrent openers.
constexpr char kMigrationLock[] = "SELECT pg_advisory_xact_lock(7303830458123)";
constexpr int kMaxAttempts = 8;  // reruns of a transaction aborted by the server

// Version 1. expires_ms NULL means "never".
constexpr char kSchemaV1[] = R"sql(
CREATE TABLE IF NOT EXISTS kos_records (
  collection TEXT COLLATE "C" NOT NULL,
  key BYTEA NOT NULL,
  value BYTEA NOT NULL,
  version BIGINT NOT NULL,
  sequence BIGINT NOT NULL,
  updated_ms BIGINT NOT NULL,
  expires_ms BIGINT,
  PRIMARY KEY (collection, key));
CREATE INDEX IF NOT EXISTS kos_records_expires ON kos_records (expires_ms)
  WHERE expires_ms IS NOT NULL;
CREATE TABLE IF NOT EXISTS kos_changes (
  sequence BIGINT PRIMARY KEY,
  collection TEXT COLLATE "C" NOT NULL,
  key BYTEA NOT NULL,
  deleted BOOLEAN NOT NULL,
  version BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS kos_sequence (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  last BIGINT NOT NULL);
INSERT INTO kos_sequence (id, last) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;
)sql";

int64_t ToMillis(absl::Time t) { return absl::ToUnixMillis(t); }

// Rolls back unless committed, so an early return never leaves a connection
// inside a transaction.
class Txn {
 public:
  explicit Txn(PgConn* c) : c_(c) {}
  ~Txn() {
    if (open_ && !c_->broken()) c_->Exec("ROLLBACK").IgnoreError();
  }
  absl::Status Begin(const char* sql = "BEGIN") {
    KOS_RETURN_IF_ERROR(c_->Exec(sql).status());
    open_ = true;
    return absl::OkStatus();
  }
  absl::Status Commit() {
    open_ = false;
    return c_->Exec("COMMIT").status();
  }

 private:
  PgConn* c_;
  bool open_ = false;
};

Record RowToRecord(const PGresult* r, int row, std::string collection, std::string key,
                   int first_col, bool with_value) {
  Record rec;
  rec.collection = std::move(collection);
  rec.key = std::move(key);
  if (with_value) rec.value = PgBytes(r, row, first_col);
  rec.version = static_cast<uint64_t>(PgInt64(r, row, first_col + 1));
  rec.sequence = static_cast<uint64_t>(PgInt64(r, row, first_col + 2));
  rec.updated = absl::FromUnixMillis(PgInt64(r, row, first_col + 3));
  rec.expires = PQgetisnull(r, row, first_col + 4)
                    ? absl::InfiniteFuture()
                    : absl::FromUnixMillis(PgInt64(r, row, first_col + 4));
  return rec;
}

// The smallest byte string greater than every string starting with `prefix`;
// empty when there is none (all 0xFF).
std::string PrefixEnd(std::string prefix) {
  while (!prefix.empty() && static_cast<unsigned char>(prefix.back()) == 0xFF) prefix.pop_back();
  if (!prefix.empty())
    prefix.back() = static_cast<char>(static_cast<unsigned char>(prefix.back()) + 1);
  return prefix;
}

class PostgresStore final : public Store {
 public:
  PostgresStore(const StoreOptions& options, PostgresConfig config)
      : options_(options), pool_(std::move(config)) {}

  absl::Status Migrate() {
    KOS_ASSIGN_OR_RETURN(auto c, pool_.Acquire());
    Txn t(c.get());
    KOS_RETURN_IF_ERROR(t.Begin());
    KOS_RETURN_IF_ERROR(c->Exec(kMigrationLock).status());
    if (!pool_.config().schema.empty()) {
      std::string sql = absl::StrCat("CREATE SCHEMA IF NOT EXISTS \"", pool_.config().schema, "\"");
      KOS_RETURN_IF_ERROR(c->Exec(sql.c_str()).status());
    }
    KOS_RETURN_IF_ERROR(
        c->Exec("CREATE TABLE IF NOT EXISTS kos_schema_version (version BIGINT NOT NULL)")
            .status());
    KOS_ASSIGN_OR_RETURN(
        PgResult r, c->Exec("SELECT coalesce(max(version), 0)::bigint FROM kos_schema_version"));
    int64_t have = PgInt64(r.get(), 0, 0);
    if (have > kSchemaVersion) {
      return absl::FailedPreconditionError(
          absl::StrCat("PostgreSQL store at ", pool_.config().address, " has schema version ", have,
                       ", newer than version ", kSchemaVersion,
                       " that this libkos understands; open it with a newer libkos"));
    }
    if (have < 1) {
      // PQexecParams runs one statement; the schema text holds several, which
      // simple-query PQexec through a parameterless Exec cannot: split it.
      for (absl::string_view stmt : absl::StrSplit(kSchemaV1, ';')) {
        if (absl::StripAsciiWhitespace(stmt).empty()) continue;
        KOS_RETURN_IF_ERROR(c->Exec(std::string(stmt).c_str()).status());
      }
      KOS_RETURN_IF_ERROR(c->Exec("DELETE FROM kos_schema_version").status());
      KOS_RETURN_IF_ERROR(c->Exec("INSERT INTO kos_schema_version (version) VALUES ($1::bigint)",
                                  PgParams().Int(kSchemaVersion))
                              .status());
    }
    return t.Commit();
  }

  absl::StatusOr<Record> Get(absl::string_view collection, absl::string_view key) override {
    KOS_RETURN_IF_ERROR(ValidateCollectionName(collection));
    int64_t now = ToMillis(options_.clock->Now());
    KOS_ASSIGN_OR_RETURN(
        PgResult r,
        Read("SELECT value, version, sequence, updated_ms, expires_ms FROM kos_records "
             "WHERE collection = $1 AND key = $2::bytea "
             "AND (expires_ms IS NULL OR expires_ms > $3::bigint)",
             PgParams().Text(std::string(collection)).Bytes(std::string(key)).Int(now)));
    if (PQntuples(r.get()) == 0) {
      return absl::NotFoundError(
          absl::StrCat("no record '", key.substr(0, 128), "' in '", collection, "'"));
    }
    return RowToRecord(r.get(), 0, std::string(collection), std::string(key), 0, true);
  }

  absl::StatusOr<std::vector<WriteResult>> Commit(const std::vector<WriteOp>& ops) override {
    for (const WriteOp& op : ops) KOS_RETURN_IF_ERROR(ValidateWriteOp(op, options_));
    if (ops.empty()) return std::vector<WriteResult>();
    absl::Time now = options_.clock->Now();
    absl::Status last;
    for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
      KOS_ASSIGN_OR_RETURN(auto c, pool_.Acquire());
      bool committing = false;
      absl::StatusOr<std::vector<WriteResult>> r = CommitOnce(c.get(), ops, now, &committing);
      if (r.ok()) return r;
      last = r.status();
      // Rerun only when the server certainly applied nothing: it aborted the
      // transaction, or the connection broke before COMMIT was sent.
      bool lost_before_commit = c->broken() && !committing;
      if (!IsRetryable(last) && !lost_before_commit) return last;
      if (lost_before_commit && attempt >= 1) return last;
      absl::SleepFor(absl::Milliseconds(1 << std::min(attempt, 5)));
    }
    return last;
  }

  absl::StatusOr<ScanPage> Scan(absl::string_view collection, const ScanOptions& options) override {
    KOS_RETURN_IF_ERROR(ValidateCollectionName(collection));
    KOS_RETURN_IF_ERROR(ValidateScanOptions(options));
    std::string start;
    if (!options.page_token.empty()) {
      KOS_ASSIGN_OR_RETURN(start, DecodePageToken(options.page_token));
    }
    int64_t now = ToMillis(options_.clock->Now());
    std::string end = PrefixEnd(options.prefix);
    PgParams p;
    p.Text(std::string(collection)).Int(now).Int(static_cast<int64_t>(options.limit) + 1);
    std::string sql =
        absl::StrCat("SELECT key, ", options.keys_only ? "''::bytea" : "value",
                     ", version, sequence, updated_ms, expires_ms FROM kos_records "
                     "WHERE collection = $1 AND (expires_ms IS NULL OR expires_ms > $2::bigint)");
    int n = 3;
    if (!options.prefix.empty()) {
      p.Bytes(options.prefix);
      absl::StrAppend(&sql, " AND key >= $", ++n, "::bytea");
    }
    if (!end.empty()) {
      p.Bytes(end);
      absl::StrAppend(&sql, " AND key < $", ++n, "::bytea");
    }
    if (!options.page_token.empty()) {
      p.Bytes(start);
      absl::StrAppend(&sql, " AND key > $", ++n, "::bytea");
    }
    absl::StrAppend(&sql, " ORDER BY key LIMIT $3::bigint");
    KOS_ASSIGN_OR_RETURN(PgResult r, Read(sql.c_str(), p));
    ScanPage page;
    int rows = PQntuples(r.get());
    for (int i = 0; i < rows; ++i) {
      if (page.records.size() == options.limit) {
        page.next_page_token = EncodePageToken(page.records.back().key);
        break;
      }
      page.records.push_back(RowToRecord(r.get(), i, std::string(collection),
                                         PgBytes(r.get(), i, 0), 1, !options.keys_only));
    }
    return page;
  }

  absl::StatusOr<std::vector<Change>> Changes(uint64_t after, size_t limit) override {
    for (int attempt = 0;; ++attempt) {
      absl::StatusOr<std::vector<Change>> r = ChangesOnce(after, limit);
      if (r.ok() || attempt >= 1 || r.status().code() != absl::StatusCode::kUnavailable) return r;
    }
  }

  absl::StatusOr<uint64_t> LastSequence() override {
    KOS_ASSIGN_OR_RETURN(PgResult r,
                         Read("SELECT last FROM kos_sequence WHERE id = 1", PgParams()));
    if (PQntuples(r.get()) == 0) return absl::DataLossError("kos_sequence has no row");
    return static_cast<uint64_t>(PgInt64(r.get(), 0, 0));
  }

  absl::StatusOr<size_t> PurgeExpired() override {
    int64_t now = ToMillis(options_.clock->Now());
    KOS_ASSIGN_OR_RETURN(auto c, pool_.Acquire());
    KOS_ASSIGN_OR_RETURN(PgResult r, c->Exec("DELETE FROM kos_records WHERE expires_ms IS NOT NULL "
                                             "AND expires_ms <= $1::bigint",
                                             PgParams().Int(now)));
    size_t n = 0;
    if (!absl::SimpleAtoi(PQcmdTuples(r.get()), &n)) n = 0;
    return n;
  }

 private:
  // One read-only statement; rerun once on a fresh connection if a pooled one
  // turned out to be dead (e.g. after a server restart).
  absl::StatusOr<PgResult> Read(const char* sql, const PgParams& params) {
    for (int attempt = 0;; ++attempt) {
      KOS_ASSIGN_OR_RETURN(auto c, pool_.Acquire());
      absl::StatusOr<PgResult> r = c->Exec(sql, params);
      if (r.ok() || attempt >= 1 || !c->broken()) return r;
    }
  }

  absl::StatusOr<std::vector<Change>> ChangesOnce(uint64_t after, size_t limit) {
    KOS_ASSIGN_OR_RETURN(auto c, pool_.Acquire());
    Txn t(c.get());
    // One snapshot for both queries, so a trim in between cannot be missed.
    KOS_RETURN_IF_ERROR(t.Begin("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"));
    KOS_ASSIGN_OR_RETURN(PgResult first, c->Exec("SELECT min(sequence)::bigint FROM kos_changes"));
    if (!PQgetisnull(first.get(), 0, 0)) {
      uint64_t oldest = static_cast<uint64_t>(PgInt64(first.get(), 0, 0));
      if (after + 1 < oldest) {
        return absl::OutOfRangeError(absl::StrCat("change feed starts at ", oldest,
                                                  "; entries after ", after, " were trimmed"));
      }
    }
    int64_t lim = static_cast<int64_t>(std::min<size_t>(limit, INT64_MAX));
    KOS_ASSIGN_OR_RETURN(
        PgResult r,
        c->Exec(
            "SELECT sequence, collection, key, deleted, version FROM kos_changes "
            "WHERE sequence > $1::bigint ORDER BY sequence LIMIT $2::bigint",
            PgParams().Int(static_cast<int64_t>(std::min<uint64_t>(after, INT64_MAX))).Int(lim)));
    std::vector<Change> out;
    int rows = PQntuples(r.get());
    out.reserve(rows);
    for (int i = 0; i < rows; ++i) {
      Change ch;
      ch.sequence = static_cast<uint64_t>(PgInt64(r.get(), i, 0));
      ch.collection = PgBytes(r.get(), i, 1);
      ch.key = PgBytes(r.get(), i, 2);
      ch.deleted = PgBool(r.get(), i, 3);
      ch.version = static_cast<uint64_t>(PgInt64(r.get(), i, 4));
      out.push_back(std::move(ch));
    }
    KOS_RETURN_IF_ERROR(t.Commit());
    return out;
  }

  absl::StatusOr<std::vector<WriteResult>> CommitOnce(PgConn* c, const std::vector<WriteOp>& ops,
                                                      absl::Time now, bool* committing) {
    int64_t now_ms = ToMillis(now);
    Txn t(c);
    KOS_RETURN_IF_ERROR(t.Begin());
    // The counter row lock serializes commits (see the file comment).
    KOS_ASSIGN_OR_RETURN(PgResult seq_row,
                         c->Exec("SELECT last FROM kos_sequence WHERE id = 1 FOR UPDATE"));
    if (PQntuples(seq_row.get()) == 0) return absl::DataLossError("kos_sequence has no row");
    int64_t seq = PgInt64(seq_row.get(), 0, 0);

    // Version of every key the batch touches as found (0: absent or
    // expired), then as the batch would leave it (a batch may touch a key twice).
    using Key = std::pair<std::string, std::string>;
    std::map<Key, uint64_t> found, pending;
    for (size_t i = 0; i < ops.size(); ++i) {
      const WriteOp& op = ops[i];
      Key k(op.collection, op.key);
      auto it = pending.find(k);
      if (it == pending.end()) {
        KOS_ASSIGN_OR_RETURN(PgResult r,
                             c->Exec("SELECT version, expires_ms FROM kos_records "
                                     "WHERE collection = $1 AND key = $2::bytea FOR UPDATE",
                                     PgParams().Text(op.collection).Bytes(op.key)));
        uint64_t v = 0;
        if (PQntuples(r.get()) == 1 &&
            (PQgetisnull(r.get(), 0, 1) || PgInt64(r.get(), 0, 1) > now_ms)) {
          v = static_cast<uint64_t>(PgInt64(r.get(), 0, 0));
        }
        found.emplace(k, v);
        it = pending.emplace(k, v).first;
      }
      uint64_t current = it->second;
      if (op.expected_version && *op.expected_version != current) {
        return absl::FailedPreconditionError(
            absl::StrCat("version conflict on '", op.collection, "/", op.key.substr(0, 128),
                         "' (op ", i, "): expected ", *op.expected_version, ", found ", current));
      }
      it->second = op.kind == WriteOp::Kind::kPut ? current + 1 : 0;
    }

    // Apply in batch order, replaying the versions from what was found.
    std::map<Key, uint64_t>& live = found;
    std::vector<WriteResult> results;
    results.reserve(ops.size());
    for (const WriteOp& op : ops) {
      Key k(op.collection, op.key);
      ++seq;
      uint64_t current = live[k];
      if (op.kind == WriteOp::Kind::kPut) {
        uint64_t version = current + 1;
        PgParams p;
        p.Text(op.collection).Bytes(op.key).Bytes(op.value).Int(static_cast<int64_t>(version));
        p.Int(seq).Int(now_ms);
        if (op.ttl > absl::ZeroDuration()) {
          p.Int(ToMillis(now + op.ttl));
        } else {
          p.Null();
        }
        KOS_RETURN_IF_ERROR(
            c->Exec("INSERT INTO kos_records "
                    "(collection, key, value, version, sequence, updated_ms, expires_ms) "
                    "VALUES ($1, $2::bytea, $3::bytea, $4::bigint, $5::bigint, $6::bigint, "
                    "$7::bigint) ON CONFLICT (collection, key) DO UPDATE SET "
                    "value = EXCLUDED.value, version = EXCLUDED.version, "
                    "sequence = EXCLUDED.sequence, updated_ms = EXCLUDED.updated_ms, "
                    "expires_ms = EXCLUDED.expires_ms",
                    p)
                .status());
        live[k] = version;
        results.push_back({version, static_cast<uint64_t>(seq)});
      } else {
        KOS_RETURN_IF_ERROR(
            c->Exec("DELETE FROM kos_records WHERE collection = $1 AND key = $2::bytea",
                    PgParams().Text(op.collection).Bytes(op.key))
                .status());
        live[k] = 0;
        results.push_back({current, static_cast<uint64_t>(seq)});
      }
      KOS_RETURN_IF_ERROR(
          c->Exec("INSERT INTO kos_changes (sequence, collection, key, deleted, version) "
                  "VALUES ($1::bigint, $2, $3::bytea, $4::boolean, $5::bigint)",
                  PgParams()
                      .Int(seq)
                      .Text(op.collection)
                      .Bytes(op.key)
                      .Text(op.kind == WriteOp::Kind::kDelete ? "true" : "false")
                      .Int(static_cast<int64_t>(results.back().version)))
              .status());
    }
    KOS_RETURN_IF_ERROR(
        c->Exec("UPDATE kos_sequence SET last = $1::bigint WHERE id = 1", PgParams().Int(seq))
            .status());
    if (options_.change_feed_retention > 0 &&
        static_cast<uint64_t>(seq) > options_.change_feed_retention) {
      KOS_RETURN_IF_ERROR(
          c->Exec("DELETE FROM kos_changes WHERE sequence <= $1::bigint",
                  PgParams().Int(seq - static_cast<int64_t>(options_.change_feed_retention)))
              .status());
    }
    *committing = true;
    KOS_RETURN_IF_ERROR(t.Commit());
    return results;
  }

  const StoreOptions options_;
  PgPool pool_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> OpenPostgresStore(absl::string_view uri,
                                                         const StoreOptions& options) {
  KOS_ASSIGN_OR_RETURN(PostgresConfig config, ParsePostgresUri(uri));
  auto store = std::make_unique<PostgresStore>(options, std::move(config));
  absl::Status s;
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    s = store->Migrate();
    if (!IsRetryable(s)) break;
  }
  KOS_RETURN_IF_ERROR(s);
  return store;
}

}  // namespace kos::internal
