# Prompt rendering (engine and registry) beside python3-jinja2; run_prompt_bench.sh compares them
# (docs/benchmarks/prompt.md).
kos_add_benchmark(NAME kos_prompt_benchmark COMPONENTS prompt
                  SOURCES ${CMAKE_CURRENT_LIST_DIR}/prompt_benchmark.cc)
