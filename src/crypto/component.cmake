kos_component(NAME crypto DEPS core LIBS PkgConfig::sodium)
