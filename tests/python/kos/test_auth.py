"""kos.Authenticator (users, login, tokens) and kos.AccessController (RBAC)."""

import pytest

import kos


@pytest.fixture
def auth(store, clock):
    with kos.Authenticator(store, issuer="https://kos.test", fast_hashing=True,
                           clock=clock) as a:
        yield a


def test_create_login_validate_refresh_logout(auth):
    user = auth.create_user("alice", "correct horse", email="a@example.com", roles=["admin"])
    assert user["username"] == "alice" and user["roles"] == ["admin"]
    assert auth.get_user_by_username("ALICE")["id"] == user["id"]
    tokens = auth.login("alice", "correct horse", address="10.0.0.1")
    assert tokens["token_type"] == "Bearer" and tokens["refresh_token"]
    principal = auth.validate(tokens["access_token"])
    assert principal["subject"] == user["id"]
    assert principal["roles"] == ["admin"]
    assert principal["user"]["username"] == "alice"
    assert principal["issuer"] == "https://kos.test"

    refreshed = auth.refresh(tokens["refresh_token"])
    assert refreshed["refresh_token"] != tokens["refresh_token"]
    with pytest.raises(kos.UnauthenticatedError):
        auth.refresh(tokens["refresh_token"])  # reuse revokes the session
    with pytest.raises(kos.UnauthenticatedError):
        auth.validate(refreshed["access_token"])

    again = auth.login("alice", "correct horse")
    auth.logout(again["access_token"])
    with pytest.raises(kos.UnauthenticatedError):
        auth.validate(again["access_token"])


def test_bad_credentials_and_duplicates(auth):
    auth.create_user("bob", "password123")
    with pytest.raises(kos.UnauthenticatedError) as info:
        auth.login("bob", "wrong password")
    assert "password123" not in str(info.value)
    with pytest.raises(kos.UnauthenticatedError):
        auth.login("nobody", "password123")
    with pytest.raises(kos.AlreadyExistsError):
        auth.create_user("BOB", "password456")
    with pytest.raises(kos.InvalidArgumentError) as info:
        auth.create_user("carol", "Zq9#x")  # too short
    assert "Zq9#x" not in str(info.value)
    with pytest.raises(kos.UnauthenticatedError):
        auth.validate("not.a.token")


def test_token_expires_with_the_clock(auth, clock):
    auth.create_user("dave", "password123")
    tokens = auth.login("dave", "password123")
    clock.advance(3600)
    with pytest.raises(kos.UnauthenticatedError):
        auth.validate(tokens["access_token"])


def test_disabled_user_cannot_login(auth):
    u = auth.create_user("erin", "password123")
    auth.disable_user(u["id"])
    with pytest.raises(kos.UnauthenticatedError):
        auth.login("erin", "password123")


def test_jwks_lists_an_okp_key(auth):
    jwks = auth.jwks()
    assert jwks["keys"][0]["kty"] == "OKP" and jwks["keys"][0]["crv"] == "Ed25519"


POLICY = {
    "version": 1,
    "roles": {
        "admin": {"allow": ["**:*"], "deny": ["vault:kv/users/**:read"]},
        "reader": {"allow": ["memory:ns/shared/**:read"]},
    },
    "bindings": {"user:alice": ["admin"], "user:bob": ["reader"]},
    "agents": {"kPlanner": {"allow": ["memory:ns/agents/kPlanner/**:*"]}},
}


def test_access_controller_allow_deny_and_explain():
    ac = kos.AccessController(POLICY)
    ac.check("user:alice", "system:health", "read")
    with pytest.raises(kos.PermissionDeniedError):
        ac.check("user:alice", "vault:kv/users/x", "read")  # deny overrides
    assert ac.allowed("user:bob", "memory:ns/shared/a", "read")
    assert not ac.allowed("user:bob", "memory:ns/shared/a", "write")
    assert ac.allowed("user:carol", "memory:ns/shared/a", "read", roles=["reader"])
    assert ac.allowed("agent:kPlanner", "memory:ns/agents/kPlanner/notes", "write")
    decision = ac.explain("user:alice", "vault:kv/users/x", "read")
    assert decision["effect"] == "deny" and decision["rule"] == "vault:kv/users/**:read"
    assert ac.explain("user:zed", "a:b", "read")["effect"] == "default_deny"
    with pytest.raises(kos.InvalidArgumentError):
        ac.check("alice", "a:b", "read")  # subject must be user:/agent:/service:


def test_access_controller_bad_policy_keeps_the_old_one():
    ac = kos.AccessController(POLICY)
    generation = ac.policy_generation
    with pytest.raises(kos.InvalidArgumentError) as info:
        ac.load({"roles": {"x": {"alow": []}}})
    assert "alow" in str(info.value)
    assert ac.policy_generation == generation
    assert ac.allowed("user:alice", "system:health", "read")
    ac.load('{"roles": {}}')
    assert not ac.allowed("user:alice", "system:health", "read")
