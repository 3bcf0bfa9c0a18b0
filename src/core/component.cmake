if(NOT TARGET ZLIB::ZLIB)
  find_package(ZLIB REQUIRED)
endif()
kos_component(NAME core LIBS PkgConfig::sodium ZLIB::ZLIB)
