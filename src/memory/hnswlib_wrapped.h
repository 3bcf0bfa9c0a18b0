// hnswlib 0.6.2 headers define non-inline functions and globals (AVXCapable,
// the SIMD distance pointers), so including them in two translation units of
// one program breaks the link -- e.g. libkos_static plus an application (or
// our benchmark) that uses hnswlib itself. Wrapping them in a private
// namespace gives our copy distinct symbols. Every standard header hnswlib
// pulls in is included first so that its include guard keeps it out of the
// namespace.
#ifndef KOS_SRC_MEMORY_HNSWLIB_WRAPPED_H_
#define KOS_SRC_MEMORY_HNSWLIB_WRAPPED_H_

#include <assert.h>
#include <cpuid.h>
#include <immintrin.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <x86intrin.h>

#include <algorithm>
#include <atomic>
#include <cassert>
#include <deque>
#include <fstream>
#include <iostream>
#include <list>
#include <mutex>
#include <queue>
#include <random>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>
#include <vector>

// hnswlib 0.6.2's searchBaseLayer prefetches the element one past the end of
// a link list (hnswalg.h:214). Harmless in practice, but AddressSanitizer
// reports it as a heap-buffer-overflow in the library's own header; sanitizer
// builds (KOS_SANITIZE, which defines KOS_SANITIZE_BUILD for this component) use hnswlib's portable
// code path, so that they check our code rather than fail on the upstream prefetch.
#if defined(KOS_SANITIZE_BUILD) && !defined(NO_MANUAL_VECTORIZATION)
#define NO_MANUAL_VECTORIZATION
#endif
namespace kos_hnswlib_private {
#include "hnswlib/hnswlib.h"
}  // namespace kos_hnswlib_private

#endif  // KOS_SRC_MEMORY_HNSWLIB_WRAPPED_H_
