// The AVX2+FMA distance kernels against the portable references, on the
// lengths that exercise each loop (32-wide body, 8-wide rest, scalar tail).
#include "memory/simd_distance.h"

#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace kos::memory_internal {
namespace {

void ExpectMatchesReference(DistanceKernel kernel, DistanceKernel reference, float lo, float hi) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(lo, hi);
  for (size_t n : {1u, 7u, 8u, 9u, 31u, 32u, 33u, 40u, 63u, 100u, 128u, 784u, 1536u}) {
    // Offset by one float so that the kernels' unaligned loads are exercised.
    std::vector<float> a(n + 1), b(n + 1);
    for (auto& x : a) x = u(rng);
    for (auto& x : b) x = u(rng);
    const float want = reference(a.data() + 1, b.data() + 1, &n);
    const float got = kernel(a.data() + 1, b.data() + 1, &n);
    EXPECT_NEAR(got, want, 1e-5f * std::max(1.0f, std::fabs(want))) << "dimension " << n;
  }
}

TEST(SimdDistanceTest, L2MatchesScalarReference) {
  const DistanceKernel k = L2SquaredAvx2Kernel();
  if (k == nullptr) GTEST_SKIP() << "this CPU has no AVX2+FMA; hnswlib's own kernel is used";
  ExpectMatchesReference(k, &L2SquaredScalar, -1.0f, 1.0f);
  ExpectMatchesReference(k, &L2SquaredScalar, 0.0f, 255.0f);  // Fashion-MNIST pixel range
}

TEST(SimdDistanceTest, InnerProductMatchesScalarReference) {
  const DistanceKernel k = InnerProductAvx2Kernel();
  if (k == nullptr) GTEST_SKIP() << "this CPU has no AVX2+FMA; hnswlib's own kernel is used";
  ExpectMatchesReference(k, &InnerProductScalar, -1.0f, 1.0f);
}

TEST(SimdDistanceTest, IdenticalVectorsAreAtZeroDistance) {
  const DistanceKernel k = L2SquaredAvx2Kernel();
  if (k == nullptr) GTEST_SKIP() << "this CPU has no AVX2+FMA; hnswlib's own kernel is used";
  std::vector<float> a(784);
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(i % 255);
  size_t n = a.size();
  EXPECT_EQ(k(a.data(), a.data(), &n), 0.0f);
  n = 0;
  EXPECT_EQ(k(a.data(), a.data(), &n), 0.0f);
}

}  // namespace
}  // namespace kos::memory_internal
