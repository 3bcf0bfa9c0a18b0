# The reference composition of every component, built from a config directory.
kos_component(NAME kernel DEPS core store crypto vault audit signed_task auth authn telemetry
  artifact prompt memory openai orchestrator)
