# Memory search/ingest vs raw hnswlib (see benchmarks/run_memory_bench.sh).
find_package(ZLIB REQUIRED)
kos_add_benchmark(NAME kos_memory_benchmark COMPONENTS memory
                  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/memory_benchmark.cc LIBS ZLIB::ZLIB)
