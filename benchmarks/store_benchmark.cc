// SQLite Store vs. hand-written SQLiteCpp doing the same work on the same
// schema and file settings (WAL, synchronous=NORMAL), in the same run.
//
// "Same work" means what the Store promises per write: read the current
// version, upsert the record, append to the change feed, bump the sequence
// counter, trim the feed, all in one BEGIN IMMEDIATE transaction. BM_Kos*
// minus BM_Raw* is therefore the cost of the library itself (validation,
// Status, locking, the connection pool), not of its semantics.
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "SQLiteCpp/SQLiteCpp.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "benchmark/benchmark.h"
#include "kos/store.h"

namespace {

constexpr int kKeySpace = 10000;
constexpr int kScanRecords = 1000;
const std::string kCollection = "bench";

std::string Key(int i) { return absl::StrFormat("key%06d", i); }
std::string Value() { return std::string(100, 'v'); }

// A fresh database file holding the Store's schema, removed afterwards.
class BenchDb {
 public:
  BenchDb() {
    const char* base = getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/kos_bench_XXXXXX";
    dir_ = mkdtemp(tmpl.data()) ? tmpl : "/tmp";
    path_ = dir_ + "/store.db";
    auto s = kos::OpenStore("sqlite://" + path_);  // creates the schema
    if (!s.ok()) abort();
  }
  ~BenchDb() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string dir_, path_;
};

std::unique_ptr<kos::Store> OpenKos(const BenchDb& db) {
  auto s = kos::OpenStore("sqlite://" + db.path());
  if (!s.ok()) abort();
  return std::move(*s);
}

// The baseline: one connection, prepared statements, no library in between.
class Raw {
 public:
  explicit Raw(const BenchDb& db)
      : db_(db.path(), SQLite::OPEN_READWRITE | SQLite::OPEN_NOMUTEX, 30000),
        begin_(db_, "BEGIN IMMEDIATE"),
        commit_(db_, "COMMIT"),
        last_seq_(db_, "SELECT value FROM meta WHERE name = 'last_sequence'"),
        get_version_(db_,
                     "SELECT version, expires_ms FROM records WHERE collection = ?1 AND key = ?2"),
        upsert_(db_,
                "INSERT OR REPLACE INTO records (collection, key, value, version, sequence, "
                "updated_ms, expires_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL)"),
        change_(db_,
                "INSERT INTO changes (sequence, collection, key, deleted, version) "
                "VALUES (?1, ?2, ?3, 0, ?4)"),
        set_seq_(db_, "INSERT OR REPLACE INTO meta (name, value) VALUES ('last_sequence', ?1)"),
        trim_(db_, "DELETE FROM changes WHERE sequence <= ?1"),
        get_(db_,
             "SELECT value, version, sequence, updated_ms, expires_ms FROM records "
             "WHERE collection = ?1 AND key = ?2"),
        scan_(db_,
              "SELECT key, value, version, sequence, updated_ms, expires_ms FROM records "
              "WHERE collection = ?1 AND key >= ?2 AND (expires_ms IS NULL OR expires_ms > ?3) "
              "ORDER BY key LIMIT ?4") {
    db_.exec("PRAGMA synchronous = NORMAL");
  }

  // Writes every (key, value) in one transaction with the Store's bookkeeping.
  void PutBatch(const std::vector<std::pair<std::string, std::string>>& kvs) {
    begin_.exec();
    begin_.reset();
    last_seq_.executeStep();
    int64_t seq = last_seq_.getColumn(0).getInt64();
    last_seq_.reset();
    int64_t now = absl::ToUnixMillis(absl::Now());
    for (const auto& [k, v] : kvs) {
      get_version_.bindNoCopy(1, kCollection);
      get_version_.bindNoCopy(2, k.data(), static_cast<int>(k.size()));
      int64_t version = 0;
      if (get_version_.executeStep()) {
        auto exp = get_version_.getColumn(1);
        if (exp.isNull() || exp.getInt64() > now) version = get_version_.getColumn(0).getInt64();
      }
      get_version_.reset();
      ++seq;
      upsert_.bindNoCopy(1, kCollection);
      upsert_.bindNoCopy(2, k.data(), static_cast<int>(k.size()));
      upsert_.bindNoCopy(3, v.data(), static_cast<int>(v.size()));
      upsert_.bind(4, version + 1);
      upsert_.bind(5, seq);
      upsert_.bind(6, now);
      upsert_.exec();
      upsert_.reset();
      change_.bind(1, seq);
      change_.bindNoCopy(2, kCollection);
      change_.bindNoCopy(3, k.data(), static_cast<int>(k.size()));
      change_.bind(4, version + 1);
      change_.exec();
      change_.reset();
    }
    set_seq_.bind(1, seq);
    set_seq_.exec();
    set_seq_.reset();
    if (seq > 1000000) {
      trim_.bind(1, seq - 1000000);
      trim_.exec();
      trim_.reset();
    }
    commit_.exec();
    commit_.reset();
  }

  kos::Record Get(const std::string& key) {
    get_.bindNoCopy(1, kCollection);
    get_.bindNoCopy(2, key.data(), static_cast<int>(key.size()));
    kos::Record r;
    if (get_.executeStep()) {
      r.collection = kCollection;
      r.key = key;
      auto v = get_.getColumn(0);
      const void* p = v.getBlob();
      r.value.assign(static_cast<const char*>(p), v.getBytes());
      r.version = get_.getColumn(1).getInt64();
      r.sequence = get_.getColumn(2).getInt64();
      r.updated = absl::FromUnixMillis(get_.getColumn(3).getInt64());
    }
    get_.reset();
    return r;
  }

  std::vector<kos::Record> Scan(const std::string& start, int limit) {
    std::vector<kos::Record> out;
    scan_.bindNoCopy(1, kCollection);
    scan_.bindNoCopy(2, start.data(), static_cast<int>(start.size()));
    scan_.bind(3, absl::ToUnixMillis(absl::Now()));
    scan_.bind(4, limit);
    while (scan_.executeStep()) {
      kos::Record r;
      r.collection = kCollection;
      auto k = scan_.getColumn(0);
      const void* kp = k.getBlob();
      r.key.assign(static_cast<const char*>(kp), k.getBytes());
      auto v = scan_.getColumn(1);
      const void* vp = v.getBlob();
      r.value.assign(static_cast<const char*>(vp), v.getBytes());
      r.version = scan_.getColumn(2).getInt64();
      r.sequence = scan_.getColumn(3).getInt64();
      r.updated = absl::FromUnixMillis(scan_.getColumn(4).getInt64());
      out.push_back(std::move(r));
    }
    scan_.reset();
    return out;
  }

 private:
  SQLite::Database db_;
  SQLite::Statement begin_, commit_, last_seq_, get_version_, upsert_, change_, set_seq_, trim_,
      get_, scan_;
};

void Fill(kos::Store& s, int n) {
  std::vector<kos::WriteOp> ops;
  for (int i = 0; i < n; ++i) ops.push_back(kos::WriteOp::Put(kCollection, Key(i), Value()));
  if (!s.Commit(ops).ok()) abort();
}

void BM_KosPut(benchmark::State& state) {
  BenchDb db;
  auto s = OpenKos(db);
  std::string value = Value();
  int i = 0;
  for (auto _ : state) {
    auto r = s->Put(kCollection, Key(i++ % kKeySpace), value);
    if (!r.ok()) state.SkipWithError(std::string(r.status().message()).c_str());
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_RawPut(benchmark::State& state) {
  BenchDb db;
  Raw raw(db);
  std::string value = Value();
  int i = 0;
  std::vector<std::pair<std::string, std::string>> one(1);
  for (auto _ : state) {
    one[0] = {Key(i++ % kKeySpace), value};
    raw.PutBatch(one);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_KosPutBatch100(benchmark::State& state) {
  BenchDb db;
  auto s = OpenKos(db);
  std::string value = Value();
  int i = 0;
  for (auto _ : state) {
    std::vector<kos::WriteOp> ops;
    ops.reserve(100);
    for (int j = 0; j < 100; ++j)
      ops.push_back(kos::WriteOp::Put(kCollection, Key(i++ % kKeySpace), value));
    auto r = s->Commit(ops);
    if (!r.ok()) state.SkipWithError(std::string(r.status().message()).c_str());
  }
  state.SetItemsProcessed(state.iterations() * 100);
}

void BM_RawPutBatch100(benchmark::State& state) {
  BenchDb db;
  Raw raw(db);
  std::string value = Value();
  int i = 0;
  for (auto _ : state) {
    std::vector<std::pair<std::string, std::string>> kvs;
    kvs.reserve(100);
    for (int j = 0; j < 100; ++j) kvs.emplace_back(Key(i++ % kKeySpace), value);
    raw.PutBatch(kvs);
  }
  state.SetItemsProcessed(state.iterations() * 100);
}

void BM_KosGet(benchmark::State& state) {
  BenchDb db;
  auto s = OpenKos(db);
  Fill(*s, kKeySpace);
  int i = 0;
  for (auto _ : state) {
    auto r = s->Get(kCollection, Key(i++ % kKeySpace));
    if (!r.ok()) state.SkipWithError(std::string(r.status().message()).c_str());
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_RawGet(benchmark::State& state) {
  BenchDb db;
  Fill(*OpenKos(db), kKeySpace);
  Raw raw(db);
  int i = 0;
  for (auto _ : state) {
    kos::Record r = raw.Get(Key(i++ % kKeySpace));
    if (r.version == 0) state.SkipWithError("missing record");
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_KosScan100(benchmark::State& state) {
  BenchDb db;
  auto s = OpenKos(db);
  Fill(*s, kScanRecords);
  kos::ScanOptions o;
  o.limit = 100;
  int i = 0;
  for (auto _ : state) {
    // Start at varying points, as a paginating client would.
    o.prefix = "";
    o.page_token = "";
    int start = (i++ * 97) % (kScanRecords - 100);
    if (start > 0) o.page_token = absl::BytesToHexString(Key(start - 1));
    auto page = s->Scan(kCollection, o);
    if (!page.ok() || page->records.size() != 100) state.SkipWithError("short scan");
    benchmark::DoNotOptimize(page);
  }
  state.SetItemsProcessed(state.iterations() * 100);
}

void BM_RawScan100(benchmark::State& state) {
  BenchDb db;
  Fill(*OpenKos(db), kScanRecords);
  Raw raw(db);
  int i = 0;
  for (auto _ : state) {
    int start = (i++ * 97) % (kScanRecords - 100);
    // 101 rows, like the Store, to learn whether another page exists.
    auto rows = raw.Scan(Key(start), 101);
    if (rows.size() != 101) state.SkipWithError("short scan");
    rows.pop_back();
    std::string token = absl::BytesToHexString(rows.back().key);
    benchmark::DoNotOptimize(rows);
    benchmark::DoNotOptimize(token);
  }
  state.SetItemsProcessed(state.iterations() * 100);
}

BENCHMARK(BM_KosPut);
BENCHMARK(BM_RawPut);
BENCHMARK(BM_KosPutBatch100);
BENCHMARK(BM_RawPutBatch100);
BENCHMARK(BM_KosGet);
BENCHMARK(BM_RawGet);
BENCHMARK(BM_KosScan100);
BENCHMARK(BM_RawScan100);

}  // namespace

BENCHMARK_MAIN();
