# The Raw* baselines call SQLiteCpp directly on the same schema.
kos_add_benchmark(NAME kos_store_benchmark COMPONENTS store
                  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/store_benchmark.cc LIBS SQLiteCpp SQLite::SQLite3)
