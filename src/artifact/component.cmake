kos_component(NAME artifact DEPS core store crypto vault LIBS PkgConfig::sodium)
