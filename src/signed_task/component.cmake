kos_component(NAME signed_task DEPS core store LIBS PkgConfig::sodium)
