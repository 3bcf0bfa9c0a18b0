kos_add_benchmark(NAME kos_vault_benchmark COMPONENTS vault
                  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/vault_benchmark.cc)
