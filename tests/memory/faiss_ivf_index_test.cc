// FAISS IVF index: exact before training, recall vs brute force after,
// filters, explicit (re)training, deletes that free memory, save/load in both
// phases, and a namespace of this kind through Memory (train, checkpoint,
// reopen). The generic VectorIndex contract is in vector_index_test.cc.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>
#include <set>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "kos/memory.h"
#include "kos/store.h"
#include "kos/vector_index.h"
#include "testing/test_util.h"

namespace kos {
namespace {

constexpr int kDim = 16;

// The FAISS calls in this test binary are tiny; OpenMP's spinning worker
// threads make them ~3x slower on a loaded 2-core machine. The tests check
// behaviour, not parallel speed, so the whole binary runs FAISS on one thread.
const bool kOneOmpThread = [] {
  omp_set_num_threads(1);
  return true;
}();

// Points around `clusters` random centres: IVF's lists then mean something,
// unlike for uniform noise.
std::vector<float> Clustered(size_t n, int clusters, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g;
  std::vector<float> centres(clusters * kDim);
  for (auto& x : centres) x = 3 * g(rng);
  std::vector<float> v(n * kDim);
  for (size_t i = 0; i < n; ++i) {
    const int c = static_cast<int>(rng() % clusters);
    for (int j = 0; j < kDim; ++j) v[i * kDim + j] = centres[c * kDim + j] + 0.7f * g(rng);
  }
  return v;
}

std::vector<int64_t> Iota(size_t n, int64_t start = 0) {
  std::vector<int64_t> ids(n);
  for (size_t i = 0; i < n; ++i) ids[i] = start + static_cast<int64_t>(i);
  return ids;
}

std::unique_ptr<VectorIndex> MakeIvf(size_t train_size, int nlist, int nprobe) {
  VectorIndexOptions o;
  o.dimension = kDim;
  o.metric = Metric::kL2;
  o.kind = IndexKind::kFaissIvf;
  o.ivf_train_size = train_size;
  o.nlist = nlist;
  o.nprobe = nprobe;
  auto idx = VectorIndex::Create(o);
  EXPECT_TRUE(idx.ok()) << idx.status();
  return *std::move(idx);
}

// Exact top-k by brute force over `ids` the filter accepts (SearchSubset is
// an exact scan; its own correctness is checked in vector_index_test.cc).
std::vector<int64_t> Truth(const VectorIndex& idx, absl::Span<const float> q, size_t k,
                           const std::vector<int64_t>& ids, const IdFilter& f = nullptr) {
  std::vector<int64_t> cand;
  for (int64_t id : ids) {
    if (!f || f(id)) cand.push_back(id);
  }
  auto r = idx.SearchSubset(q, k, cand);
  EXPECT_TRUE(r.ok());
  std::vector<int64_t> out;
  for (auto& n : *r) out.push_back(n.id);
  return out;
}

double RecallAt10(const VectorIndex& idx, const std::vector<float>& queries,
                  const std::vector<int64_t>& ids, int nprobe, const IdFilter& f = nullptr) {
  size_t hit = 0, total = 0;
  for (size_t q = 0; q < queries.size() / kDim; ++q) {
    auto qv = absl::MakeConstSpan(queries).subspan(q * kDim, kDim);
    auto r = idx.Search(qv, 10, f, nprobe);
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return 0;
    std::set<int64_t> got;
    for (auto& n : *r) {
      if (f) {
        EXPECT_TRUE(f(n.id)) << "filter not applied to " << n.id;
      }
      got.insert(n.id);
    }
    auto truth = Truth(idx, qv, 10, ids, f);
    EXPECT_EQ(r->size(), truth.size()) << "fewer than k results";
    for (auto id : truth) hit += got.count(id);
    total += truth.size();
  }
  return total ? static_cast<double>(hit) / total : 1.0;
}

TEST(FaissIvfIndexTest, ExactUntilTrainSizeThenTrains) {
  auto idx = MakeIvf(/*train_size=*/1000, /*nlist=*/16, /*nprobe=*/1);
  auto v = Clustered(1500, 20, 1);
  auto queries = Clustered(20, 20, 2);
  KOS_ASSERT_OK(idx->Add(Iota(600), absl::MakeSpan(v).subspan(0, 600 * kDim)));
  EXPECT_FALSE(idx->Trained());
  // Untrained: an exact scan, whatever nprobe says.
  EXPECT_EQ(RecallAt10(*idx, queries, Iota(600), 1), 1.0);
  KOS_ASSERT_OK(idx->Add(Iota(900, 600), absl::MakeSpan(v).subspan(600 * kDim)));
  EXPECT_TRUE(idx->Trained());
  EXPECT_EQ(idx->Size(), 1500u);
  // Every vector survived the move into the lists.
  std::vector<float> got(kDim);
  for (int64_t id : {0, 599, 600, 1499}) {
    KOS_ASSERT_OK(idx->GetVector(id, got.data()));
    EXPECT_TRUE(std::equal(got.begin(), got.end(), v.begin() + id * kDim));
  }
}

TEST(FaissIvfIndexTest, RecallAgainstBruteForce) {
  const size_t n = 4000;
  auto idx = MakeIvf(/*train_size=*/2000, /*nlist=*/32, /*nprobe=*/8);
  auto v = Clustered(n, 40, 3);
  KOS_ASSERT_OK(idx->Add(Iota(n), v));
  ASSERT_TRUE(idx->Trained());
  auto queries = Clustered(40, 40, 4);
  const double low = RecallAt10(*idx, queries, Iota(n), 0);  // options' nprobe = 8 of 32
  EXPECT_GE(low, 0.9);
  // Probing every list is an exact search.
  EXPECT_EQ(RecallAt10(*idx, queries, Iota(n), 32), 1.0);
  // One list is worse than eight: nprobe really reaches FAISS.
  EXPECT_LT(RecallAt10(*idx, queries, Iota(n), 1), low);
}

TEST(FaissIvfIndexTest, FiltersKeepRecallAtLowNprobe) {
  const size_t n = 4000;
  auto idx = MakeIvf(2000, 32, 1);
  KOS_ASSERT_OK(idx->Add(Iota(n), Clustered(n, 40, 5)));
  auto queries = Clustered(30, 40, 6);
  for (int mod : {10, 100}) {
    IdFilter f = [mod](int64_t id) { return id % mod == 3; };
    // With one probed list a 1% filter would mostly come back short; the
    // index widens the probe until it has k matches.
    EXPECT_GE(RecallAt10(*idx, queries, Iota(n), 0, f), 0.95) << "1/" << mod;
  }
}

TEST(FaissIvfIndexTest, ExplicitTrainAndRebuild) {
  auto idx = MakeIvf(/*train_size=*/100000, /*nlist=*/8, /*nprobe=*/8);
  auto v = Clustered(800, 10, 7);
  KOS_ASSERT_OK(idx->Add(Iota(400), absl::MakeSpan(v).subspan(0, 400 * kDim)));
  EXPECT_FALSE(idx->Trained());
  KOS_ASSERT_OK(idx->Train());
  EXPECT_TRUE(idx->Trained());
  KOS_ASSERT_OK(idx->Add(Iota(400, 400), absl::MakeSpan(v).subspan(400 * kDim)));
  KOS_ASSERT_OK(idx->Remove(Iota(100)).status());
  // Rebuild: re-cluster the 700 live vectors; nothing is lost or revived.
  KOS_ASSERT_OK(idx->Train());
  EXPECT_EQ(idx->Size(), 700u);
  EXPECT_FALSE(idx->Contains(50));
  std::vector<float> got(kDim);
  KOS_ASSERT_OK(idx->GetVector(799, got.data()));
  EXPECT_TRUE(std::equal(got.begin(), got.end(), v.begin() + 799 * kDim));
  EXPECT_EQ(RecallAt10(*idx, Clustered(10, 10, 8), Iota(700, 100), 8), 1.0);
  // An empty index trains to nothing and stays usable.
  auto empty = MakeIvf(10, 4, 1);
  KOS_ASSERT_OK(empty->Train());
  EXPECT_EQ(empty->Search(std::vector<float>(kDim, 1.0f), 5)->size(), 0u);
}

TEST(FaissIvfIndexTest, DeletesFreeMemoryAndNeverReturn) {
  const size_t n = 4000;
  auto idx = MakeIvf(1000, 16, 16);
  auto v = Clustered(n, 20, 9);
  KOS_ASSERT_OK(idx->Add(Iota(n), v));
  const size_t full = idx->MemoryUsage();
  ASSERT_EQ(*idx->Remove(Iota(3000)), 3000u);
  EXPECT_EQ(idx->Size(), 1000u);
  EXPECT_LT(idx->MemoryUsage(), full * 4 / 10) << full;
  for (int q = 0; q < 20; ++q) {
    auto r = idx->Search(absl::MakeSpan(v).subspan(q * kDim, kDim), 10);
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r->size(), 10u);
    for (auto& nb : *r) EXPECT_GE(nb.id, 3000);
  }
  std::vector<float> got(kDim);
  EXPECT_EQ(idx->GetVector(5, got.data()).code(), absl::StatusCode::kNotFound);
}

TEST(FaissIvfIndexTest, SaveLoadBothPhases) {
  testing::TempDir dir;
  auto v = Clustered(1200, 12, 10);
  auto queries = Clustered(10, 12, 11);
  for (size_t n : {size_t{300}, size_t{1200}}) {  // untrained, trained
    auto idx = MakeIvf(1000, 8, 2);
    KOS_ASSERT_OK(idx->Add(Iota(n), absl::MakeSpan(v).subspan(0, n * kDim)));
    KOS_ASSERT_OK(idx->Remove({7}).status());
    const std::string path = dir.File(absl::StrCat("ivf", n));
    KOS_ASSERT_OK(idx->Save(path));
    auto loaded = MakeIvf(1000, 8, 2);
    KOS_ASSERT_OK(loaded->Load(path));
    EXPECT_EQ(loaded->Trained(), n >= 1000);
    EXPECT_EQ(loaded->Size(), n - 1);
    EXPECT_FALSE(loaded->Contains(7));
    for (size_t q = 0; q < 10; ++q) {
      auto qv = absl::MakeSpan(queries).subspan(q * kDim, kDim);
      auto a = idx->Search(qv, 10);
      auto b = loaded->Search(qv, 10);
      ASSERT_TRUE(a.ok() && b.ok());
      ASSERT_EQ(a->size(), b->size());
      for (size_t i = 0; i < a->size(); ++i) EXPECT_EQ((*a)[i].id, (*b)[i].id);
    }
    // The loaded index keeps accepting adds and deletes.
    KOS_ASSERT_OK(loaded->Add({5000}, absl::MakeSpan(v).subspan(0, kDim)));
    EXPECT_EQ(*loaded->Remove({5000, 8}), 2u);
    // A flipped byte is DATA_LOSS and leaves the index as it was.
    std::string bytes = testing::ReadFileOrDie(path);
    bytes[bytes.size() / 2] ^= 0x5a;
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
    EXPECT_EQ(loaded->Load(path).code(), absl::StatusCode::kDataLoss);
    EXPECT_EQ(loaded->Size(), n - 2);
  }
}

TEST(FaissIvfIndexTest, MemoryNamespaceTrainsSearchesAndReloads) {
  testing::TempDir dir;
  auto store = *OpenStore("memory:", {});
  auto open = [&] {
    MemoryOptions o;
    o.store = store.get();
    o.index_dir = dir.path();
    return *Memory::Open(o);
  };
  auto mem = open();
  NamespaceConfig c;
  c.name = "big/ivf";
  c.dimension = kDim;
  c.metric = Metric::kL2;
  c.index = IndexKind::kFaissIvf;
  c.nlist = 8;
  c.nprobe = 2;
  c.ivf_train_size = 100000;
  KOS_ASSERT_OK(mem->CreateNamespace(c));
  auto v = Clustered(600, 8, 12);
  std::vector<MemoryRecord> batch;
  for (int i = 0; i < 600; ++i) {
    MemoryRecord r;
    r.id = absl::StrCat("r", i);
    r.embedding.assign(v.begin() + i * kDim, v.begin() + (i + 1) * kDim);
    r.metadata = {{"even", i % 2 == 0}};
    batch.push_back(std::move(r));
  }
  KOS_ASSERT_OK(mem->AddBatch(c.name, std::move(batch)).status());
  KOS_ASSERT_OK(mem->TrainIndex(c.name));
  EXPECT_EQ(mem->TrainIndex("no/such").code(), absl::StatusCode::kNotFound);
  KOS_ASSERT_OK(mem->Delete(c.name, "r2"));
  auto search = [&](Memory& m) {
    SearchRequest q;
    q.ns = c.name;
    q.vector.assign(v.begin() + 2 * kDim, v.begin() + 3 * kDim);  // r2's own vector
    q.k = 5;
    q.filter = {{"even", true}};
    q.ef_search = 8;  // all lists
    auto hits = m.Search(q);
    EXPECT_TRUE(hits.ok()) << hits.status();
    std::vector<std::string> ids;
    for (auto& h : *hits) {
      EXPECT_TRUE(h.record.metadata["even"].get<bool>());
      ids.push_back(h.record.id);
    }
    return ids;
  };
  auto before = search(*mem);
  ASSERT_EQ(before.size(), 5u);
  EXPECT_EQ(std::count(before.begin(), before.end(), "r2"), 0);
  KOS_ASSERT_OK(mem->Checkpoint());
  mem.reset();
  mem = open();
  auto cfg = mem->GetNamespace(c.name);
  ASSERT_TRUE(cfg.ok());
  EXPECT_EQ(cfg->nlist, 8);
  EXPECT_EQ(cfg->nprobe, 2);
  EXPECT_EQ(cfg->ivf_train_size, 100000);
  EXPECT_EQ(search(*mem), before);
  EXPECT_EQ(mem->Stats(c.name)->records, 599u);
}

}  // namespace
}  // namespace kos
