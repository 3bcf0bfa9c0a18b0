kos_component(NAME core LIBS PkgConfig::sodium)
