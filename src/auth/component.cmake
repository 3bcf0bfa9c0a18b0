# Access control (RBAC), rate limiting and intrusion detection; users, tokens
# and sessions join this component once crypto lands.
kos_component(NAME auth DEPS core store)
