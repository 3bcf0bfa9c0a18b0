# External backends: Redis (hiredis) for Ephemeral, PostgreSQL (libpq) for Store.
if(NOT TARGET PkgConfig::hiredis)
  pkg_check_modules(hiredis REQUIRED IMPORTED_TARGET hiredis)
endif()
if(NOT TARGET PkgConfig::libpq)
  pkg_check_modules(libpq REQUIRED IMPORTED_TARGET libpq)
endif()
kos_component(NAME store DEPS core LIBS SQLiteCpp SQLite::SQLite3 PkgConfig::hiredis PkgConfig::libpq)
