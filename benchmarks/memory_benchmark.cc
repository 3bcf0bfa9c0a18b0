// Memory search and ingest benchmarks.
//
// Search: Fashion-MNIST (Debian package dataset-fashion-mnist: 60,000 train /
// 10,000 test 784-d vectors, pixel values as floats, L2). Ground truth is an
// exact scan. For each efSearch we measure, single-threaded and interleaved,
// raw hnswlib (HierarchicalNSW::searchKnn), raw FAISS IndexHNSWFlat, and
// libkos Memory::Search over an hnswlib namespace built with the same
// M / efConstruction / seed, and report recall@10, QPS and latency
// percentiles. For each nprobe: raw FAISS IndexIVFFlat and libkos over a
// faiss_ivf namespace, both trained on the first kIvfTrain vectors with
// kIvfNlist lists. Filtered rows use the real class label (10% selectivity)
// and a synthetic bucket (0.1%).
//
// Ingest: Memory::AddBatch of 128-d random vectors (synthetic, clearly not a
// dataset) into an hnswlib or faiss_ivf namespace on a SQLite store (durable:
// WAL, each batch one transaction), index build included, beside the raw
// index's own build (hnswlib addPoint; FAISS IVF train + add) of the same vectors.
//
// Environment: KOS_BENCH_TRAIN (default 60000), KOS_BENCH_QUERIES (default 1000),
// KOS_BENCH_REPEAT (passes over the queries, per-query minimum kept; default 3),
// KOS_BENCH_DATA (default /usr/share/datasets/fashion-mnist), KOS_BENCH_CACHE
// (a directory: the built HNSW graphs -- raw hnswlib, raw FAISS, the libkos
// namespace (SQLite store + checkpointed index) -- are saved there and reused
// by later runs with the same data size and parameters, because building
// them takes minutes on a loaded machine; build times are then reported as 0).
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
#include "faiss/IndexFlat.h"
#include "faiss/IndexHNSW.h"
#include "faiss/IndexIVFFlat.h"
#include "faiss/index_io.h"
#include "hnswlib/hnswlib.h"
#include "kos/memory.h"
#include "kos/store.h"
#include "memory/simd_distance.h"

namespace {

constexpr int kM = 16;
constexpr int kEfConstruction = 100;
constexpr size_t kK = 10;
constexpr int kIvfNlist = 256;
constexpr size_t kIvfTrain = 20000;  // >= 39 * kIvfNlist (FAISS's minimum)

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
    return d;
  }();
  return *data;
}

using SteadyClock = std::chrono::steady_clock;
double Since(SteadyClock::time_point t0) {
  return std::chrono::duration<double>(SteadyClock::now() - t0).count();
}

// "" when KOS_BENCH_CACHE is unset; else a file name in it that encodes
// everything the cached object depends on.
std::string CachePath(const std::string& what) {
  const char* dir = getenv("KOS_BENCH_CACHE");
  if (!dir || !*dir) return "";
  std::filesystem::create_directories(dir);
  return absl::StrCat(dir, "/", what, "_n", GetData().n, "_M", kM, "_efc", kEfConstruction);
}

struct RawHnsw {
  std::unique_ptr<hnswlib::L2Space> space;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> index;
  double build_s = 0;
};

RawHnsw& GetRawHnsw() {
  static RawHnsw* r = [] {
    Data& d = GetData();
    auto* r = new RawHnsw;
    r->space = std::make_unique<hnswlib::L2Space>(d.dim);
    const std::string cache = CachePath("raw_hnswlib");
    if (!cache.empty() && std::filesystem::exists(cache)) {
      r->index = std::make_unique<hnswlib::HierarchicalNSW<float>>(r->space.get(), cache);
      // hnswlib 0.6.2's loading constructor leaves num_deleted_ uninitialized
      // (libkos recounts it too): nothing is deleted here.
      r->index->num_deleted_ = 0;
      return r;
    }
    auto t0 = SteadyClock::now();
    r->index = std::make_unique<hnswlib::HierarchicalNSW<float>>(r->space.get(), d.n, kM,
                                                                 kEfConstruction, 100);
    for (size_t i = 0; i < d.n; ++i) r->index->addPoint(&d.train[i * d.dim], i);
    r->build_s = Since(t0);
    if (!cache.empty()) r->index->saveIndex(cache);
    return r;
  }();
  return *r;
}

struct RawFaiss {
  std::unique_ptr<faiss::Index> index;
  double build_s = 0;
};

// FAISS IndexHNSWFlat, same M / efConstruction (FAISS has no level seed knob;
// its own default seed).
RawFaiss& GetFaissHnsw() {
  static RawFaiss* r = [] {
    Data& d = GetData();
    auto* r = new RawFaiss;
    const std::string cache = CachePath("raw_faiss_hnsw");
    if (!cache.empty() && std::filesystem::exists(cache)) {
      r->index.reset(faiss::read_index(cache.c_str()));
      return r;
    }
    auto t0 = SteadyClock::now();
    auto h = std::make_unique<faiss::IndexHNSWFlat>(d.dim, kM, faiss::METRIC_L2);
    h->hnsw.efConstruction = kEfConstruction;
    h->add(d.n, d.train.data());
    r->build_s = Since(t0);
    r->index = std::move(h);
    if (!cache.empty()) faiss::write_index(r->index.get(), cache.c_str());
    return r;
  }();
  return *r;
}

// FAISS IndexIVFFlat trained on the first kIvfTrain vectors (cheap to build:
// never cached).
RawFaiss& GetFaissIvf() {
  static RawFaiss* r = [] {
    Data& d = GetData();
    auto* r = new RawFaiss;
    auto t0 = SteadyClock::now();
    auto* quantizer = new faiss::IndexFlatL2(d.dim);
    auto ivf = std::make_unique<faiss::IndexIVFFlat>(quantizer, d.dim, kIvfNlist, faiss::METRIC_L2);
    ivf->own_fields = true;
    ivf->train(std::min(d.n, kIvfTrain), d.train.data());
    ivf->add(d.n, d.train.data());
    r->build_s = Since(t0);
    r->index = std::move(ivf);
    return r;
  }();
  return *r;
}

struct Kos {
  std::unique_ptr<kos::Store> store;
  std::unique_ptr<kos::Memory> mem;
  double hnsw_build_s = 0, ivf_build_s = 0;
};

constexpr char kHnswNs[] = "bench/fmnist";
constexpr char kIvfNs[] = "bench/fmnist_ivf";

void AddAll(kos::Memory* mem, const std::string& ns) {
  Data& d = GetData();
  for (size_t start = 0; start < d.n; start += 1000) {
    std::vector<kos::MemoryRecord> batch;
    for (size_t i = start; i < std::min(d.n, start + 1000); ++i) {
      kos::MemoryRecord r;
      r.id = absl::StrCat(i);
      r.embedding.assign(&d.train[i * d.dim], &d.train[(i + 1) * d.dim]);
      r.metadata = {{"label", d.labels[i]}, {"bucket", int(i % 1000)}};
      batch.push_back(std::move(r));
    }
    auto s = mem->AddBatch(ns, std::move(batch));
    if (!s.ok()) {
      fprintf(stderr, "%s\n", s.status().ToString().c_str());
      exit(1);
    }
  }
}

// The libkos namespaces. Without a cache the store is in memory; with one it
// is a SQLite file plus a checkpointed index there, reopened by later runs
// (the search path is the same either way).
Kos& GetKos() {
  static Kos* k = [] {
    Data& d = GetData();
    auto* k = new Kos;
    const std::string cache = CachePath("kos");
    kos::MemoryOptions mo;
    if (cache.empty()) {
      k->store = *kos::OpenStore("memory:");
    } else {
      std::filesystem::create_directories(cache);
      auto st = kos::OpenStore("sqlite://" + cache + "/m.db");
      if (!st.ok()) {
        fprintf(stderr, "%s\n", st.status().ToString().c_str());
        exit(1);
      }
      k->store = std::move(*st);
      mo.index_dir = cache + "/index";
      std::filesystem::create_directories(mo.index_dir);
    }
    mo.store = k->store.get();
    k->mem = *kos::Memory::Open(mo);
    kos::NamespaceConfig c;
    c.name = kHnswNs;
    c.dimension = d.dim;
    c.metric = kos::Metric::kL2;
    c.index = kos::IndexKind::kHnswlib;
    c.m = kM;
    c.ef_construction = kEfConstruction;
    const bool cached = k->mem->GetNamespace(kHnswNs).ok();
    if (!k->mem->CreateNamespace(c).ok()) exit(1);
    if (!cached) {
      auto t0 = SteadyClock::now();
      AddAll(k->mem.get(), kHnswNs);
      k->hnsw_build_s = Since(t0);
      if (!cache.empty() && !k->mem->Checkpoint().ok()) exit(1);
    }
    return k;
  }();
  return *k;
}

// The IVF namespace lives in its own in-memory store: it is cheap to build,
// so it is never cached.
kos::Memory& GetKosIvf(double* build_s) {
  static double secs = 0;
  static Kos* k = [] {
    Data& d = GetData();
    auto* k = new Kos;
    k->store = *kos::OpenStore("memory:");
    kos::MemoryOptions mo;
    mo.store = k->store.get();
    k->mem = *kos::Memory::Open(mo);
    kos::NamespaceConfig c;
    c.name = kIvfNs;
    c.dimension = d.dim;
    c.metric = kos::Metric::kL2;
    c.index = kos::IndexKind::kFaissIvf;
    c.nlist = kIvfNlist;
    c.ivf_train_size = static_cast<int>(std::min(d.n, kIvfTrain));
    if (!k->mem->CreateNamespace(c).ok()) exit(1);
    auto t0 = SteadyClock::now();
    AddAll(k->mem.get(), kIvfNs);
    secs = Since(t0);
    return k;
  }();
  *build_s = secs;
  return *k->mem;
}

// Thread CPU time: on a shared, oversubscribed machine wall-clock latency
// mostly measures the scheduler, so both are reported.
double CpuMicros(clockid_t clock = CLOCK_THREAD_CPUTIME_ID) {
  timespec ts;
  clock_gettime(clock, &ts);
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

// Runs the test queries through `search` (which returns result ids)
// KOS_BENCH_REPEAT times (default 3) and keeps, per query, the smallest
// thread CPU time and wall time: on a shared machine a preempted query also
// loses its caches, which inflates even its CPU time, and the minimum of a
// few runs removes most of that. Recall is from the first pass.
template <typename F>
void RunQueries(benchmark::State& state, const std::vector<std::vector<int64_t>>& truth,
                F&& search) {
  Data& d = GetData();
  const size_t repeat = std::max<size_t>(1, EnvSize("KOS_BENCH_REPEAT", 3));
  std::vector<double> lat(d.nq, 1e300), cpu(d.nq, 1e300);
  std::vector<int64_t> got;
  double rs = 0;
  for (auto _ : state) {
    for (size_t rep = 0; rep < repeat; ++rep) {
      for (size_t q = 0; q < d.nq; ++q) {
        got.clear();
        const double c0 = CpuMicros();
        auto t0 = SteadyClock::now();
        if (!search(q, &got)) return;
        lat[q] = std::min(
            lat[q], std::chrono::duration<double, std::micro>(SteadyClock::now() - t0).count());
        cpu[q] = std::min(cpu[q], CpuMicros() - c0);
        if (rep == 0) rs += Recall(got, truth[q]);
      }
    }
  }
  Report(state, lat, cpu, rs, d.nq);
  state.counters["repeat"] = repeat;
}

// range(1) picks the distance kernel of the same raw graph: 0 = hnswlib's own
// (Debian compiles it for SSE), 1 = the AVX2+FMA kernel libkos uses on this
// CPU, so that "libkos vs raw" compares like with like.
void BM_RawHnswlib(benchmark::State& state) {
  Data& d = GetData();
  RawHnsw& r = GetRawHnsw();
  r.index->setEf(state.range(0));
  if (state.range(1) == 1) {
    const auto kernel = kos::memory_internal::L2SquaredAvx2Kernel();
    if (kernel == nullptr) {
      state.SkipWithError("this CPU has no AVX2+FMA: libkos uses hnswlib's kernel");
      return;
    }
    r.index->fstdistfunc_ = kernel;
  } else {
    r.index->fstdistfunc_ = r.space->get_dist_func();
  }
  RunQueries(state, d.truth, [&](size_t q, std::vector<int64_t>* got) {
    auto res = r.index->searchKnn(&d.test[q * d.dim], kK);
    while (!res.empty()) {
      got->push_back(res.top().second);
      res.pop();
    }
    return true;
  });
  state.counters["build_s"] = r.build_s;
}

void BM_RawFaissHnsw(benchmark::State& state) {
  Data& d = GetData();
  RawFaiss& r = GetFaissHnsw();
  // FAISS 1.7.3's IndexHNSW::search does not read efSearch from
  // SearchParametersHNSW (recall stayed flat across efSearch): set it on the index.
  static_cast<faiss::IndexHNSW*>(r.index.get())->hnsw.efSearch = state.range(0);
  std::vector<float> dist(kK);
  std::vector<faiss::Index::idx_t> labels(kK);
  RunQueries(state, d.truth, [&](size_t q, std::vector<int64_t>* got) {
    r.index->search(1, &d.test[q * d.dim], kK, dist.data(), labels.data());
    for (auto l : labels) {
      if (l >= 0) got->push_back(l);
    }
    return true;
  });
  state.counters["build_s"] = r.build_s;
}

void BM_RawFaissIvf(benchmark::State& state) {
  Data& d = GetData();
  RawFaiss& r = GetFaissIvf();
  faiss::SearchParametersIVF p;
  p.nprobe = state.range(0);
  std::vector<float> dist(kK);
  std::vector<faiss::Index::idx_t> labels(kK);
  RunQueries(state, d.truth, [&](size_t q, std::vector<int64_t>* got) {
    r.index->search(1, &d.test[q * d.dim], kK, dist.data(), labels.data(), &p);
    for (auto l : labels) {
      if (l >= 0) got->push_back(l);
    }
    return true;
  });
  state.counters["build_s"] = r.build_s;
}

// Memory::Search over `mem`/`ns` with ef_search (HNSW) or nprobe (IVF) =
// range(0); selectivity range(1): 0 = unfiltered, 1 = label == 3 (10%),
// 2 = bucket == 7 (0.1%).
void KosSearch(benchmark::State& state, kos::Memory& mem, const char* ns) {
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
  kos::SearchRequest req;
  req.ns = ns;
  req.k = kK;
  req.ef_search = state.range(0);
  req.filter = filter;
  std::vector<std::vector<float>> queries(d.nq);
  for (size_t q = 0; q < d.nq; ++q) {
    queries[q].assign(&d.test[q * d.dim], &d.test[(q + 1) * d.dim]);
  }
  RunQueries(state, truth, [&](size_t q, std::vector<int64_t>* got) {
    // Moved in and out so the copy of the query is not timed (the raw
    // baselines take a pointer).
    req.vector = std::move(queries[q]);
    auto hits = mem.Search(req);
    queries[q] = std::move(req.vector);
    if (!hits.ok()) {
      state.SkipWithError(hits.status().ToString().c_str());
      return false;
    }
    for (auto& h : *hits) got->push_back(std::stoll(h.record.id));
    return true;
  });
}

void BM_KosMemory(benchmark::State& state) {
  Kos& k = GetKos();
  KosSearch(state, *k.mem, kHnswNs);
  state.counters["build_s"] = k.hnsw_build_s;
}

void BM_KosIvf(benchmark::State& state) {
  double build_s = 0;
  kos::Memory& mem = GetKosIvf(&build_s);
  KosSearch(state, mem, kIvfNs);
  state.counters["build_s"] = build_s;
}

std::vector<float> Synthetic(size_t n, int dim) {
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> v(n * dim);
  for (auto& x : v) x = u(rng);
  return v;
}

constexpr int kIngestDim = 128;

// range(0): vectors.
void BM_IngestRawHnswlib(benchmark::State& state) {
  const size_t n = state.range(0);
  auto v = Synthetic(n, kIngestDim);
  const double c0 = CpuMicros();
  for (auto _ : state) {
    hnswlib::L2Space space(kIngestDim);
    hnswlib::HierarchicalNSW<float> h(&space, n, kM, kEfConstruction, 100);
    for (size_t i = 0; i < n; ++i) h.addPoint(&v[i * kIngestDim], i);
    benchmark::DoNotOptimize(h.cur_element_count);
  }
  state.SetItemsProcessed(state.iterations() * n);
  state.counters["cpu_vectors_per_s"] = n / ((CpuMicros() - c0) / 1e6);
}

// range(0): vectors; trains on the first kIngestIvfTrain, like the libkos
// namespace below.
constexpr size_t kIngestIvfTrain = 10000;
void BM_IngestRawFaissIvf(benchmark::State& state) {
  const size_t n = state.range(0);
  auto v = Synthetic(n, kIngestDim);
  const double c0 = CpuMicros();
  for (auto _ : state) {
    auto* quantizer = new faiss::IndexFlatL2(kIngestDim);
    faiss::IndexIVFFlat ivf(quantizer, kIngestDim, 100, faiss::METRIC_L2);
    ivf.own_fields = true;
    ivf.train(std::min(n, kIngestIvfTrain), v.data());
    for (size_t s = 0; s < n; s += 1000) ivf.add(std::min<size_t>(1000, n - s), &v[s * kIngestDim]);
    benchmark::DoNotOptimize(ivf.ntotal);
  }
  state.SetItemsProcessed(state.iterations() * n);
  state.counters["cpu_vectors_per_s"] = n / ((CpuMicros() - c0) / 1e6);
}

enum class IngestStore { kSqlite, kSqliteBackgroundCheckpoint, kInMemory };

// range(0): IndexKind; range(1): vectors. Batches of 1000, into a SQLite file
// (WAL, synchronous=NORMAL), with SQLite's own checkpoints or with
// StoreOptions::background_checkpoint, or into the in-memory store, which
// shows libkos's own cost (validation, encoding, index) without the disk.
void IngestKos(benchmark::State& state, IngestStore where) {
  const auto kind = static_cast<kos::IndexKind>(state.range(0));
  const size_t n = state.range(1);
  const size_t batch = 1000;
  auto v = Synthetic(n, kIngestDim);
  for (auto _ : state) {
    state.PauseTiming();
    char tmpl[] = "/tmp/kos_mem_bench_XXXXXX";
    const std::string dir = mkdtemp(tmpl);
    kos::StoreOptions so;
    so.background_checkpoint = where == IngestStore::kSqliteBackgroundCheckpoint;
    auto store = kos::OpenStore(
        where == IngestStore::kInMemory ? std::string("memory:") : "sqlite://" + dir + "/m.db", so);
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
    c.index = kind;
    c.m = kM;
    c.ef_construction = kEfConstruction;
    c.nlist = 100;
    c.ivf_train_size = kIngestIvfTrain;
    if (!mem->CreateNamespace(c).ok()) exit(1);
    std::vector<std::vector<kos::MemoryRecord>> batches;
    for (size_t s = 0; s < n; s += batch) {
      std::vector<kos::MemoryRecord> b;
      for (size_t i = s; i < std::min(n, s + batch); ++i) {
        kos::MemoryRecord r;
        r.id = absl::StrCat(i);
        r.embedding.assign(&v[i * kIngestDim], &v[(i + 1) * kIngestDim]);
        b.push_back(std::move(r));
      }
      batches.push_back(std::move(b));
    }
    state.ResumeTiming();
    const double c0 = CpuMicros();
    const double p0 = CpuMicros(CLOCK_PROCESS_CPUTIME_ID);
    for (auto& b : batches) {
      auto s = mem->AddBatch("bench/ingest", std::move(b));
      if (!s.ok()) {
        state.SkipWithError(s.status().ToString().c_str());
        return;
      }
    }
    state.counters["cpu_vectors_per_s"] = n / ((CpuMicros() - c0) / 1e6);
    // Includes the store's checkpoint thread (thread CPU above does not).
    state.counters["process_cpu_vectors_per_s"] =
        n / ((CpuMicros(CLOCK_PROCESS_CPUTIME_ID) - p0) / 1e6);
    state.PauseTiming();
    mem.reset();
    store->reset();
    std::filesystem::remove_all(dir);
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * n);
}

void BM_IngestKosDurable(benchmark::State& state) { IngestKos(state, IngestStore::kSqlite); }
void BM_IngestKosDurableBgCheckpoint(benchmark::State& state) {
  IngestKos(state, IngestStore::kSqliteBackgroundCheckpoint);
}
void BM_IngestKosInMemory(benchmark::State& state) { IngestKos(state, IngestStore::kInMemory); }

benchmark::internal::Benchmark* Once(benchmark::internal::Benchmark* b) {
  return b->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  // Interleave baselines and libkos at each setting so machine-load drift hits all.
  for (int ef : {16, 32, 64, 128, 256}) {
    Once(benchmark::RegisterBenchmark("BM_RawHnswlib", BM_RawHnswlib)->Args({ef, 0}));
    Once(benchmark::RegisterBenchmark("BM_RawHnswlib", BM_RawHnswlib)->Args({ef, 1}));
    Once(benchmark::RegisterBenchmark("BM_KosMemory", BM_KosMemory)->Args({ef, 0}));
    Once(benchmark::RegisterBenchmark("BM_RawFaissHnsw", BM_RawFaissHnsw)->Arg(ef));
  }
  for (int ef : {64, 128}) {
    for (int sel : {1, 2}) {
      Once(benchmark::RegisterBenchmark("BM_KosMemory", BM_KosMemory)->Args({ef, sel}));
    }
  }
  for (int nprobe : {4, 8, 16, 32}) {
    Once(benchmark::RegisterBenchmark("BM_RawFaissIvf", BM_RawFaissIvf)->Arg(nprobe));
    Once(benchmark::RegisterBenchmark("BM_KosIvf", BM_KosIvf)->Args({nprobe, 0}));
  }
  Once(benchmark::RegisterBenchmark("BM_IngestRawHnswlib", BM_IngestRawHnswlib)->Arg(10000));
  Once(benchmark::RegisterBenchmark("BM_IngestKosDurable", BM_IngestKosDurable)
           ->Args({static_cast<int>(kos::IndexKind::kHnswlib), 10000}));
  Once(benchmark::RegisterBenchmark("BM_IngestRawFaissIvf", BM_IngestRawFaissIvf)->Arg(100000));
  Once(benchmark::RegisterBenchmark("BM_IngestKosDurable", BM_IngestKosDurable)
           ->Args({static_cast<int>(kos::IndexKind::kFaissIvf), 100000}));
  Once(benchmark::RegisterBenchmark("BM_IngestKosDurableBgCheckpoint",
                                    BM_IngestKosDurableBgCheckpoint)
           ->Args({static_cast<int>(kos::IndexKind::kFaissIvf), 100000}));
  Once(benchmark::RegisterBenchmark("BM_IngestKosInMemory", BM_IngestKosInMemory)
           ->Args({static_cast<int>(kos::IndexKind::kFaissIvf), 100000}));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
