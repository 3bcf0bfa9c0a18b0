kos_component(NAME vault DEPS core store crypto)
