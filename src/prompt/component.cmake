kos_component(NAME prompt DEPS core store LIBS PkgConfig::sodium)
