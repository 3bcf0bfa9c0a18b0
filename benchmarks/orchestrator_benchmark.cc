// Dispatch throughput and latency of the orchestrator beside a minimal
// baseline queue, all in one process and run.
//
// BM_BaselineQueue: N no-op jobs through a mutex + condition-variable queue
//   served by `kWorkers` threads (the floor any scheduler pays).
// BM_KosDispatch/N/store/verify_threads (store 0 memory, 1 SQLite, 2
//   discard: tasks go to a store that keeps nothing; nonces to memory): N pre-signed no-op tasks
//   accepted as one plan (verification + durable insert: counter accept_us per task, verified on
//   `verify_threads` threads), then dispatched, run and durably completed by kWorkers workers.
//   tasks/s covers registering the handler until the last task's final state is stored (Shutdown
//   flushes the writer), i.e. queued -> running -> succeeded, persisted.
// BM_VerifyEnvelope: one Ed25519 envelope check with its nonce write, the
//   floor of Submit.
// BM_BaselineEnqueueToStart: BM_KosEnqueueToStart's pacing through the plain
//   queue (the cost of waking a parked worker on this machine).
// BM_KosSubmitToStart/store: one thread submits N tasks one at a time;
//   percentiles of submit-to-start (Submit called -> handler started, so it
//   includes verification and the durable insert), of Submit's own duration,
//   and of start - Submit returned (the dispatch part; negative values, a
//   handler starting before Submit returned, count as 0).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "benchmark/benchmark.h"
#include "kos/id.h"
#include "kos/orchestrator.h"

namespace kos {
namespace {

constexpr int kWorkers = 4;
constexpr char kDb[] = "/tmp/kos_orch_bench.db";
using SteadyClock = std::chrono::steady_clock;

void RemoveDb() {
  for (const char* suffix : {"", "-wal", "-shm"}) std::remove((std::string(kDb) + suffix).c_str());
}

// CPU time of the whole process (all threads), in seconds: on a shared
// machine this says more about the cost per task than wall time does.
double ProcessCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

void BM_BaselineQueue(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  double cpu0 = ProcessCpuSeconds();
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
  state.counters["dispatch_cpu_us"] =
      (ProcessCpuSeconds() - cpu0) / (static_cast<double>(n) * state.iterations()) * 1e6;
}
BENCHMARK(BM_BaselineQueue)->Arg(10000)->Unit(benchmark::kMillisecond)->UseRealTime();

// Accepts every write and keeps nothing: with it, BM_KosDispatch measures
// the scheduler and the encoding of records without any store's cost.
class DiscardStore final : public Store {
 public:
  absl::StatusOr<Record> Get(absl::string_view, absl::string_view) override {
    return absl::NotFoundError("discarded");
  }
  absl::StatusOr<std::vector<WriteResult>> Commit(const std::vector<WriteOp>& ops) override {
    for (const WriteOp& op : ops) benchmark::DoNotOptimize(op.value.data());
    return std::vector<WriteResult>(ops.size(), WriteResult{1, 1});
  }
  absl::StatusOr<ScanPage> Scan(absl::string_view, const ScanOptions&) override {
    return ScanPage{};
  }
  absl::StatusOr<std::vector<Change>> Changes(uint64_t, size_t) override {
    return std::vector<Change>{};
  }
  absl::StatusOr<uint64_t> LastSequence() override { return 0; }
  absl::StatusOr<size_t> PurgeExpired() override { return 0; }
};

enum StoreKind { kMemory = 0, kSqlite = 1, kDiscard = 2 };

// What one durable write costs inside each store, apart from the
// orchestrator: Commit of 512 puts of a 600-byte task record (the final
// state a dispatched task writes) over 10,000 keys. cpu_us_per_put is the
// floor each store adds to BM_KosDispatch's dispatch_cpu_us.
void BM_StorePut(benchmark::State& state) {
  std::remove("/tmp/kos_orch_bench_put.db");
  std::remove("/tmp/kos_orch_bench_put.db-wal");
  std::remove("/tmp/kos_orch_bench_put.db-shm");
  auto store =
      OpenStore(state.range(0) == kSqlite ? "sqlite:///tmp/kos_orch_bench_put.db" : "memory:")
          .value();
  std::vector<std::string> keys;
  for (int i = 0; i < 10000; ++i) keys.push_back(NewId());
  std::string value(600, 'x');
  size_t next = 0;
  double cpu0 = ProcessCpuSeconds();
  for (auto _ : state) {
    std::vector<WriteOp> ops;
    ops.reserve(512);
    for (int i = 0; i < 512; ++i) ops.push_back(WriteOp::Put("tasks", keys[next++ % 10000], value));
    benchmark::DoNotOptimize(store->Commit(ops));
  }
  state.counters["puts/s"] = benchmark::Counter(512.0 * static_cast<double>(state.iterations()),
                                                benchmark::Counter::kIsRate);
  state.counters["cpu_us_per_put"] =
      (ProcessCpuSeconds() - cpu0) / (512.0 * static_cast<double>(state.iterations())) * 1e6;
}
BENCHMARK(BM_StorePut)
    ->ArgName("store")
    ->Arg(kMemory)
    ->Arg(kSqlite)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// A store, a trusted signer and an orchestrator with one agent, kExecutor.
struct Rig {
  std::unique_ptr<Store> store;       // keys and nonces
  std::unique_ptr<Store> task_store;  // tasks (the same as `store` unless discarding)
  std::unique_ptr<KeyRegistry> keys;
  Ed25519KeyPair kp = Ed25519KeyPair::Generate();
  std::unique_ptr<TaskSigner> signer;
  std::unique_ptr<Orchestrator> orch;

  explicit Rig(int64_t kind, int verify_threads = 2) {
    RemoveDb();
    store = OpenStore(kind == kSqlite ? std::string("sqlite://") + kDb : "memory:").value();
    if (kind == kDiscard) task_store = std::make_unique<DiscardStore>();
    KeyRegistryOptions ko;
    ko.store = store.get();
    keys = KeyRegistry::Open(ko).value();
    std::string kid = NewId();
    (void)keys->AddKey(kid, "kCore", kp.public_key());
    TaskSignerOptions so;
    so.issuer = "kCore";
    so.kid = kid;
    so.key_pair = &kp;
    so.ttl = absl::Hours(1);
    signer = TaskSigner::Open(so).value();
    OrchestratorOptions o;
    o.store = task_store ? task_store.get() : store.get();
    o.nonce_store = store.get();
    o.keys = keys.get();
    AgentProfile p;
    p.name = "kExecutor";
    p.type = "executor";
    o.agents = {p};
    o.max_concurrent = kWorkers;
    o.verify_threads = verify_threads;
    orch = Orchestrator::Open(o).value();
  }
  ~Rig() {
    orch.reset();
    task_store.reset();
    store.reset();
    RemoveDb();
  }

  // One envelope (audience kPlanAudience) carrying n no-op tasks.
  std::string SignPlan(int n, int first = 0) {
    TaskRequest r;
    r.audience = kPlanAudience;
    Json tasks = Json::array();
    for (int i = 0; i < n; ++i) {
      tasks.push_back({{"agent", "kExecutor"}, {"input", {{"i", first + i}}}});
    }
    r.payload = {{"tasks", std::move(tasks)}};
    return signer->Sign(r).value().text;
  }

  std::vector<std::string> Sign(int n) {
    std::vector<std::string> out;
    for (int i = 0; i < n; ++i) {
      TaskRequest r;
      r.audience = "kExecutor";
      r.payload = {{"input", {{"i", i}}}};
      out.push_back(signer->Sign(r).value().text);
    }
    return out;
  }
};

void BM_KosDispatch(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  double accept_s = 0, dispatch_s = 0, dispatch_cpu_s = 0;
  for (auto _ : state) {
    state.PauseTiming();
    Rig rig(state.range(1), static_cast<int>(state.range(2)));
    const bool one_envelope = state.range(3) != 0;
    std::vector<std::string> plan;
    std::string envelope;
    if (one_envelope) {
      envelope = rig.SignPlan(n);
    } else {
      plan = rig.Sign(n);
    }
    std::atomic<int> done{0};
    absl::Notification all_ran;
    state.ResumeTiming();
    auto t0 = SteadyClock::now();
    if (one_envelope) {
      (void)rig.orch->SubmitSignedPlan(envelope).value();
    } else {
      (void)rig.orch->SubmitPlan(plan).value();
    }
    auto t1 = SteadyClock::now();
    double cpu1 = ProcessCpuSeconds();
    (void)rig.orch->RegisterHandler("kExecutor", [&](TaskContext&) -> absl::StatusOr<Json> {
      if (++done == n) all_ran.Notify();
      return Json(nullptr);
    });
    all_ran.WaitForNotification();
    (void)rig.orch->Shutdown();  // returns once every final state is stored
    auto t2 = SteadyClock::now();
    dispatch_cpu_s += ProcessCpuSeconds() - cpu1;
    accept_s += std::chrono::duration<double>(t1 - t0).count();
    dispatch_s += std::chrono::duration<double>(t2 - t1).count();
  }
  double total = static_cast<double>(n) * state.iterations();
  state.counters["tasks/s"] = total / dispatch_s;
  state.counters["accept_us"] = accept_s / total * 1e6;
  state.counters["dispatch_cpu_us"] = dispatch_cpu_s / total * 1e6;
}
BENCHMARK(BM_KosDispatch)
    ->ArgNames({"n", "store", "verify_threads", "one_envelope"})
    ->Args({10000, kDiscard, 2, 1})
    ->Args({10000, kMemory, 2, 0})
    ->Args({10000, kMemory, 2, 1})
    ->Args({10000, kSqlite, 2, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(3);

// The whole throughput path: one signed envelope holding n no-op tasks is
// verified, stored, dispatched to the (already registered) handler and every
// final state stored. tasks/s and CPU µs per task cover all of it.
void BM_KosSignedPlanEndToEnd(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  double wall_s = 0, cpu_s = 0;
  for (auto _ : state) {
    state.PauseTiming();
    Rig rig(state.range(1));
    std::string envelope = rig.SignPlan(n);
    std::atomic<int> done{0};
    absl::Notification all_ran;
    (void)rig.orch->RegisterHandler("kExecutor", [&](TaskContext&) -> absl::StatusOr<Json> {
      if (++done == n) all_ran.Notify();
      return Json(nullptr);
    });
    state.ResumeTiming();
    auto t0 = SteadyClock::now();
    double cpu0 = ProcessCpuSeconds();
    (void)rig.orch->SubmitSignedPlan(envelope).value();
    all_ran.WaitForNotification();
    (void)rig.orch->Shutdown();
    cpu_s += ProcessCpuSeconds() - cpu0;
    wall_s += std::chrono::duration<double>(SteadyClock::now() - t0).count();
  }
  double total = static_cast<double>(n) * state.iterations();
  state.counters["tasks/s"] = total / wall_s;
  state.counters["cpu_us"] = cpu_s / total * 1e6;
}
BENCHMARK(BM_KosSignedPlanEndToEnd)
    ->ArgNames({"n", "store"})
    ->Args({10000, kMemory})
    ->Args({10000, kSqlite})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(3);

void BM_VerifyEnvelope(benchmark::State& state) {
  Rig rig(kMemory);
  std::vector<std::string> envs = rig.Sign(20000);
  TaskVerifierOptions vo;
  vo.keys = rig.keys.get();
  vo.nonce_store = rig.store.get();
  vo.audience = "kExecutor";
  auto verifier = TaskVerifier::Open(vo).value();
  size_t i = 0;
  for (auto _ : state) {
    if (i == envs.size()) {
      state.SkipWithError("ran out of envelopes");
      break;
    }
    benchmark::DoNotOptimize(verifier->Verify(envs[i++]));
  }
}
BENCHMARK(BM_VerifyEnvelope)->Unit(benchmark::kMicrosecond)->Iterations(5000);

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

void BM_KosSubmitToStart(benchmark::State& state) {
  const int n = 2000;
  std::vector<double> to_start, submit, dispatch;
  for (auto _ : state) {
    state.PauseTiming();
    Rig rig(state.range(0));
    std::vector<std::string> envs = rig.Sign(n);
    std::vector<SteadyClock::time_point> begin(n), end(n), started(n);
    std::atomic<int> done{0};
    absl::Notification all_ran;
    (void)rig.orch->RegisterHandler("kExecutor", [&](TaskContext& ctx) -> absl::StatusOr<Json> {
      started[ctx.input()["i"].get<int>()] = SteadyClock::now();
      if (++done == n) all_ran.Notify();
      return Json(nullptr);
    });
    state.ResumeTiming();
    for (int i = 0; i < n; ++i) {
      begin[i] = SteadyClock::now();
      (void)rig.orch->Submit(envs[i]).value();
      end[i] = SteadyClock::now();
    }
    all_ran.WaitForNotification();
    state.PauseTiming();
    auto us = [](SteadyClock::duration d) {
      return std::chrono::duration<double, std::micro>(d).count();
    };
    for (int i = 0; i < n; ++i) {
      to_start.push_back(us(started[i] - begin[i]));
      submit.push_back(us(end[i] - begin[i]));
      dispatch.push_back(std::max(0.0, us(started[i] - end[i])));
    }
    state.ResumeTiming();
  }
  state.counters["submit_to_start_p50_us"] = Percentile(to_start, 0.5);
  state.counters["submit_to_start_p99_us"] = Percentile(to_start, 0.99);
  state.counters["submit_p50_us"] = Percentile(submit, 0.5);
  state.counters["submit_p99_us"] = Percentile(submit, 0.99);
  state.counters["after_submit_p50_us"] = Percentile(dispatch, 0.5);
  state.counters["after_submit_p99_us"] = Percentile(dispatch, 0.99);
}
BENCHMARK(BM_KosSubmitToStart)
    ->ArgNames({"store"})
    ->Arg(kMemory)
    ->Arg(kSqlite)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(2);

// The scheduler's latency alone: one-task signed plans submitted one at a
// time to idle workers (each waits for the previous task to run, then 200 µs
// so the workers are parked). enqueue_to_start = handler entered - the task
// became ready (TaskInfo::queued_at, after verification and the durable
// insert); submit_to_start includes the signature check and the insert.
void BM_KosEnqueueToStart(benchmark::State& state) {
  const int n = 2000;
  std::vector<double> to_start, enqueue;
  for (auto _ : state) {
    state.PauseTiming();
    Rig rig(state.range(0));
    std::vector<std::string> envs;
    for (int i = 0; i < n; ++i) envs.push_back(rig.SignPlan(1, i));
    std::vector<SteadyClock::time_point> started(n);
    std::vector<double> enq(n);
    std::atomic<int> done{0};
    (void)rig.orch->RegisterHandler("kExecutor", [&](TaskContext& ctx) -> absl::StatusOr<Json> {
      absl::Time now = absl::Now();
      int i = ctx.input()["i"].get<int>();
      started[i] = SteadyClock::now();
      enq[i] = absl::ToDoubleMicroseconds(now - ctx.info().queued_at);
      done.fetch_add(1, std::memory_order_release);
      return Json(nullptr);
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    state.ResumeTiming();
    for (int i = 0; i < n; ++i) {
      auto begin = SteadyClock::now();
      (void)rig.orch->SubmitSignedPlan(envs[i]).value();
      while (done.load(std::memory_order_acquire) <= i) std::this_thread::yield();
      to_start.push_back(std::chrono::duration<double, std::micro>(started[i] - begin).count());
      enqueue.push_back(enq[i]);
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }
  state.counters["enqueue_to_start_p50_us"] = Percentile(enqueue, 0.5);
  state.counters["enqueue_to_start_p99_us"] = Percentile(enqueue, 0.99);
  state.counters["submit_to_start_p50_us"] = Percentile(to_start, 0.5);
  state.counters["submit_to_start_p99_us"] = Percentile(to_start, 0.99);
}
BENCHMARK(BM_KosEnqueueToStart)
    ->ArgNames({"store"})
    ->Arg(kMemory)
    ->Arg(kSqlite)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(1);

// The baseline for BM_KosEnqueueToStart: the same pacing (one job at a time,
// 200 µs apart, so the kWorkers workers are parked) through a plain mutex +
// condition-variable queue. push_to_start is the floor any scheduler whose
// idle workers sleep pays on this machine: waking a parked thread.
void BM_BaselineEnqueueToStart(benchmark::State& state) {
  const int n = 2000;
  std::vector<double> to_start;
  for (auto _ : state) {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<std::pair<int, SteadyClock::time_point>> q;  // job index, push time
    std::atomic<int> done{0};
    bool stop = false;
    std::vector<double> lat(n);
    std::vector<std::thread> workers;
    for (int w = 0; w < kWorkers; ++w) {
      workers.emplace_back([&] {
        for (;;) {
          std::pair<int, SteadyClock::time_point> job;
          {
            std::unique_lock<std::mutex> l(mu);
            cv.wait(l, [&] { return stop || !q.empty(); });
            if (q.empty()) return;
            job = q.front();
            q.pop_front();
          }
          lat[job.first] =
              std::chrono::duration<double, std::micro>(SteadyClock::now() - job.second).count();
          done.fetch_add(1, std::memory_order_release);
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    for (int i = 0; i < n; ++i) {
      {
        std::lock_guard<std::mutex> l(mu);
        q.emplace_back(i, SteadyClock::now());
      }
      cv.notify_one();
      while (done.load(std::memory_order_acquire) <= i) std::this_thread::yield();
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    {
      std::lock_guard<std::mutex> l(mu);
      stop = true;
    }
    cv.notify_all();
    for (auto& t : workers) t.join();
    to_start.insert(to_start.end(), lat.begin(), lat.end());
  }
  state.counters["push_to_start_p50_us"] = Percentile(to_start, 0.5);
  state.counters["push_to_start_p99_us"] = Percentile(to_start, 0.99);
}
BENCHMARK(BM_BaselineEnqueueToStart)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);

}  // namespace
}  // namespace kos

BENCHMARK_MAIN();
