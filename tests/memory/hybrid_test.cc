// Hybrid (BM25 + vector, reciprocal rank fusion) search.
#include <cmath>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "kos/memory.h"
#include "memory/keyword_index.h"
#include "testing/test_util.h"

namespace kos {
namespace {

using memory_internal::FuseRrf;
using memory_internal::KeywordIndex;

TEST(RrfTest, HandComputedExample) {
  // vector ranking A B C, keyword ranking C D (labels 1..4), k = 60:
  //   A = 1/61 = .016393, B = 1/62 = .016129, C = 1/63 + 1/61 = .032266,
  //   D = 1/62 = .016129 (ties B; B ranks first: same best rank, vector side).
  auto f = FuseRrf({1, 2, 3}, {3, 4}, 1, 1, 60);
  ASSERT_EQ(f.size(), 4u);
  EXPECT_EQ(f[0].label, 3);
  EXPECT_NEAR(f[0].score, 1.0 / 63 + 1.0 / 61, 1e-12);
  EXPECT_EQ(f[0].vector_rank, 3u);
  EXPECT_EQ(f[0].keyword_rank, 1u);
  EXPECT_EQ(f[1].label, 1);
  EXPECT_NEAR(f[1].score, 1.0 / 61, 1e-12);
  EXPECT_EQ(f[2].label, 2);
  EXPECT_EQ(f[3].label, 4);
  EXPECT_NEAR(f[3].score, 1.0 / 62, 1e-12);
  EXPECT_EQ(f[3].vector_rank, 0u);
  // keyword_weight 2: C = 1/63 + 2/61 = .048661, D = 2/62 = .032258,
  // A = .016393, B = .016129.
  f = FuseRrf({1, 2, 3}, {3, 4}, 1, 2, 60);
  std::vector<int64_t> order;
  for (const auto& h : f) order.push_back(h.label);
  EXPECT_EQ(order, (std::vector<int64_t>{3, 4, 1, 2}));
  // vector_weight 0 leaves only the keyword ranking's order on top.
  f = FuseRrf({1, 2, 3}, {4, 2}, 0, 1, 1);
  EXPECT_EQ(f[0].label, 4);
  EXPECT_NEAR(f[0].score, 0.5, 1e-12);
  EXPECT_EQ(f[1].label, 2);
  EXPECT_NEAR(f[1].score, 1.0 / 3, 1e-12);
}

TEST(KeywordIndexTest, Bm25PrefersRareTermsAndShortDocs) {
  KeywordIndex idx;
  idx.Add(1, "the cat sat on the mat");
  idx.Add(2, "the dog sat on the log");
  idx.Add(3, "the cat, the cat and the other cat");
  idx.Add(4, "Zebra crossing");
  auto r = idx.Search("cat", 10, nullptr);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].first, 3);  // tf 3 beats tf 1
  EXPECT_EQ(r[1].first, 1);
  // Hand-computed BM25 of "zebra" in doc 4: N = 4, df = 1, dl = 2,
  // avgdl = (6 + 6 + 8 + 2) / 4 = 5.5: ln(1 + 3.5/1.5) * 2.2 / (1 + 1.2 *
  // (0.25 + 0.75 * 2/5.5)) = 1.203973 * 1.351955 = 1.627717.
  const double idf = std::log(1 + (4 - 1 + 0.5) / (1 + 0.5));
  const double want = idf * 1 * 2.2 / (1 + 1.2 * (1 - 0.75 + 0.75 * 2 / 5.5));
  EXPECT_NEAR(want, 1.627717, 1e-5);
  r = idx.Search("ZEBRA zebra", 10, nullptr);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_NEAR(r[0].second, want, 1e-9);
  // The filter is applied, and removal forgets the terms.
  r = idx.Search("cat", 10, [](int64_t l) { return l != 3; });
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].first, 1);
  idx.Remove(4, "Zebra crossing");
  EXPECT_TRUE(idx.Search("zebra", 10, nullptr).empty());
  EXPECT_EQ(idx.documents(), 3u);
}

class HybridTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = *OpenStore("memory:", {});
    HashingEmbedderOptions eo;
    eo.dimension = 64;
    eo.bigrams = false;
    embedder_ = *HashingEmbedder::Open(eo);
    MemoryOptions o;
    o.store = store_.get();
    o.embedder = embedder_.get();
    mem_ = *Memory::Open(o);
    NamespaceConfig c;
    c.name = "h";
    KOS_ASSERT_OK(mem_->CreateNamespace(c));
  }
  std::unique_ptr<Store> store_;
  std::unique_ptr<HashingEmbedder> embedder_;
  std::unique_ptr<Memory> mem_;
};

TEST_F(HybridTest, KeywordOnlyMatchIsFoundByHybridNotByVector) {
  const char* words[] = {"apple", "river", "stone", "cloud", "paper", "glass", "tiger",
                         "piano", "lemon", "train", "storm", "chair", "bread", "flute"};
  std::vector<MemoryRecord> batch;
  for (int i = 0; i < 300; ++i) {
    MemoryRecord r;
    r.id = absl::StrCat("n", i);
    r.text = absl::StrCat(words[i % 14], " ", words[(i / 14) % 14], " ", words[(i * 7 + 3) % 14],
                          " note ", i);
    r.metadata = {{"even", i % 2 == 0}};
    batch.push_back(r);
  }
  // The rare token sits in a long text, so its one hashed bucket is a small
  // part of the record's vector and the hashing embedder ranks it low.
  MemoryRecord target;
  target.id = "target";
  std::string text = "zyxquartz";
  for (int i = 0; i < 120; ++i) absl::StrAppend(&text, " filler", i);
  target.text = text;
  target.metadata = {{"even", true}};
  batch.push_back(target);
  KOS_ASSERT_OK(mem_->AddBatch("h", batch));

  SearchRequest q;
  q.ns = "h";
  q.text = "zyxquartz";
  q.k = 5;
  auto vec = mem_->Search(q);
  ASSERT_TRUE(vec.ok()) << vec.status();
  for (const auto& h : *vec) EXPECT_NE(h.record.id, "target") << "vector search found it";

  q.hybrid = true;
  // Default candidates (50 per side): the target is keyword rank 1 but not
  // among the vector candidates, so it ties with the vector rank 1 record
  // at 1/61 and the tie goes to the vector side: second place.
  auto hyb = mem_->Search(q);
  ASSERT_TRUE(hyb.ok()) << hyb.status();
  ASSERT_GE(hyb->size(), 2u);
  EXPECT_EQ((*hyb)[1].record.id, "target");
  EXPECT_EQ((*hyb)[1].vector_rank, 0u);
  EXPECT_NEAR((*hyb)[1].score, 1.0 / 61, 1e-12);
  EXPECT_NEAR((*hyb)[0].score, 1.0 / 61, 1e-12);
  // With every record a vector candidate, the target has both ranks and wins.
  q.hybrid_candidates = 400;
  hyb = mem_->Search(q);
  ASSERT_TRUE(hyb.ok()) << hyb.status();
  ASSERT_FALSE(hyb->empty());
  EXPECT_EQ((*hyb)[0].record.id, "target");
  EXPECT_GT((*hyb)[0].vector_rank, 5u);
  EXPECT_EQ((*hyb)[0].keyword_rank, 1u);
  EXPECT_GT((*hyb)[0].keyword_score, 0);
  // Fused score is RRF over the reported ranks.
  for (const auto& h : *hyb) {
    double want = 0;
    if (h.vector_rank) want += 1.0 / (60 + h.vector_rank);
    if (h.keyword_rank) want += 1.0 / (60 + h.keyword_rank);
    EXPECT_NEAR(h.score, want, 1e-12) << h.record.id;
  }
  // The target's similarity is reported even when it is keyword-only.
  EXPECT_GT((*hyb)[0].similarity, -1.0f);
  EXPECT_LT((*hyb)[0].similarity, 0.5f);

  // The filter applies to the keyword side too.
  q.filter = {{"even", false}};
  hyb = mem_->Search(q);
  ASSERT_TRUE(hyb.ok()) << hyb.status();
  for (const auto& h : *hyb) {
    EXPECT_NE(h.record.id, "target");
    EXPECT_EQ(h.record.metadata["even"], false);
  }

  // Deleted records leave the keyword index.
  KOS_ASSERT_OK(mem_->Delete("h", "target"));
  q.filter = nullptr;
  hyb = mem_->Search(q);
  ASSERT_TRUE(hyb.ok());
  for (const auto& h : *hyb) EXPECT_NE(h.record.id, "target");
}

TEST_F(HybridTest, BadHybridRequestsAreRejected) {
  MemoryRecord rec;
  rec.id = "a";
  rec.text = "hello world";
  KOS_ASSERT_OK(mem_->Add("h", rec));
  SearchRequest q;
  q.ns = "h";
  q.hybrid = true;
  q.vector = std::vector<float>(64, 0.1f);
  EXPECT_EQ(mem_->Search(q).status().code(), absl::StatusCode::kInvalidArgument);  // no text
  q.text = "hello";
  EXPECT_TRUE(mem_->Search(q).ok());  // text + vector is fine for hybrid
  q.rrf_k = 0;
  EXPECT_EQ(mem_->Search(q).status().code(), absl::StatusCode::kInvalidArgument);
  q.rrf_k = 60;
  q.keyword_weight = -1;
  EXPECT_EQ(mem_->Search(q).status().code(), absl::StatusCode::kInvalidArgument);
  q.keyword_weight = NAN;
  EXPECT_EQ(mem_->Search(q).status().code(), absl::StatusCode::kInvalidArgument);
  q.keyword_weight = 1;
  q.k = 10;
  q.hybrid_candidates = 5;
  EXPECT_EQ(mem_->Search(q).status().code(), absl::StatusCode::kInvalidArgument);
  q.hybrid_candidates = 10;
  auto r = mem_->Search(q);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].record.id, "a");
  EXPECT_EQ((*r)[0].keyword_rank, 1u);
}

}  // namespace
}  // namespace kos
