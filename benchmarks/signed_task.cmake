# libsodium is linked directly too: the baseline calls crypto_sign_verify_detached itself.
kos_add_benchmark(NAME kos_signed_task_benchmark COMPONENTS signed_task
                  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/signed_task_benchmark.cc LIBS PkgConfig::sodium)
