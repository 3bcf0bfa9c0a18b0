kos_component(NAME telemetry DEPS core auth)
