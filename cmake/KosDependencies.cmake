# All third-party dependencies come from Debian 12 packages (scripts/install-deps.sh).
set(THREADS_PREFER_PTHREAD_FLAG ON)
find_package(Threads REQUIRED)
find_package(PkgConfig REQUIRED)
find_package(absl REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(SQLiteCpp REQUIRED)
find_package(SQLite3 REQUIRED)
pkg_check_modules(sodium REQUIRED IMPORTED_TARGET libsodium>=1.0.18)

# Abseil targets every component may use.
set(KOS_ABSL_LIBS
  absl::status absl::statusor absl::strings absl::str_format absl::time
  absl::synchronization absl::flat_hash_map absl::flat_hash_set)
