# libsodium is linked directly too: the baselines call it without the kos wrapper.
kos_add_benchmark(NAME kos_crypto_benchmark COMPONENTS crypto
                  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/crypto_benchmark.cc LIBS PkgConfig::sodium)
