// Memory search and ingest benchmarks.
//
// Search: Fashion-MNIST (Debian package dataset-fashion-mnist: 60,000 train /
// 10,000 test 784-d vectors, pixel values as floats, L2). Ground truth is an
// exact scan. For each efSearch we measure, single-threaded and interleaved,
// raw hnswlib (HierarchicalNSW::searchKnn) and libkos Memory::Search over an
// hnswlib namespace built with the same M / efConstruction / seed, and report
// recall@10, QPS and latency percentiles. Filtered rows use the real class
// label (10% selectivity) and a synthetic bucket (0.1%).
//
// Ingest: Memory::AddBatch of 128-d random vectors (synthetic, clearly not a
// dataset) into an hnswlib namespace on a SQLite store (durable: WAL, each
// batch one transaction), index build included, beside raw hnswlib addPoint
// of the same vectors.
//
// Environment: KOS_BENCH_TRAIN (default 60000), KOS_BENCH_QUERIES (default 1000),
// KOS_BENCH_DATA (default /usr/share/datasets/fashion-mnist).
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "hnswlib/hnswlib.h"
#include "kos/memory.h"
#include "kos/store.h"

namespace {

constexpr int kM = 16;
constexpr int kEfConstruction = 100;
constexpr size_t kK = 10;

size_t EnvSize(const char* name, size_t def) {
  const char* v = getenv(name);
  return v && *v ? strtoull(v, nullptr, 10) : def;
}

// Reads an IDX3 ubyte file (gzip) into floats. Returns count; dim via *dim.
std::vector<float> ReadIdxImages(const std::string& path, size_t limit, int* dim) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) {
    fprintf(stderr, "cannot open %s (apt-get install dataset-fashion-mnist)\n", path.c_str());
    exit(1);
  }
  unsigned char h[16];
  if (gzread(f, h, 16) != 16 || h[2] != 8 || h[3] != 3) {
    fprintf(stderr, "%s: not an IDX3 ubyte file\n", path.c_str());
    exit(1);
  }
  auto be = [&](int o) {
    return (size_t(h[o]) << 24) | (size_t(h[o + 1]) << 16) | (size_t(h[o + 2]) << 8) | h[o + 3];
  };
  const size_t n = std::min(be(4), limit);
  *dim = static_cast<int>(be(8) * be(12));
  std::vector<unsigned char> raw(n * *dim);
  if (gzread(f, raw.data(), raw.size()) != static_cast<int>(raw.size())) {
    fprintf(stderr, "%s: truncated\n", path.c_str());
    exit(1);
  }
  gzclose(f);
  return std::vector<float>(raw.begin(), raw.end());
}

std::vector<int> ReadIdxLabels(const std::string& path, size_t limit) {
  gzFile f = gzopen(path.c_str(), "rb");
  unsigned char h[8];
  if (!f || gzread(f, h, 8) != 8) exit(1);
  size_t n = (size_t(h[4]) << 24) | (size_t(h[5]) << 16) | (size_t(h[6]) << 8) | h[7];
  n = std::min(n, limit);
  std::vector<unsigned char> raw(n);
  gzread(f, raw.data(), raw.size());
  gzclose(f);
  return std::vector<int>(raw.begin(), raw.end());
}

float L2(const float* a, const float* b, int d) {
  float s = 0;
  for (int i = 0; i < d; ++i) {
    const float t = a[i] - b[i];
    s += t * t;
  }
  return s;
}

struct Data {
  int dim = 0;
  size_t n = 0, nq = 0;
  std::vector<float> train, test;
  std::vector<int> labels;
  std::vector<std::vector<int64_t>> truth;  // exact top-10 per query (unfiltered)
  std::unique_ptr<hnswlib::L2Space> space;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> raw;
  std::unique_ptr<kos::Store> store;
  std::unique_ptr<kos::Memory> mem;
  double raw_build_s = 0, kos_build_s = 0;
};

// Exact top-k among train rows accepted by `keep`.
std::vector<int64_t> Exact(const Data& d, const float* q, size_t k,
                           const std::function<bool(size_t)>& keep) {
  std::vector<std::pair<float, int64_t>> best;
  best.reserve(k + 1);
  for (size_t i = 0; i < d.n; ++i) {
    if (keep && !keep(i)) continue;
    const float dist = L2(q, &d.train[i * d.dim], d.dim);
    if (best.size() < k || dist < best.back().first) {
      best.insert(std::upper_bound(best.begin(), best.end(), std::make_pair(dist, int64_t(i))),
                  {dist, int64_t(i)});
      if (best.size() > k) best.pop_back();
    }
  }
  std::vector<int64_t> out;
  for (auto& b : best) out.push_back(b.second);
  return out;
}

Data& GetData() {
  static Data* data = [] {
    auto* d = new Data;
    const std::string dir =
        getenv("KOS_BENCH_DATA") ? getenv("KOS_BENCH_DATA") : "/usr/share/datasets/fashion-mnist";
    d->train = ReadIdxImages(dir + "/train-images-idx3-ubyte.gz", EnvSize("KOS_BENCH_TRAIN", 60000),
                             &d->dim);
    d->n = d->train.size() / d->dim;
    d->labels = ReadIdxLabels(dir + "/train-labels-idx1-ubyte.gz", d->n);
    int qd = 0;
    d->test =
        ReadIdxImages(dir + "/t10k-images-idx3-ubyte.gz", EnvSize("KOS_BENCH_QUERIES", 1000), &qd);
    d->nq = d->test.size() / d->dim;
    for (size_t q = 0; q < d->nq; ++q)
      d->truth.push_back(Exact(*d, &d->test[q * d->dim], kK, nullptr));

    using Clock = std::chrono::steady_clock;
    d->space = std::make_unique<hnswlib::L2Space>(d->dim);
    auto t0 = Clock::now();
    d->raw = std::make_unique<hnswlib::HierarchicalNSW<float>>(d->space.get(), d->n, kM,
                                                               kEfConstruction, 100);
    for (size_t i = 0; i < d->n; ++i) d->raw->addPoint(&d->train[i * d->dim], i);
    d->raw_build_s = std::chrono::duration<double>(Clock::now() - t0).count();

    d->store = *kos::OpenStore("memory:");
    kos::MemoryOptions mo;
    mo.store = d->store.get();
    d->mem = *kos::Memory::Open(mo);
    kos::NamespaceConfig c;
    c.name = "bench/fmnist";
    c.dimension = d->dim;
    c.metric = kos::Metric::kL2;
    c.index = kos::IndexKind::kHnswlib;
    c.m = kM;
    c.ef_construction = kEfConstruction;
    if (!d->mem->CreateNamespace(c).ok()) exit(1);
    t0 = Clock::now();
    for (size_t start = 0; start < d->n; start += 1000) {
      std::vector<kos::MemoryRecord> batch;
      for (size_t i = start; i < std::min(d->n, start + 1000); ++i) {
        kos::MemoryRecord r;
        r.id = absl::StrCat(i);
        r.embedding.assign(&d->train[i * d->dim], &d->train[(i + 1) * d->dim]);
        r.metadata = {{"label", d->labels[i]}, {"bucket", int(i % 1000)}};
        batch.push_back(std::move(r));
      }
      auto s = d->mem->AddBatch("bench/fmnist", std::move(batch));
      if (!s.ok()) {
        fprintf(stderr, "%s\n", s.status().ToString().c_str());
        exit(1);
      }
    }
    d->kos_build_s = std::chrono::duration<double>(Clock::now() - t0).count();
    return d;
  }();
  return *data;
}

// Thread CPU time: on a shared, oversubscribed machine wall-clock latency
// mostly measures the scheduler, so both are reported.
double CpuMicros() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

double Recall(const std::vector<int64_t>& got, const std::vector<int64_t>& truth) {
  if (truth.empty()) return 1.0;
  size_t hit = 0;
  for (auto t : truth) hit += std::count(got.begin(), got.end(), t);
  return double(hit) / truth.size();
}

void Report(benchmark::State& state, std::vector<double> lat_us, std::vector<double> cpu_us,
            double recall_sum, size_t queries) {
  auto put = [&](std::vector<double>& v, const std::string& prefix) {
    std::sort(v.begin(), v.end());
    double total = 0;
    for (double x : v) total += x;
    state.counters[prefix + "qps"] = queries / (total / 1e6);
    state.counters[prefix + "p50_us"] = v[v.size() / 2];
    state.counters[prefix + "p99_us"] = v[std::min(v.size() - 1, v.size() * 99 / 100)];
  };
  put(lat_us, "wall_");
  put(cpu_us, "cpu_");
  state.counters["recall@10"] = recall_sum / queries;
  state.counters["n"] = GetData().n;
}

void BM_RawHnswlib(benchmark::State& state) {
  Data& d = GetData();
  d.raw->setEf(state.range(0));
  std::vector<double> lat, cpu;
  double rs = 0;
  size_t nq = 0;
  for (auto _ : state) {
    for (size_t q = 0; q < d.nq; ++q) {
      const double c0 = CpuMicros();
      auto t0 = std::chrono::steady_clock::now();
      auto res = d.raw->searchKnn(&d.test[q * d.dim], kK);
      lat.push_back(
          std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
      cpu.push_back(CpuMicros() - c0);
      std::vector<int64_t> got;
      while (!res.empty()) {
        got.push_back(res.top().second);
        res.pop();
      }
      rs += Recall(got, d.truth[q]);
      ++nq;
    }
  }
  Report(state, lat, cpu, rs, nq);
  state.counters["build_s"] = d.raw_build_s;
}

// selectivity: 0 = unfiltered, 1 = label == 3 (10%), 2 = bucket == 7 (0.1%).
void BM_KosMemory(benchmark::State& state) {
  Data& d = GetData();
  const int sel = state.range(1);
  std::function<bool(size_t)> keep;
  kos::Json filter = nullptr;
  if (sel == 1) {
    filter = {{"label", 3}};
    keep = [&d](size_t i) { return d.labels[i] == 3; };
  } else if (sel == 2) {
    filter = {{"bucket", 7}};
    keep = [](size_t i) { return i % 1000 == 7; };
  }
  std::vector<std::vector<int64_t>> truth = d.truth;
  if (keep) {
    for (size_t q = 0; q < d.nq; ++q) truth[q] = Exact(d, &d.test[q * d.dim], kK, keep);
  }
  std::vector<double> lat, cpu;
  double rs = 0;
  size_t nq = 0;
  kos::SearchRequest req;
  req.ns = "bench/fmnist";
  req.k = kK;
  req.ef_search = state.range(0);
  req.filter = filter;
  for (auto _ : state) {
    for (size_t q = 0; q < d.nq; ++q) {
      req.vector.assign(&d.test[q * d.dim], &d.test[(q + 1) * d.dim]);
      const double c0 = CpuMicros();
      auto t0 = std::chrono::steady_clock::now();
      auto hits = d.mem->Search(req);
      lat.push_back(
          std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
      cpu.push_back(CpuMicros() - c0);
      if (!hits.ok()) {
        state.SkipWithError(hits.status().ToString().c_str());
        return;
      }
      std::vector<int64_t> got;
      for (auto& h : *hits) got.push_back(std::stoll(h.record.id));
      rs += Recall(got, truth[q]);
      ++nq;
    }
  }
  Report(state, lat, cpu, rs, nq);
  state.counters["build_s"] = d.kos_build_s;
}

std::vector<float> Synthetic(size_t n, int dim) {
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> v(n * dim);
  for (auto& x : v) x = u(rng);
  return v;
}

constexpr int kIngestDim = 128;
constexpr size_t kIngestN = 10000;

void BM_IngestRawHnswlib(benchmark::State& state) {
  auto v = Synthetic(kIngestN, kIngestDim);
  const double c0 = CpuMicros();
  for (auto _ : state) {
    hnswlib::L2Space space(kIngestDim);
    hnswlib::HierarchicalNSW<float> h(&space, kIngestN, kM, kEfConstruction, 100);
    for (size_t i = 0; i < kIngestN; ++i) h.addPoint(&v[i * kIngestDim], i);
    benchmark::DoNotOptimize(h.cur_element_count);
  }
  state.SetItemsProcessed(state.iterations() * kIngestN);
  state.counters["cpu_vectors_per_s"] = kIngestN / ((CpuMicros() - c0) / 1e6);
}

void BM_IngestKosDurable(benchmark::State& state) {
  auto v = Synthetic(kIngestN, kIngestDim);
  const size_t batch = state.range(0);
  for (auto _ : state) {
    state.PauseTiming();
    char tmpl[] = "/tmp/kos_mem_bench_XXXXXX";
    const std::string dir = mkdtemp(tmpl);
    auto store = kos::OpenStore("sqlite://" + dir + "/m.db");
    if (!store.ok()) {
      state.SkipWithError(store.status().ToString().c_str());
      return;
    }
    kos::MemoryOptions mo;
    mo.store = store->get();
    auto mem = *kos::Memory::Open(mo);
    kos::NamespaceConfig c;
    c.name = "bench/ingest";
    c.dimension = kIngestDim;
    c.metric = kos::Metric::kL2;
    c.m = kM;
    c.ef_construction = kEfConstruction;
    if (!mem->CreateNamespace(c).ok()) exit(1);
    std::vector<std::vector<kos::MemoryRecord>> batches;
    for (size_t s = 0; s < kIngestN; s += batch) {
      std::vector<kos::MemoryRecord> b;
      for (size_t i = s; i < std::min(kIngestN, s + batch); ++i) {
        kos::MemoryRecord r;
        r.id = absl::StrCat(i);
        r.embedding.assign(&v[i * kIngestDim], &v[(i + 1) * kIngestDim]);
        b.push_back(std::move(r));
      }
      batches.push_back(std::move(b));
    }
    state.ResumeTiming();
    const double c0 = CpuMicros();
    for (auto& b : batches) {
      auto s = mem->AddBatch("bench/ingest", std::move(b));
      if (!s.ok()) {
        state.SkipWithError(s.status().ToString().c_str());
        return;
      }
    }
    state.counters["cpu_vectors_per_s"] = kIngestN / ((CpuMicros() - c0) / 1e6);
    state.PauseTiming();
    mem.reset();
    store->reset();
    std::filesystem::remove_all(dir);
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * kIngestN);
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  // Interleave baseline and libkos at each setting so machine-load drift hits both.
  for (int ef : {16, 32, 64, 128, 256}) {
    benchmark::RegisterBenchmark("BM_RawHnswlib", BM_RawHnswlib)
        ->Arg(ef)
        ->Iterations(1)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
    benchmark::RegisterBenchmark("BM_KosMemory", BM_KosMemory)
        ->Args({ef, 0})
        ->Iterations(1)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  }
  for (int ef : {64, 128}) {
    for (int sel : {1, 2}) {
      benchmark::RegisterBenchmark("BM_KosMemory", BM_KosMemory)
          ->Args({ef, sel})
          ->Iterations(1)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
    }
  }
  benchmark::RegisterBenchmark("BM_IngestRawHnswlib", BM_IngestRawHnswlib)
      ->Iterations(1)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
  benchmark::RegisterBenchmark("BM_IngestKosDurable", BM_IngestKosDurable)
      ->Arg(1000)
      ->Iterations(1)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
