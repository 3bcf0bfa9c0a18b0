#include "kos/vector_index.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>
#include <set>

#include "absl/container/flat_hash_set.h"
#include "gtest/gtest.h"
#include "testing/test_util.h"

namespace kos {
namespace {

// Unit-length random vectors: under inner product a vector is then its own
// nearest neighbour, as under cosine and L2.
std::vector<float> RandomVectors(size_t n, int d, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g;
  std::vector<float> v(n * d);
  for (auto& x : v) x = g(rng);
  for (size_t i = 0; i < n; ++i) {
    double s = 0;
    for (int j = 0; j < d; ++j) s += v[i * d + j] * v[i * d + j];
    for (int j = 0; j < d; ++j) v[i * d + j] /= std::sqrt(s);
  }
  return v;
}

std::vector<int64_t> Iota(size_t n, int64_t start = 0) {
  std::vector<int64_t> ids(n);
  for (size_t i = 0; i < n; ++i) ids[i] = start + static_cast<int64_t>(i);
  return ids;
}

struct Param {
  IndexKind kind;
  Metric metric;
};

std::string ParamName(const ::testing::TestParamInfo<Param>& p) {
  return std::string(IndexKindName(p.param.kind)) + "_" + MetricName(p.param.metric);
}

class VectorIndexTest : public ::testing::TestWithParam<Param> {
 protected:
  std::unique_ptr<VectorIndex> Make(int d = 16) {
    VectorIndexOptions o;
    o.dimension = d;
    o.kind = GetParam().kind;
    o.metric = GetParam().metric;
    o.ef_search = 64;
    o.ef_construction = 40;  // keeps the suite fast on a shared machine
    // IVF: train at 250 vectors on 6 lists, probe 2, so that most tests below
    // run on a trained index (searching a third of it) and a few on the
    // untrained flat phase.
    o.ivf_train_size = 250;
    o.nlist = 6;
    o.nprobe = 2;
    auto idx = VectorIndex::Create(o);
    EXPECT_TRUE(idx.ok()) << idx.status();
    return *std::move(idx);
  }
  // Exact top-k ids among `ids` accepted by `filter`.
  std::vector<int64_t> BruteForce(const VectorIndex& idx, const std::vector<float>& q, size_t k,
                                  const std::vector<int64_t>& ids, const IdFilter& filter) {
    std::vector<int64_t> cand;
    for (int64_t id : ids) {
      if (idx.Contains(id) && (!filter || filter(id))) cand.push_back(id);
    }
    auto r = idx.SearchSubset(q, k, cand);
    EXPECT_TRUE(r.ok());
    std::vector<int64_t> out;
    for (auto& n : *r) out.push_back(n.id);
    return out;
  }
};

TEST_P(VectorIndexTest, FindsItselfFirst) {
  const int d = 16;
  auto idx = Make(d);
  auto v = RandomVectors(500, d, 1);
  KOS_ASSERT_OK(idx->Add(Iota(500, 1000), v));
  EXPECT_EQ(idx->Size(), 500u);
  int hits = 0;
  for (int i = 0; i < 50; ++i) {
    auto r = idx->Search(absl::MakeSpan(v).subspan(i * d, d), 3);
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->size(), 3u);
    hits += (*r)[0].id == 1000 + i;
    EXPECT_GE((*r)[0].score, (*r)[1].score);
    EXPECT_GE((*r)[1].score, (*r)[2].score);
  }
  EXPECT_GE(hits, 49);
}

TEST_P(VectorIndexTest, FilteredSearchMatchesBruteForce) {
  const int d = 16;
  const size_t n = 3000;
  auto idx = Make(d);
  auto v = RandomVectors(n, d, 2);
  auto ids = Iota(n);
  KOS_ASSERT_OK(idx->Add(ids, v));
  auto queries = RandomVectors(30, d, 3);
  for (int mod : {10, 100}) {  // 10% and 1% selectivity
    IdFilter f = [mod](int64_t id) { return id % mod == 3; };
    size_t found = 0, total = 0;
    for (int qi = 0; qi < 30; ++qi) {
      std::vector<float> q(queries.begin() + qi * d, queries.begin() + (qi + 1) * d);
      auto r = idx->Search(q, 10, f, 128);
      ASSERT_TRUE(r.ok()) << r.status();
      for (auto& nb : *r) ASSERT_EQ(nb.id % mod, 3) << "filter not applied";
      auto truth = BruteForce(*idx, q, 10, ids, f);
      std::set<int64_t> got;
      for (auto& nb : *r) got.insert(nb.id);
      for (auto id : truth) found += got.count(id);
      total += truth.size();
      EXPECT_EQ(r->size(), truth.size()) << "filtered search returned fewer than k";
    }
    EXPECT_GE(static_cast<double>(found) / total, 0.95) << "selectivity 1/" << mod;
  }
}

TEST_P(VectorIndexTest, RemoveHidesAndReplaceUpdates) {
  const int d = 8;
  auto idx = Make(d);
  auto v = RandomVectors(200, d, 4);
  KOS_ASSERT_OK(idx->Add(Iota(200), v));
  std::vector<int64_t> gone = Iota(100);
  auto removed = idx->Remove(gone);
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(*removed, 100u);
  EXPECT_EQ(*idx->Remove(gone), 0u);
  EXPECT_EQ(idx->Size(), 100u);
  for (int i = 0; i < 20; ++i) {
    auto r = idx->Search(absl::MakeSpan(v).subspan(i * d, d), 10);
    ASSERT_TRUE(r.ok());
    for (auto& nb : *r) EXPECT_GE(nb.id, 100);
  }
  // Replacing id 150 with vector 0 makes it the nearest to vector 0.
  KOS_ASSERT_OK(idx->Add({150}, absl::MakeSpan(v).subspan(0, d)));
  EXPECT_EQ(idx->Size(), 100u);
  auto r = idx->Search(absl::MakeSpan(v).subspan(0, d), 1);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].id, 150);
}

TEST_P(VectorIndexTest, ChurnKeepsMemoryNearLiveSet) {
  const int d = 16;
  const size_t live = 1000;
  auto idx = Make(d);
  std::mt19937 rng(5);
  std::vector<int64_t> ids = Iota(live);
  KOS_ASSERT_OK(idx->Add(ids, RandomVectors(live, d, 6)));
  int64_t next = live;
  for (int round = 0; round < 10; ++round) {
    std::shuffle(ids.begin(), ids.end(), rng);
    std::vector<int64_t> drop(ids.begin(), ids.begin() + 250);
    ASSERT_EQ(*idx->Remove(drop), 250u);
    std::vector<int64_t> add = Iota(250, next);
    next += 250;
    KOS_ASSERT_OK(idx->Add(add, RandomVectors(250, d, 100 + round)));
    std::copy(add.begin(), add.end(), ids.begin());
  }
  ASSERT_EQ(idx->Size(), live);
  // The same live set built fresh is the reference for "memory of the live set".
  auto fresh = Make(d);
  std::vector<float> vecs(live * d);
  for (size_t i = 0; i < live; ++i) KOS_ASSERT_OK(idx->GetVector(ids[i], &vecs[i * d]));
  KOS_ASSERT_OK(fresh->Add(ids, vecs));
  const double ratio = static_cast<double>(idx->MemoryUsage()) / fresh->MemoryUsage();
  EXPECT_LE(ratio, 1.3) << idx->MemoryUsage() << " vs fresh " << fresh->MemoryUsage();
  // Search still works after churn.
  auto r = idx->Search(absl::MakeSpan(vecs).subspan(0, d), 1);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].id, ids[0]);
}

TEST_P(VectorIndexTest, BadInputChangesNothing) {
  const int d = 4;
  auto idx = Make(d);
  KOS_ASSERT_OK(idx->Add({1, 2}, {1, 0, 0, 0, 0, 1, 0, 0}));
  std::vector<float> bad = {1, 2, 3};
  EXPECT_EQ(idx->Add({3}, bad).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(idx->Add({3, 4}, {1, 0, 0, 0, NAN, 1, 0, 0}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(idx->Add({3}, {INFINITY, 0, 0, 0}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(idx->Add({3, 3}, {1, 0, 0, 0, 0, 1, 0, 0}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(idx->Size(), 2u);
  EXPECT_FALSE(idx->Contains(3));
  EXPECT_EQ(idx->Search(bad, 1).status().code(), absl::StatusCode::kInvalidArgument);
  std::vector<float> nanq = {NAN, 0, 0, 0};
  EXPECT_EQ(idx->Search(nanq, 1).status().code(), absl::StatusCode::kInvalidArgument);
  if (GetParam().metric == Metric::kCosine) {
    EXPECT_EQ(idx->Add({3}, {0, 0, 0, 0}).code(), absl::StatusCode::kInvalidArgument);
  }
  auto r = idx->Search(std::vector<float>{1, 0, 0, 0}, 5);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->size(), 2u);
}

TEST_P(VectorIndexTest, SaveLoadRoundTripAndCorruption) {
  const int d = 8;
  testing::TempDir dir;
  auto idx = Make(d);
  auto v = RandomVectors(300, d, 7);
  KOS_ASSERT_OK(idx->Add(Iota(300), v));
  KOS_ASSERT_OK(idx->Remove(Iota(50)).status());
  const std::string path = dir.File("idx.bin");
  KOS_ASSERT_OK(idx->Save(path));
  auto loaded = Make(d);
  KOS_ASSERT_OK(loaded->Load(path));
  EXPECT_EQ(loaded->Size(), 250u);
  EXPECT_FALSE(loaded->Contains(10));
  for (int i = 50; i < 60; ++i) {
    auto a = idx->Search(absl::MakeSpan(v).subspan(i * d, d), 5);
    auto b = loaded->Search(absl::MakeSpan(v).subspan(i * d, d), 5);
    ASSERT_TRUE(a.ok() && b.ok());
    ASSERT_EQ(a->size(), b->size());
    for (size_t j = 0; j < a->size(); ++j) EXPECT_EQ((*a)[j].id, (*b)[j].id);
  }
  // Adds after load keep working (slot tables restored).
  KOS_ASSERT_OK(loaded->Add(Iota(10, 5000), RandomVectors(10, d, 8)));
  EXPECT_EQ(loaded->Size(), 260u);
  // Flip a byte in the middle: DATA_LOSS, and the index is unchanged.
  std::string bytes = testing::ReadFileOrDie(path);
  bytes[bytes.size() / 2] ^= 0x5a;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  EXPECT_EQ(loaded->Load(path).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(loaded->Size(), 260u);
  // Options mismatch is detected too.
  KOS_ASSERT_OK(idx->Save(path));
  auto other = Make(d + 1);
  EXPECT_EQ(other->Load(path).code(), absl::StatusCode::kDataLoss);
}

// The graph walks keep their own live/id tables beside the index (hnswlib);
// churn (remove, reuse the slot for another id) and a reload with freed
// slots must leave those tables agreeing with the index: a filtered search,
// plain or seeded, returns live matching ids only, finds an id re-added with
// a new vector, and agrees with brute force.
TEST_P(VectorIndexTest, FilteredWalksAfterChurnAndReload) {
  const int d = 16;
  const size_t n = 2000;
  testing::TempDir dir;
  auto idx = Make(d);
  auto v = RandomVectors(n, d, 21);
  KOS_ASSERT_OK(idx->Add(Iota(n), v));
  std::vector<int64_t> gone;
  for (size_t i = 0; i < n; i += 4) gone.push_back(static_cast<int64_t>(i));
  ASSERT_EQ(*idx->Remove(gone), gone.size());
  // New ids take the freed slots; id 1 moves to where query 0 will look.
  auto fresh = RandomVectors(100, d, 22);
  KOS_ASSERT_OK(idx->Add(Iota(100, 10000), fresh));
  auto queries = RandomVectors(20, d, 23);
  std::vector<float> moved(queries.begin(), queries.begin() + d);
  KOS_ASSERT_OK(idx->Add({1}, moved));
  const std::string path = dir.File("churn.bin");
  KOS_ASSERT_OK(idx->Save(path));
  auto loaded = Make(d);
  KOS_ASSERT_OK(loaded->Load(path));
  std::vector<int64_t> all = Iota(n);
  for (int64_t id : Iota(100, 10000)) all.push_back(id);
  IdFilter odd = [](int64_t id) { return id % 2 == 1; };
  const std::vector<int64_t> seeds = {1, 3, 10001, 999, 1999};
  for (const VectorIndex* ix : {idx.get(), loaded.get()}) {
    EXPECT_EQ(ix->Size(), n - gone.size() + 100);
    size_t found = 0, total = 0;
    for (int qi = 0; qi < 20; ++qi) {
      std::vector<float> q(queries.begin() + qi * d, queries.begin() + (qi + 1) * d);
      auto plain = ix->Search(q, 10, odd, 128);
      auto seeded = ix->SearchFiltered(q, 10, odd, 128, seeds);
      ASSERT_TRUE(plain.ok() && seeded.ok()) << plain.status() << seeded.status();
      auto truth = BruteForce(*ix, q, 10, all, odd);
      for (const auto* r : {&*plain, &*seeded}) {
        std::set<int64_t> got;
        for (const auto& nb : *r) {
          ASSERT_TRUE(ix->Contains(nb.id)) << "removed id " << nb.id << " returned";
          ASSERT_EQ(nb.id % 2, 1) << "filter not applied";
          got.insert(nb.id);
        }
        EXPECT_EQ(got.size(), r->size()) << "an id returned twice";
        for (auto id : truth) found += got.count(id);
        total += truth.size();
      }
      if (qi == 0) {
        ASSERT_FALSE(plain->empty());
        EXPECT_EQ((*plain)[0].id, 1) << "re-added vector not found where it now is";
        EXPECT_EQ((*seeded)[0].id, 1);
      }
    }
    EXPECT_GE(static_cast<double>(found) / total, 0.95);
  }
}

TEST_P(VectorIndexTest, SearchSubsetMatchesScoresComputedByHand) {
  const int d = 16;
  auto idx = Make(d);
  std::mt19937 rng(11);
  std::normal_distribution<float> g;
  std::vector<int64_t> ids;
  std::vector<float> vecs;
  for (int i = 0; i < 300; ++i) {
    ids.push_back(1000 + 7 * i);
    for (int j = 0; j < d; ++j) vecs.push_back(g(rng));
  }
  KOS_ASSERT_OK(idx->Add(ids, vecs));
  std::vector<float> q(d);
  for (auto& x : q) x = g(rng);
  // Every third id, plus ids the index does not have.
  std::vector<int64_t> cand = {5, 999999};
  for (size_t i = 0; i < ids.size(); i += 3) cand.push_back(ids[i]);
  auto r = idx->SearchSubset(q, 10, cand);
  ASSERT_TRUE(r.ok()) << r.status();
  // By hand: the stored vector (normalized for cosine) against the query.
  std::vector<float> qn = q;
  if (GetParam().metric == Metric::kCosine) {
    double n = 0;
    for (float x : qn) n += x * x;
    for (auto& x : qn) x /= std::sqrt(n);
  }
  std::vector<Neighbor> want;
  std::vector<float> v(d);
  for (size_t i = 2; i < cand.size(); ++i) {
    KOS_ASSERT_OK(idx->GetVector(cand[i], v.data()));
    want.push_back({cand[i], idx->Score(qn.data(), v.data())});
  }
  std::sort(want.begin(), want.end(),
            [](const Neighbor& a, const Neighbor& b) { return a.score > b.score; });
  ASSERT_EQ(r->size(), 10u);
  for (size_t i = 0; i < 10; ++i) {
    EXPECT_EQ((*r)[i].id, want[i].id) << i;
    EXPECT_NEAR((*r)[i].score, want[i].score, 1e-3 * (1 + std::fabs(want[i].score))) << i;
  }
}

INSTANTIATE_TEST_SUITE_P(All, VectorIndexTest,
                         ::testing::Values(Param{IndexKind::kHnswlib, Metric::kCosine},
                                           Param{IndexKind::kHnswlib, Metric::kL2},
                                           Param{IndexKind::kHnswlib, Metric::kInnerProduct},
                                           Param{IndexKind::kFaissFlat, Metric::kCosine},
                                           Param{IndexKind::kFaissFlat, Metric::kL2},
                                           Param{IndexKind::kFaissHnsw, Metric::kCosine},
                                           Param{IndexKind::kFaissHnsw, Metric::kL2},
                                           Param{IndexKind::kFaissIvf, Metric::kCosine},
                                           Param{IndexKind::kFaissIvf, Metric::kL2}),
                         ParamName);

TEST(VectorIndexOptionsTest, RejectsBadOptions) {
  VectorIndexOptions o;
  EXPECT_EQ(VectorIndex::Create(o).status().code(), absl::StatusCode::kInvalidArgument);
  o.dimension = 8;
  o.m = 1;
  EXPECT_EQ(VectorIndex::Create(o).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseMetric("manhattan").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(*ParseIndexKind("faiss_hnsw"), IndexKind::kFaissHnsw);
  EXPECT_EQ(*ParseIndexKind("faiss_ivf"), IndexKind::kFaissIvf);
  EXPECT_STREQ(IndexKindName(IndexKind::kFaissIvf), "faiss_ivf");
  o.m = 16;
  o.kind = IndexKind::kFaissIvf;
  o.nprobe = 0;
  EXPECT_EQ(VectorIndex::Create(o).status().code(), absl::StatusCode::kInvalidArgument);
  o.nprobe = 1;
  o.nlist = -1;
  EXPECT_EQ(VectorIndex::Create(o).status().code(), absl::StatusCode::kInvalidArgument);
  o.nlist = 4;
  o.ivf_train_size = 0;
  EXPECT_EQ(VectorIndex::Create(o).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kos
