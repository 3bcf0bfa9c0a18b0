# RBAC checks and rate-limiter decisions beside naive baselines (docs/benchmarks/auth.md).
kos_add_benchmark(NAME kos_auth_benchmark COMPONENTS auth SOURCES ${CMAKE_CURRENT_LIST_DIR}/auth_benchmark.cc)
