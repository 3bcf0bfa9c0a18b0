# Authentication: users, EdDSA JWT access tokens and signing keyring, sessions
# and refresh tokens, OAuth2 token endpoint, API keys, login facade.
# `auth` provides the IntrusionDetector that IntrusionHooks() wires in.
kos_component(NAME authn DEPS core store crypto auth vault)
