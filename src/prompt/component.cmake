kos_component(NAME prompt DEPS core store crypto)
