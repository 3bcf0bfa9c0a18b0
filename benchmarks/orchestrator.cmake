# The Baseline* cases run a plain mutex + condition-variable queue with the
# same worker count in the same process.
kos_add_benchmark(NAME kos_orchestrator_benchmark COMPONENTS orchestrator
                  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/orchestrator_benchmark.cc)
