kos_component(NAME store DEPS core LIBS SQLiteCpp SQLite::SQLite3)
