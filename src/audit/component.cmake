kos_component(NAME audit DEPS core store crypto signed_task)
