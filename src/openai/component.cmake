# The OpenAI-compatible HTTP client shared by the embeddings client (memory)
# and the kBridge chat handler (orchestrator).
if(NOT TARGET PkgConfig::kos_httplib)
  pkg_check_modules(kos_httplib REQUIRED IMPORTED_TARGET cpp-httplib)
endif()
kos_component(NAME openai DEPS core LIBS PkgConfig::kos_httplib)
