kos_component(NAME signed_task DEPS core store crypto)
