// Durable task transitions on SQLite (WAL, synchronous=NORMAL), through the
// kos Store and beside raw SQLiteCpp writes of a same-size row, in one run.
//
// A "transition" overwrites one task's row among 10,000 tasks: `bytes` 600
// is a no-op task's full record (what the orchestrator wrote per transition
// before), 64 its compact transition row (task_transitions: state, attempt,
// times, error), which is what it now writes for queued/running/retrying.
// BM_KosTransition/batch: Store::Commit of `batch` puts per transaction
//   (1: one transaction per transition; >1: group commit as the
//   orchestrator's writer does).
// BM_RawSqliteTransition/batch: the same rows with INSERT OR REPLACE into a
//   two-column table in BEGIN IMMEDIATE ... COMMIT, no version, sequence or
//   change feed (the floor for SQLite on this disk).
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "SQLiteCpp/Database.h"
#include "SQLiteCpp/Statement.h"
#include "benchmark/benchmark.h"
#include "kos/id.h"
#include "kos/store.h"

namespace kos {
namespace {

constexpr char kDb[] = "/tmp/kos_orch_durability_bench.db";
constexpr int kTasks = 10000;

void RemoveDb() {
  for (const char* suffix : {"", "-wal", "-shm"}) std::remove((std::string(kDb) + suffix).c_str());
}

std::vector<std::string> TaskIds() {
  std::vector<std::string> ids;
  for (int i = 0; i < kTasks; ++i) ids.push_back(NewId());
  return ids;
}

void BM_KosTransition(benchmark::State& state) {
  const size_t batch = static_cast<size_t>(state.range(0));
  RemoveDb();
  auto store = OpenStore(std::string("sqlite://") + kDb).value();  // synchronous=NORMAL
  std::vector<std::string> ids = TaskIds();
  std::string value(static_cast<size_t>(state.range(1)), 'x');
  size_t next = 0;
  std::vector<WriteOp> ops;
  for (auto _ : state) {
    ops.clear();
    for (size_t i = 0; i < batch; ++i) {
      ops.push_back(WriteOp::Put("task_transitions", ids[next++ % ids.size()], value));
    }
    auto r = store->Commit(ops);
    if (!r.ok()) {
      state.SkipWithError(std::string(r.status().message()).c_str());
      break;
    }
  }
  state.counters["transitions/s"] = benchmark::Counter(
      static_cast<double>(state.iterations() * batch), benchmark::Counter::kIsRate);
  store.reset();
  RemoveDb();
}
BENCHMARK(BM_KosTransition)
    ->ArgNames({"batch", "bytes"})
    ->ArgsProduct({{1, 64, 512, 4096}, {600, 64}})
    ->UseRealTime();

void BM_RawSqliteTransition(benchmark::State& state) {
  const size_t batch = static_cast<size_t>(state.range(0));
  RemoveDb();
  std::vector<std::string> ids = TaskIds();
  std::string value(static_cast<size_t>(state.range(1)), 'x');
  {
    SQLite::Database db(kDb, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA synchronous = NORMAL");
    db.exec("CREATE TABLE t (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID");
    SQLite::Statement begin(db, "BEGIN IMMEDIATE"), commit(db, "COMMIT");
    SQLite::Statement put(db, "INSERT OR REPLACE INTO t (k, v) VALUES (?, ?)");
    size_t next = 0;
    for (auto _ : state) {
      begin.exec();
      begin.reset();
      for (size_t i = 0; i < batch; ++i) {
        const std::string& k = ids[next++ % ids.size()];
        put.bindNoCopy(1, k.data(), static_cast<int>(k.size()));
        put.bindNoCopy(2, value.data(), static_cast<int>(value.size()));
        put.exec();
        put.reset();
      }
      commit.exec();
      commit.reset();
    }
  }
  state.counters["transitions/s"] = benchmark::Counter(
      static_cast<double>(state.iterations() * batch), benchmark::Counter::kIsRate);
  RemoveDb();
}
BENCHMARK(BM_RawSqliteTransition)
    ->ArgNames({"batch", "bytes"})
    ->ArgsProduct({{1, 64, 512, 4096}, {600, 64}})
    ->UseRealTime();

// The orchestrator's transition log: each group commit writes ONE record
// holding `batch` entries (task id + 64-byte compact row, as
// AppendLogEntry lays them out) under a new key, and deletes an older record
// whose rows are all superseded (what the writer does in steady state).
std::string LogRecord(const std::vector<std::string>& ids, size_t* next, size_t batch) {
  std::string row(64, 'r'), rec;
  rec.reserve(batch * 96);
  for (size_t i = 0; i < batch; ++i) {
    rec.append(ids[(*next)++ % ids.size()]);
    rec.append("64:");
    rec.append(row);
  }
  return rec;
}

std::string LogKey(uint64_t n) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "%020llu", static_cast<unsigned long long>(n));
  return buf;
}

void BM_KosTransitionLog(benchmark::State& state) {
  const size_t batch = static_cast<size_t>(state.range(0));
  RemoveDb();
  auto store = OpenStore(std::string("sqlite://") + kDb).value();  // synchronous=NORMAL
  std::vector<std::string> ids = TaskIds();
  size_t next = 0;
  uint64_t n = 0;
  for (auto _ : state) {
    std::vector<WriteOp> ops;
    ops.push_back(WriteOp::Put("task_transition_log", LogKey(++n), LogRecord(ids, &next, batch)));
    if (n > 2) ops.push_back(WriteOp::Delete("task_transition_log", LogKey(n - 2)));
    auto r = store->Commit(ops);
    if (!r.ok()) {
      state.SkipWithError(std::string(r.status().message()).c_str());
      break;
    }
  }
  state.counters["transitions/s"] = benchmark::Counter(
      static_cast<double>(state.iterations() * batch), benchmark::Counter::kIsRate);
  store.reset();
  RemoveDb();
}
BENCHMARK(BM_KosTransitionLog)
    ->ArgName("batch")
    ->Arg(1)
    ->Arg(64)
    ->Arg(512)
    ->Arg(4096)
    ->UseRealTime();

// The same log records through SQLiteCpp: one INSERT of the record and one
// DELETE of an older one per transaction.
void BM_RawSqliteTransitionLog(benchmark::State& state) {
  const size_t batch = static_cast<size_t>(state.range(0));
  RemoveDb();
  std::vector<std::string> ids = TaskIds();
  {
    SQLite::Database db(kDb, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA synchronous = NORMAL");
    db.exec("CREATE TABLE t (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID");
    SQLite::Statement begin(db, "BEGIN IMMEDIATE"), commit(db, "COMMIT");
    SQLite::Statement put(db, "INSERT OR REPLACE INTO t (k, v) VALUES (?, ?)");
    SQLite::Statement del(db, "DELETE FROM t WHERE k = ?");
    size_t next = 0;
    uint64_t n = 0;
    for (auto _ : state) {
      std::string key = LogKey(++n), rec = LogRecord(ids, &next, batch);
      begin.exec();
      begin.reset();
      put.bindNoCopy(1, key.data(), static_cast<int>(key.size()));
      put.bindNoCopy(2, rec.data(), static_cast<int>(rec.size()));
      put.exec();
      put.reset();
      if (n > 2) {
        std::string old = LogKey(n - 2);
        del.bind(1, old.data(), static_cast<int>(old.size()));
        del.exec();
        del.reset();
      }
      commit.exec();
      commit.reset();
    }
  }
  state.counters["transitions/s"] = benchmark::Counter(
      static_cast<double>(state.iterations() * batch), benchmark::Counter::kIsRate);
  RemoveDb();
}
BENCHMARK(BM_RawSqliteTransitionLog)
    ->ArgName("batch")
    ->Arg(1)
    ->Arg(64)
    ->Arg(512)
    ->Arg(4096)
    ->UseRealTime();

}  // namespace
}  // namespace kos

BENCHMARK_MAIN();
