// Vault put/get throughput on memory: and SQLite, with the raw Store put/get
// of a same-sized value as the baseline in the same run.
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "kos/vault.h"

namespace kos {
namespace {

class NullAuditSink : public AuditSink {
 public:
  absl::Status Record(const AuditEvent&) override {
    count_.fetch_add(1, std::memory_order_relaxed);
    return absl::OkStatus();
  }

 private:
  std::atomic<uint64_t> count_{0};
};

// arg 0: memory, 1: sqlite (a fresh file in /tmp per benchmark).
struct Env {
  explicit Env(int64_t backend) {
    if (backend == 0) {
      uri = "memory:";
    } else {
      path = absl::StrCat("/tmp/kos_vault_bench_", getpid(), "_", counter++, ".db");
      uri = "sqlite:" + path;
    }
    store = *OpenStore(uri);
    VaultOptions o;
    o.store = store.get();
    o.audit = &audit;
    o.master_key = &master;
    o.master_key_env = "";
    vault = *Vault::Open(o);
  }
  ~Env() {
    vault.reset();
    store.reset();
    if (!path.empty()) {
      for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path + suffix).c_str());
    }
  }
  static inline int counter = 0;
  std::string uri, path;
  NullAuditSink audit;
  SecretBytes master = SecretBytes::Random(32);
  std::unique_ptr<Store> store;
  std::unique_ptr<Vault> vault;
};

const char* BackendName(int64_t b) { return b == 0 ? "memory" : "sqlite"; }
const std::string kValue(64, 'v');  // an API-key-sized secret
constexpr int kPaths = 1000;

void BM_VaultPut(benchmark::State& state) {
  Env env(state.range(0));
  int i = 0;
  for (auto _ : state) {
    auto r = env.vault->Put("bench", absl::StrCat("kv/bench/", i++ % kPaths), kValue);
    if (!r.ok()) state.SkipWithError(r.status().ToString().c_str());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(BackendName(state.range(0)));
}
BENCHMARK(BM_VaultPut)->Arg(0)->Arg(1);

void BM_StorePut_Baseline(benchmark::State& state) {
  Env env(state.range(0));
  // Same size as a vault data record of a 64-byte value (wrapped DEK + ciphertext, base64url JSON).
  const std::string record(250, 'x');
  int i = 0;
  for (auto _ : state) {
    auto r = env.store->Put("bench", absl::StrCat("kv/bench/", i++ % kPaths), record);
    if (!r.ok()) state.SkipWithError(r.status().ToString().c_str());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(BackendName(state.range(0)));
}
BENCHMARK(BM_StorePut_Baseline)->Arg(0)->Arg(1);

void BM_VaultGet(benchmark::State& state) {
  Env env(state.range(0));
  for (int i = 0; i < kPaths; ++i)
    (void)env.vault->Put("bench", absl::StrCat("kv/bench/", i), kValue);
  int i = 0;
  for (auto _ : state) {
    auto r = env.vault->Get("bench", absl::StrCat("kv/bench/", i++ % kPaths));
    if (!r.ok()) state.SkipWithError(r.status().ToString().c_str());
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(BackendName(state.range(0)));
}
BENCHMARK(BM_VaultGet)->Arg(0)->Arg(1);

void BM_StoreGet_Baseline(benchmark::State& state) {
  Env env(state.range(0));
  const std::string record(250, 'x');
  for (int i = 0; i < kPaths; ++i)
    (void)env.store->Put("bench", absl::StrCat("kv/bench/", i), record);
  int i = 0;
  for (auto _ : state) {
    auto r = env.store->Get("bench", absl::StrCat("kv/bench/", i++ % kPaths));
    if (!r.ok()) state.SkipWithError(r.status().ToString().c_str());
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(BackendName(state.range(0)));
}
BENCHMARK(BM_StoreGet_Baseline)->Arg(0)->Arg(1);

}  // namespace
}  // namespace kos

BENCHMARK_MAIN();
