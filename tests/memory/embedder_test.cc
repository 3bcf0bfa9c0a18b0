#include "kos/embedder.h"

#include <cmath>

#include "gtest/gtest.h"
#include "testing/test_util.h"

namespace kos {
namespace {

double Dot(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

TEST(HashingEmbedderTest, DeterministicNormalizedAndSemanticallyCrude) {
  auto e = HashingEmbedder::Open({});
  ASSERT_TRUE(e.ok());
  auto v = (*e)->Embed(
      {"The cat sat on the mat", "the CAT sat on the mat!", "quarterly tax filing", "!!!"});
  ASSERT_TRUE(v.ok()) << v.status();
  ASSERT_EQ(v->size(), 4u);
  for (const auto& x : *v) {
    ASSERT_EQ(x.size(), 384u);
    EXPECT_NEAR(Dot(x, x), 1.0, 1e-5);
  }
  // Case and punctuation do not matter; unrelated text is far.
  EXPECT_NEAR(Dot((*v)[0], (*v)[1]), 1.0, 1e-5);
  EXPECT_LT(Dot((*v)[0], (*v)[2]), 0.3);
  // Same input, same output, across instances.
  auto e2 = HashingEmbedder::Open({});
  auto w = (*e2)->Embed({"The cat sat on the mat"});
  ASSERT_TRUE(w.ok());
  EXPECT_EQ((*w)[0], (*v)[0]);
  // Stable across builds and machines: a pinned component.
  EXPECT_EQ((*e)->model(), "kos-hashing-v1-d384-bi");
}

TEST(HashingEmbedderTest, RejectsEmptyTextAndBadOptions) {
  auto e = HashingEmbedder::Open({});
  ASSERT_TRUE(e.ok());
  EXPECT_EQ((*e)->Embed({"ok", ""}).status().code(), absl::StatusCode::kInvalidArgument);
  HashingEmbedderOptions o;
  o.dimension = 2;
  EXPECT_EQ(HashingEmbedder::Open(o).status().code(), absl::StatusCode::kInvalidArgument);
}

class CountingEmbedder : public Embedder {
 public:
  explicit CountingEmbedder(Embedder* base) : base_(base) {}
  absl::StatusOr<std::vector<std::vector<float>>> Embed(
      const std::vector<std::string>& texts) override {
    calls++;
    texts_seen += texts.size();
    return base_->Embed(texts);
  }
  int dimension() const override { return base_->dimension(); }
  std::string model() const override { return base_->model(); }
  int calls = 0;
  size_t texts_seen = 0;

 private:
  Embedder* base_;
};

TEST(CachingEmbedderTest, OnlyMissesReachTheBaseInOneBatch) {
  auto h = HashingEmbedder::Open({});
  CountingEmbedder counting(h->get());
  CachingEmbedderOptions o;
  o.base = &counting;
  o.capacity = 2;
  auto c = CachingEmbedder::Open(o);
  ASSERT_TRUE(c.ok());
  auto a = (*c)->Embed({"alpha", "beta"});
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(counting.calls, 1);
  auto b = (*c)->Embed({"beta", "gamma", "alpha"});
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(counting.calls, 2);
  EXPECT_EQ(counting.texts_seen, 3u);  // only "gamma" was new
  EXPECT_EQ((*b)[0], (*a)[1]);
  EXPECT_EQ((*b)[2], (*a)[0]);
  EXPECT_EQ((*c)->hits(), 2u);
  EXPECT_EQ((*c)->misses(), 3u);
  // Capacity 2: "beta" was least recently used when "gamma" came in.
  ASSERT_TRUE((*c)->Embed({"beta"}).ok());
  EXPECT_EQ(counting.calls, 3);
  EXPECT_EQ((*c)->Embed({""}).status().code(), absl::StatusCode::kInvalidArgument);
  CachingEmbedderOptions bad;
  EXPECT_EQ(CachingEmbedder::Open(bad).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kos
