kos_component(NAME orchestrator DEPS core store crypto signed_task auth telemetry openai memory)
