// SQLite Store backend: one file in WAL mode, safe from many threads and many
// processes.
//
// Writes from this process are serialized on one writer connection (an
// in-process mutex is far cheaper than SQLite's sleeping busy handler), and
// every write transaction starts with BEGIN IMMEDIATE so that two processes
// queue on SQLite's file lock instead of failing on upgrade. Reads use a small
// pool of connections so they run in parallel with the writer (WAL snapshots).
// The sequence counter lives in the database and is bumped inside the write
// transaction, so it stays monotonic across processes and restarts: it is the
// newest change-feed row (trimming always keeps at least one), with
// meta.last_sequence as the floor for a database whose feed is still empty.
// Not rewriting the meta row saves one dirty page per commit, and trimming in
// chunks saves another once the feed is at its retention. With
// StoreOptions::background_checkpoint, WAL checkpoints run on a thread of
// their own (store/sqlite_checkpointer.h) instead of inside commits.
#include <sqlite3.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "kos/status.h"
#include "store/backends.h"
#include "store/sqlite_checkpointer.h"
#include "store/sqlite_conn.h"
#include "store/sqlite_schema.h"

namespace kos::internal {
namespace {

constexpr size_t kMaxIdleReaders = 16;

int64_t ToMillis(absl::Time t) { return absl::ToUnixMillis(t); }

// The smallest string greater than every string starting with `prefix`, or
// "" if there is none (prefix is all 0xff).
std::string PrefixEnd(absl::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    unsigned char last = static_cast<unsigned char>(end.back());
    if (last != 0xff) {
      end.back() = static_cast<char>(last + 1);
      return end;
    }
    end.pop_back();
  }
  return end;
}

Record ReadRecord(SQLite::Statement& s, int first_col, std::string collection, std::string key,
                  bool with_value) {
  Record r;
  r.collection = std::move(collection);
  r.key = std::move(key);
  if (with_value) r.value = ColumnBytes(s, first_col);
  r.version = static_cast<uint64_t>(s.getColumn(first_col + 1).getInt64());
  r.sequence = static_cast<uint64_t>(s.getColumn(first_col + 2).getInt64());
  r.updated = absl::FromUnixMillis(s.getColumn(first_col + 3).getInt64());
  SQLite::Column expires = s.getColumn(first_col + 4);
  r.expires = expires.isNull() ? absl::InfiniteFuture() : absl::FromUnixMillis(expires.getInt64());
  return r;
}

class SqliteStore final : public Store {
 public:
  SqliteStore(std::string path, const StoreOptions& options, std::unique_ptr<SqliteConn> writer)
      : path_(std::move(path)), options_(options), writer_(std::move(writer)) {}

  // Sets WAL mode and migrates the schema.
  absl::Status Init() {
    absl::MutexLock l(&write_mu_);
    KOS_RETURN_IF_ERROR(
        WithBusyRetry("read schema", [&]() { return CheckSqliteFileIsOurs(*writer_, path_); }));
    KOS_RETURN_IF_ERROR(WithBusyRetry("enable WAL", [&]() -> absl::Status {
      // Persistent in the file header; needs no transaction and may briefly
      // be BUSY while another process opens the same file.
      writer_->db().exec("PRAGMA journal_mode = WAL");
      return absl::OkStatus();
    }));
    KOS_RETURN_IF_ERROR(
        WriteTxnLocked("open", [&](SqliteConn& c) { return MigrateSqliteSchema(c, path_); }));
    if (options_.background_checkpoint) {
      SqliteCheckpointerOptions co;
      co.sync_full = options_.sync_full;
      co.busy_timeout = options_.busy_timeout;
      checkpointer_ = std::make_unique<SqliteCheckpointer>(path_, writer_->db().getHandle(), co);
    }
    return absl::OkStatus();
  }

  absl::StatusOr<Record> Get(absl::string_view collection, absl::string_view key) override {
    KOS_RETURN_IF_ERROR(ValidateCollectionName(collection));
    int64_t now = ToMillis(options_.clock->Now());
    const std::string coll(collection);
    Record out;
    bool found = false;
    KOS_RETURN_IF_ERROR(ReadTxn("get", false, [&](SqliteConn& c) -> absl::Status {
      StmtScope q(c.Get(Sql::kGetRecord));
      q->bindNoCopy(1, coll);  // TEXT, as written by Commit
      BindBlob(*q, 2, key);
      found = false;
      if (!q->executeStep()) return absl::OkStatus();
      SQLite::Column expires = q->getColumn(4);
      if (!expires.isNull() && expires.getInt64() <= now) return absl::OkStatus();
      out = ReadRecord(*q, 0, std::string(collection), std::string(key), true);
      found = true;
      return absl::OkStatus();
    }));
    if (!found) {
      return absl::NotFoundError(
          absl::StrCat("no record '", key.substr(0, 128), "' in '", collection, "'"));
    }
    return out;
  }

  absl::StatusOr<std::vector<WriteResult>> Commit(const std::vector<WriteOp>& ops) override {
    for (const WriteOp& op : ops) KOS_RETURN_IF_ERROR(ValidateWriteOp(op, options_));
    if (ops.empty()) return std::vector<WriteResult>();
    absl::Time now = options_.clock->Now();
    int64_t now_ms = ToMillis(now);
    std::vector<WriteResult> results;
    absl::MutexLock l(&write_mu_);
    KOS_RETURN_IF_ERROR(WriteTxnLocked("commit", [&](SqliteConn& c) -> absl::Status {
      results.clear();
      results.reserve(ops.size());
      // Ops run in order inside the transaction, so a later op sees an
      // earlier one's effect; any failure rolls the whole batch back.
      KOS_ASSIGN_OR_RETURN(const int64_t first_seq, ReadLastSequence(c));
      int64_t seq = first_seq;
      for (size_t i = 0; i < ops.size(); ++i) {
        const WriteOp& op = ops[i];
        uint64_t current = 0;
        {
          StmtScope q(c.Get(Sql::kGetVersion));
          q->bindNoCopy(1, op.collection);
          BindBlob(*q, 2, op.key);
          if (q->executeStep()) {
            SQLite::Column expires = q->getColumn(1);
            if (expires.isNull() || expires.getInt64() > now_ms) {
              current = static_cast<uint64_t>(q->getColumn(0).getInt64());
            }
          }
        }
        if (op.expected_version && *op.expected_version != current) {
          return absl::FailedPreconditionError(
              absl::StrCat("version conflict on '", op.collection, "/", op.key.substr(0, 128),
                           "' (op ", i, "): expected ", *op.expected_version, ", found ", current));
        }
        ++seq;
        uint64_t version;
        bool deleted = op.kind == WriteOp::Kind::kDelete;
        if (!deleted) {
          version = current + 1;
          StmtScope w(c.Get(Sql::kUpsertRecord));
          w->bindNoCopy(1, op.collection);
          BindBlob(*w, 2, op.key);
          BindBlob(*w, 3, op.value);
          w->bind(4, static_cast<int64_t>(version));
          w->bind(5, seq);
          w->bind(6, now_ms);
          if (op.ttl > absl::ZeroDuration()) {
            w->bind(7, ToMillis(now + op.ttl));
          } else {
            w->bind(7);
          }
          w->exec();
        } else {
          version = current;
          StmtScope d(c.Get(Sql::kDeleteRecord));
          d->bindNoCopy(1, op.collection);
          BindBlob(*d, 2, op.key);
          d->exec();
        }
        {
          StmtScope ch(c.Get(Sql::kInsertChange));
          ch->bind(1, seq);
          ch->bindNoCopy(2, op.collection);
          BindBlob(*ch, 3, op.key);
          ch->bind(4, deleted ? 1 : 0);
          ch->bind(5, static_cast<int64_t>(version));
          ch->exec();
        }
        results.push_back({version, static_cast<uint64_t>(seq)});
      }
      const int64_t keep = static_cast<int64_t>(options_.change_feed_retention);
      if (keep > 0 && seq > keep) {
        // Trim when the oldest kept sequence crosses a chunk boundary, so a
        // steady-state commit does not also dirty the feed's first page.
        const int64_t chunk = std::clamp<int64_t>(keep / 16, 1, 1024);
        if ((seq - keep) / chunk != std::max<int64_t>(first_seq - keep, 0) / chunk) {
          StmtScope trim(c.Get(Sql::kTrimChanges));
          trim->bind(1, seq - keep);
          trim->exec();
        }
      }
      return absl::OkStatus();
    }));
    return results;
  }

  absl::StatusOr<ScanPage> Scan(absl::string_view collection, const ScanOptions& options) override {
    KOS_RETURN_IF_ERROR(ValidateCollectionName(collection));
    KOS_RETURN_IF_ERROR(ValidateScanOptions(options));
    std::string start = options.prefix;
    if (!options.page_token.empty()) {
      KOS_ASSIGN_OR_RETURN(std::string last, DecodePageToken(options.page_token));
      // The smallest key after `last`; a hostile token below the prefix
      // cannot widen the scan.
      last.push_back('\0');
      start = std::max(start, last);
    }
    std::string end = PrefixEnd(options.prefix);
    const std::string coll(collection);
    int64_t now = ToMillis(options_.clock->Now());
    ScanPage page;
    KOS_RETURN_IF_ERROR(ReadTxn("scan", false, [&](SqliteConn& c) -> absl::Status {
      page.records.clear();
      bool ranged = !end.empty();
      StmtScope q(c.Get(ranged ? Sql::kScanRange : Sql::kScanFrom));
      int i = 1;
      q->bindNoCopy(i++, coll);
      BindBlob(*q, i++, start);
      if (ranged) BindBlob(*q, i++, end);
      q->bind(i++, now);
      q->bind(i++, options.keys_only ? 1 : 0);
      // One extra row tells whether another page exists.
      q->bind(i++, static_cast<int64_t>(options.limit) + 1);
      while (q->executeStep()) {
        if (page.records.size() == options.limit) {
          page.next_page_token = EncodePageToken(page.records.back().key);
          break;
        }
        page.records.push_back(
            ReadRecord(*q, 1, std::string(collection), ColumnBytes(*q, 0), !options.keys_only));
      }
      return absl::OkStatus();
    }));
    return page;
  }

  absl::StatusOr<std::vector<Change>> Changes(uint64_t after, size_t limit) override {
    std::vector<Change> out;
    // Both reads share one snapshot so a concurrent trim cannot slip between
    // the range check and the fetch.
    KOS_RETURN_IF_ERROR(ReadTxn("changes", true, [&](SqliteConn& c) -> absl::Status {
      out.clear();
      {
        StmtScope first(c.Get(Sql::kFirstChange));
        if (first->executeStep() && !first->getColumn(0).isNull()) {
          uint64_t oldest = static_cast<uint64_t>(first->getColumn(0).getInt64());
          if (after + 1 < oldest) {
            return absl::OutOfRangeError(absl::StrCat("change feed starts at ", oldest,
                                                      "; entries after ", after, " were trimmed"));
          }
        }
      }
      if (limit == 0) return absl::OkStatus();
      StmtScope q(c.Get(Sql::kChangesAfter));
      q->bind(1, static_cast<int64_t>(std::min<uint64_t>(after, INT64_MAX)));
      q->bind(2, static_cast<int64_t>(std::min<uint64_t>(limit, INT64_MAX)));
      while (q->executeStep()) {
        Change ch;
        ch.sequence = static_cast<uint64_t>(q->getColumn(0).getInt64());
        ch.collection = q->getColumn(1).getString();
        ch.key = ColumnBytes(*q, 2);
        ch.deleted = q->getColumn(3).getInt() != 0;
        ch.version = static_cast<uint64_t>(q->getColumn(4).getInt64());
        out.push_back(std::move(ch));
      }
      return absl::OkStatus();
    }));
    return out;
  }

  absl::StatusOr<uint64_t> LastSequence() override {
    int64_t seq = 0;
    KOS_RETURN_IF_ERROR(ReadTxn("last sequence", false, [&](SqliteConn& c) -> absl::Status {
      KOS_ASSIGN_OR_RETURN(seq, ReadLastSequence(c));
      return absl::OkStatus();
    }));
    return static_cast<uint64_t>(seq);
  }

  absl::StatusOr<size_t> PurgeExpired() override {
    int64_t now = ToMillis(options_.clock->Now());
    size_t n = 0;
    absl::MutexLock l(&write_mu_);
    KOS_RETURN_IF_ERROR(WriteTxnLocked("purge expired", [&](SqliteConn& c) -> absl::Status {
      StmtScope q(c.Get(Sql::kPurgeExpired));
      q->bind(1, now);
      n = static_cast<size_t>(q->exec());
      return absl::OkStatus();
    }));
    return n;
  }

 private:
  // Hands a pooled reader connection back when it goes out of scope.
  class ReaderLease {
   public:
    ReaderLease(SqliteStore* store, std::unique_ptr<SqliteConn> conn)
        : store_(store), conn_(std::move(conn)) {}
    ~ReaderLease() { store_->ReleaseReader(std::move(conn_)); }
    ReaderLease(const ReaderLease&) = delete;
    ReaderLease& operator=(const ReaderLease&) = delete;
    SqliteConn& conn() { return *conn_; }

   private:
    SqliteStore* store_;
    std::unique_ptr<SqliteConn> conn_;
  };

  absl::StatusOr<int64_t> ReadLastSequence(SqliteConn& c) {
    StmtScope q(c.Get(Sql::kLastSequence));
    q->executeStep();
    SQLite::Column floor = q->getColumn(0);
    if (floor.isNull()) {
      return absl::DataLossError(absl::StrCat("sqlite store '", path_,
                                              "' has no 'last_sequence' entry in its meta table"));
    }
    SQLite::Column newest = q->getColumn(1);
    return std::max(floor.getInt64(), newest.isNull() ? int64_t{0} : newest.getInt64());
  }

  absl::StatusOr<std::unique_ptr<SqliteConn>> AcquireReader() {
    {
      absl::MutexLock l(&pool_mu_);
      if (!idle_readers_.empty()) {
        std::unique_ptr<SqliteConn> c = std::move(idle_readers_.back());
        idle_readers_.pop_back();
        return c;
      }
    }
    return SqliteConn::Open(path_, false, options_.sync_full, options_.busy_timeout);
  }

  void ReleaseReader(std::unique_ptr<SqliteConn> conn) {
    if (conn == nullptr) return;
    absl::MutexLock l(&pool_mu_);
    if (idle_readers_.size() < kMaxIdleReaders) idle_readers_.push_back(std::move(conn));
  }

  // Runs `fn` again while SQLite reports a lock held elsewhere (cases its
  // busy handler does not cover, e.g. WAL recovery), up to busy_timeout.
  // Lock waits use the steady clock, not the injected Clock: they measure
  // real contention, not record lifetimes.
  template <typename Fn>
  absl::Status WithBusyRetry(absl::string_view what, Fn&& fn,
                             const std::function<void()>& on_error = nullptr) {
    auto deadline =
        std::chrono::steady_clock::now() + absl::ToChronoMilliseconds(options_.busy_timeout);
    absl::Duration backoff = absl::Milliseconds(1);
    for (;;) {
      try {
        return fn();
      } catch (const std::exception& e) {
        if (on_error) on_error();
        if (IsBusy(e) && std::chrono::steady_clock::now() < deadline) {
          absl::SleepFor(backoff);
          backoff = std::min(backoff * 2, absl::Milliseconds(50));
          continue;
        }
        return StatusFromException(e, what, path_);
      }
    }
  }

  static void RollbackQuietly(SqliteConn& c) {
    if (sqlite3_get_autocommit(c.db().getHandle()) == 0) c.db().tryExec("ROLLBACK");
  }

  // Runs `body` in a BEGIN IMMEDIATE transaction on the writer connection;
  // commits if it returns OK, rolls back otherwise.
  template <typename Body>
  absl::Status WriteTxnLocked(absl::string_view what, Body&& body)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    SqliteConn& c = *writer_;
    return WithBusyRetry(
        what,
        [&]() -> absl::Status {
          StmtScope(c.Get(Sql::kBeginImmediate))->exec();
          absl::Status s = body(c);
          if (!s.ok()) {
            RollbackQuietly(c);
            return s;
          }
          StmtScope(c.Get(Sql::kCommit))->exec();
          return absl::OkStatus();
        },
        [&] { RollbackQuietly(c); });
  }

  // Runs `body` on a pooled reader, inside BEGIN..COMMIT if `snapshot`
  // (several statements that must agree), else in autocommit mode.
  template <typename Body>
  absl::Status ReadTxn(absl::string_view what, bool snapshot, Body&& body) {
    KOS_ASSIGN_OR_RETURN(std::unique_ptr<SqliteConn> conn, AcquireReader());
    ReaderLease lease(this, std::move(conn));
    SqliteConn& c = lease.conn();
    return WithBusyRetry(
        what,
        [&]() -> absl::Status {
          if (snapshot) StmtScope(c.Get(Sql::kBegin))->exec();
          absl::Status s = body(c);
          if (snapshot) StmtScope(c.Get(Sql::kCommit))->exec();
          return s;
        },
        [&] { RollbackQuietly(c); });
  }

  const std::string path_;
  const StoreOptions options_;
  absl::Mutex write_mu_;
  std::unique_ptr<SqliteConn> writer_ ABSL_GUARDED_BY(write_mu_);
  // Declared after writer_ so that it stops before the writer closes.
  std::unique_ptr<SqliteCheckpointer> checkpointer_;
  absl::Mutex pool_mu_;
  std::vector<std::unique_ptr<SqliteConn>> idle_readers_ ABSL_GUARDED_BY(pool_mu_);
};

absl::Status PathError(absl::string_view what, const std::string& path, const std::error_code& ec) {
  std::string msg = absl::StrCat("sqlite store: cannot ", what, " '", path, "': ", ec.message());
  int err = ec.value();
  if (err == EACCES || err == EPERM || err == EROFS) return absl::PermissionDeniedError(msg);
  if (err == ENOSPC) return absl::ResourceExhaustedError(msg);
  return absl::FailedPreconditionError(msg);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path,
                                                       const StoreOptions& options) {
  if (options.clock == nullptr) return absl::InvalidArgumentError("StoreOptions::clock is null");
  if (path.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError("sqlite store path must not contain NUL bytes");
  }
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::file_status st = fs::status(path, ec);
  if (fs::is_directory(st)) {
    return absl::InvalidArgumentError(
        absl::StrCat("sqlite store path '", path, "' is a directory, not a database file"));
  }
  if (!fs::exists(st)) {
    if (!options.create_if_missing) {
      return absl::NotFoundError(
          absl::StrCat("sqlite store '", path, "' does not exist and create_if_missing is false"));
    }
    fs::path parent = fs::path(path).parent_path();
    if (!parent.empty()) {
      fs::create_directories(parent, ec);
      if (ec) return PathError("create directory", parent.string(), ec);
    }
  }
  KOS_ASSIGN_OR_RETURN(
      std::unique_ptr<SqliteConn> writer,
      SqliteConn::Open(path, options.create_if_missing, options.sync_full, options.busy_timeout));
  auto store = std::make_unique<SqliteStore>(path, options, std::move(writer));
  KOS_RETURN_IF_ERROR(store->Init());
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace kos::internal
