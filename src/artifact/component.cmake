kos_component(NAME artifact DEPS core store crypto LIBS PkgConfig::sodium)
