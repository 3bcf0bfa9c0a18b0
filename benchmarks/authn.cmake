# libsodium is linked directly: the baseline calls crypto_sign_verify_detached
# without the kos wrapper.
kos_add_benchmark(NAME kos_authn_benchmark COMPONENTS authn
                  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/authn_benchmark.cc LIBS PkgConfig::sodium)
