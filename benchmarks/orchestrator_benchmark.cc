// Dispatch throughput of the orchestrator beside a minimal baseline queue.
//
// BM_BaselineQueue: N no-op jobs through a mutex + condition-variable queue
//   served by `workers` threads (the floor any scheduler pays).
// BM_KosDispatch: N pre-signed no-op tasks accepted as one plan
//   (verification + durable insert, timed separately as "accept") and then
//   dispatched, run and durably completed by the same number of workers.
// Counters: tasks/s over the dispatch phase, and accept_us per task.
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "benchmark/benchmark.h"
#include "kos/orchestrator.h"

namespace kos {
namespace {

constexpr int kWorkers = 4;

void BM_BaselineQueue(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  for (auto _ : state) {
    std::mutex mu;
    std::condition_variable cv, done_cv;
    std::deque<std::function<void()>> q;
    std::atomic<int> done{0};
    bool stop = false;
    std::vector<std::thread> workers;
    for (int w = 0; w < kWorkers; ++w) {
      workers.emplace_back([&] {
        for (;;) {
          std::function<void()> job;
          {
            std::unique_lock<std::mutex> l(mu);
            cv.wait(l, [&] { return stop || !q.empty(); });
            if (q.empty()) return;
            job = std::move(q.front());
            q.pop_front();
          }
          job();
          if (++done == n) done_cv.notify_all();
        }
      });
    }
    {
      std::lock_guard<std::mutex> l(mu);
      for (int i = 0; i < n; ++i) q.push_back([] { benchmark::ClobberMemory(); });
    }
    cv.notify_all();
    {
      std::unique_lock<std::mutex> l(mu);
      done_cv.wait(l, [&] { return done.load() == n; });
      stop = true;
    }
    cv.notify_all();
    for (auto& t : workers) t.join();
  }
  state.counters["tasks/s"] =
      benchmark::Counter(static_cast<double>(n) * state.iterations(), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_BaselineQueue)->Arg(10000)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_KosDispatch(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  double accept_s = 0, dispatch_s = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto store = OpenStore(state.range(1) ? "sqlite:///tmp/kos_orch_bench.db" : "memory:").value();
    KeyRegistryOptions ko;
    ko.store = store.get();
    auto keys = KeyRegistry::Open(ko).value();
    Ed25519KeyPair kp = Ed25519KeyPair::Generate();
    std::string kid = NewId();
    (void)keys->AddKey(kid, "kCore", kp.public_key());
    TaskSignerOptions so;
    so.issuer = "kCore";
    so.kid = kid;
    so.key_pair = &kp;
    auto signer = TaskSigner::Open(so).value();
    std::vector<std::string> plan;
    for (int i = 0; i < n; ++i) {
      TaskRequest r;
      r.audience = "kExecutor";
      plan.push_back(signer->Sign(r).value().text);
    }
    OrchestratorOptions o;
    o.store = store.get();
    o.keys = keys.get();
    AgentProfile p;
    p.name = "kExecutor";
    p.type = "executor";
    o.agents = {p};
    o.max_concurrent = kWorkers;
    auto orch = Orchestrator::Open(o).value();
    std::atomic<int> done{0};
    state.ResumeTiming();
    auto t0 = std::chrono::steady_clock::now();
    std::string plan_id = orch->SubmitPlan(plan).value();
    auto t1 = std::chrono::steady_clock::now();
    (void)orch->RegisterHandler("kExecutor", [&](TaskContext&) -> absl::StatusOr<Json> {
      ++done;
      return Json(nullptr);
    });
    auto tasks = orch->PlanTasks(plan_id).value();
    for (const auto& t : tasks) (void)orch->Wait(t.id, absl::Seconds(600));
    auto t2 = std::chrono::steady_clock::now();
    accept_s += std::chrono::duration<double>(t1 - t0).count();
    dispatch_s += std::chrono::duration<double>(t2 - t1).count();
    state.PauseTiming();
    orch.reset();
    store.reset();
    std::remove("/tmp/kos_orch_bench.db");
    std::remove("/tmp/kos_orch_bench.db-wal");
    std::remove("/tmp/kos_orch_bench.db-shm");
    state.ResumeTiming();
  }
  double total = static_cast<double>(n) * state.iterations();
  state.counters["tasks/s"] = total / dispatch_s;
  state.counters["accept_us"] = accept_s / total * 1e6;
}
BENCHMARK(BM_KosDispatch)
    ->Args({10000, 0})
    ->Args({10000, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(3);

}  // namespace
}  // namespace kos

BENCHMARK_MAIN();
