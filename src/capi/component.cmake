# The C API (include/kos/c.h): thin extern "C" wrappers compiled into libkos
# itself, like LevelDB's db/c.cc, so C programs link only -lkos.
kos_component(NAME capi
              DEPS core store crypto vault audit signed_task auth authn memory prompt orchestrator
              LIBS PkgConfig::sodium)
target_compile_definitions(kos_capi PRIVATE KOS_VERSION_STRING="${PROJECT_VERSION}")
