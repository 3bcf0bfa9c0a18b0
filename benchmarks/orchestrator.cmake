# The Baseline* cases run a plain mutex + condition-variable queue with the
# same worker count in the same process.
kos_add_benchmark(NAME kos_orchestrator_benchmark COMPONENTS orchestrator
                  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/orchestrator_benchmark.cc)
# Durable transitions on SQLite: the kos Store beside raw SQLiteCpp writes.
kos_add_benchmark(NAME kos_orchestrator_durability_benchmark COMPONENTS store
                  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/orchestrator_durability_benchmark.cc
                  LIBS SQLiteCpp SQLite::SQLite3)
