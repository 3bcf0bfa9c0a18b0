#include "memory/simd_distance.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace kos::memory_internal {
namespace {

#if defined(__x86_64__)
#define KOS_AVX2_KERNELS 1

__attribute__((target("avx2,fma"))) inline float HorizontalSum(__m256 v) {
  const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 h = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(h, _mm_shuffle_ps(h, h, 1)));
}

// acc + (a-b)^2 for L2, acc + a*b for the inner product.
template <bool kL2>
__attribute__((target("avx2,fma"))) inline __m256 Step(__m256 a, __m256 b, __m256 acc) {
  if constexpr (kL2) {
    const __m256 d = _mm256_sub_ps(a, b);
    return _mm256_fmadd_ps(d, d, acc);
  } else {
    return _mm256_fmadd_ps(a, b, acc);
  }
}

// Four independent accumulators: one FMA chain would wait on its own
// 4-cycle latency, while the loads of two 3 KB vectors can feed two per cycle.
template <bool kL2>
__attribute__((target("avx2,fma"))) float Accumulate(const void* av, const void* bv,
                                                     const void* dim) {
  const float* a = static_cast<const float*>(av);
  const float* b = static_cast<const float*>(bv);
  const size_t n = *static_cast<const size_t*>(dim);
  __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    s0 = Step<kL2>(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    s1 = Step<kL2>(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    s2 = Step<kL2>(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
    s3 = Step<kL2>(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
  }
  for (; i + 8 <= n; i += 8) s0 = Step<kL2>(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
  float sum = HorizontalSum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
  for (; i < n; ++i) sum += kL2 ? (a[i] - b[i]) * (a[i] - b[i]) : a[i] * b[i];
  return sum;
}

__attribute__((target("avx2,fma"))) float L2SquaredAvx2(const void* a, const void* b,
                                                        const void* dim) {
  return Accumulate<true>(a, b, dim);
}

__attribute__((target("avx2,fma"))) float InnerProductAvx2(const void* a, const void* b,
                                                           const void* dim) {
  return 1.0f - Accumulate<false>(a, b, dim);
}

bool CpuHasAvx2Fma() {
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }();
  return has;
}
#endif

}  // namespace

DistanceKernel L2SquaredAvx2Kernel() {
#ifdef KOS_AVX2_KERNELS
  if (CpuHasAvx2Fma()) return &L2SquaredAvx2;
#endif
  return nullptr;
}

DistanceKernel InnerProductAvx2Kernel() {
#ifdef KOS_AVX2_KERNELS
  if (CpuHasAvx2Fma()) return &InnerProductAvx2;
#endif
  return nullptr;
}

float L2SquaredScalar(const void* av, const void* bv, const void* dim) {
  const float* a = static_cast<const float*>(av);
  const float* b = static_cast<const float*>(bv);
  const size_t n = *static_cast<const size_t*>(dim);
  float sum = 0;
  for (size_t i = 0; i < n; ++i) sum += (a[i] - b[i]) * (a[i] - b[i]);
  return sum;
}

float InnerProductScalar(const void* av, const void* bv, const void* dim) {
  const float* a = static_cast<const float*>(av);
  const float* b = static_cast<const float*>(bv);
  const size_t n = *static_cast<const size_t*>(dim);
  float dot = 0;
  for (size_t i = 0; i < n; ++i) dot += a[i] * b[i];
  return 1.0f - dot;
}

}  // namespace kos::memory_internal
