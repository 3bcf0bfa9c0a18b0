# Agent memory: vector indexes (FAISS, hnswlib), embedders, namespaces over the Store.
# Debian's FAISS is a static library whose exported target needs OpenMP::OpenMP_CXX,
# so OpenMP must be found first; BLAS comes from OpenBLAS.
if(NOT TARGET OpenMP::OpenMP_CXX)
  find_package(OpenMP REQUIRED)
endif()
if(NOT TARGET faiss)
  find_package(faiss REQUIRED)
endif()
if(NOT TARGET kos_openblas)
  find_library(KOS_OPENBLAS_LIB NAMES openblas REQUIRED)
  add_library(kos_openblas INTERFACE IMPORTED)
  set_target_properties(kos_openblas PROPERTIES INTERFACE_LINK_LIBRARIES "${KOS_OPENBLAS_LIB}")
endif()
if(NOT TARGET kos_hnswlib)
  find_path(KOS_HNSWLIB_INCLUDE hnswlib/hnswlib.h REQUIRED)
  add_library(kos_hnswlib INTERFACE IMPORTED)
  set_target_properties(kos_hnswlib PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${KOS_HNSWLIB_INCLUDE}")
endif()
if(NOT TARGET PkgConfig::kos_httplib)
  pkg_check_modules(kos_httplib REQUIRED IMPORTED_TARGET cpp-httplib)
endif()
kos_component(NAME memory DEPS core store openai auth
              LIBS faiss kos_openblas kos_hnswlib OpenMP::OpenMP_CXX PkgConfig::kos_httplib)
# Two findings of the sanitizers are inside Debian's hnswlib 0.6.2 headers, not
# our code: the SIMD base-layer search prefetches one element past a link list
# (see src/memory/hnswlib_wrapped.h: sanitizer builds use the portable path),
# and getConnectionsWithLock memcpy()s zero bytes to a null vector.data()
# (UBSan nonnull-attribute; harmless for a zero length).
if(KOS_SANITIZE)
  target_compile_definitions(kos_memory PRIVATE KOS_SANITIZE_BUILD)
  target_compile_options(kos_memory PRIVATE -fno-sanitize=nonnull-attribute)
endif()
