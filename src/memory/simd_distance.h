// Distance kernels for the hnswlib index, picked once per process by CPU.
//
// Debian builds hnswlib's header-only distances for plain x86-64 (SSE), and a
// 784-d L2 distance is most of a search's time. These kernels are compiled
// for AVX2+FMA with a function-level target attribute, so the library still
// runs on any x86-64 and uses them only when the CPU has both.
#ifndef KOS_SRC_MEMORY_SIMD_DISTANCE_H_
#define KOS_SRC_MEMORY_SIMD_DISTANCE_H_

#include <cstddef>

namespace kos::memory_internal {

// hnswlib's DISTFUNC shape: (a, b, pointer to the dimension as size_t).
using DistanceKernel = float (*)(const void*, const void*, const void*);

// Squared L2 distance, or nullptr when this CPU lacks AVX2 or FMA (the caller
// then keeps hnswlib's own kernel).
DistanceKernel L2SquaredAvx2Kernel();
// 1 - dot(a, b) (hnswlib's inner-product distance), or nullptr as above.
DistanceKernel InnerProductAvx2Kernel();

// Portable references with the same contracts, for the kernels' tests.
float L2SquaredScalar(const void* a, const void* b, const void* dim);
float InnerProductScalar(const void* a, const void* b, const void* dim);

}  // namespace kos::memory_internal

#endif  // KOS_SRC_MEMORY_SIMD_DISTANCE_H_
