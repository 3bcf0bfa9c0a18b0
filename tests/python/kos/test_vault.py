"""kos.Vault: secrets, versions, CAS, rotation and rewrap, transit, audit without values."""

import pytest

import kos


@pytest.fixture
def master_key():
    return kos.generate_master_key()


@pytest.fixture
def vault(store, master_key):
    with kos.Vault(store, master_key=master_key, master_key_env="") as v:
        yield v


def test_put_get_versions(vault):
    assert vault.put("kv/team/openai", b"sk-one") == 1
    assert vault.put("kv/team/openai", "sk-two") == 2
    latest = vault.get("kv/team/openai")
    assert isinstance(latest, kos.Secret)
    assert (latest.version, latest.value) == (2, b"sk-two")
    assert vault.get("kv/team/openai", version=1).value == b"sk-one"
    assert vault.versions("kv/team/openai") == [1, 2]
    assert "sk-two" not in repr(latest) and "redacted" in repr(latest)
    assert vault.list("kv/") == ["kv/team/openai"]


def test_values_are_encrypted_at_rest(store, vault):
    vault.put("kv/db/password", b"hunter2-very-secret")
    for collection in ("vault_data", "vault_meta", "vault_keyring"):
        for rec in store.items(collection):
            assert b"hunter2-very-secret" not in rec.value


def test_cas_delete_undelete_destroy(vault):
    vault.put("kv/a", b"1", cas=0)
    with pytest.raises(kos.FailedPreconditionError):
        vault.put("kv/a", b"2", cas=0)
    vault.put("kv/a", b"2", cas=1)
    vault.delete("kv/a")
    with pytest.raises(kos.NotFoundError):
        vault.get("kv/a")
    vault.undelete("kv/a", [2])
    assert vault.get("kv/a").value == b"2"
    vault.destroy("kv/a", [1])
    with pytest.raises(kos.NotFoundError):
        vault.get("kv/a", version=1)
    md = vault.metadata("kv/a")
    assert md["current_version"] == 2
    assert [v["destroyed"] for v in md["versions"]] == [True, False]


def test_json_secrets_and_bad_path(vault):
    vault.put_json("kv/cfg", {"user": "svc", "port": 5432})
    assert vault.get_json("kv/cfg") == {"user": "svc", "port": 5432}
    with pytest.raises(kos.InvalidArgumentError):
        vault.put("kv//bad", b"x")


def test_rotate_and_rewrap(vault):
    vault.put("kv/x", b"before rotation")
    assert vault.rotate() == 2
    result = vault.rewrap_all(batch_size=100)
    assert result["rewrapped"] >= 1 and result["resume_token"] == ""
    vault.set_min_decryption_version(2)
    assert vault.get("kv/x").value == b"before rotation"
    info = vault.keyring_info()
    assert info["current_version"] == 2 and info["min_decryption_version"] == 2


def test_reopen_with_wrong_master_key_is_unauthenticated(store, vault):
    vault.put("kv/x", b"v")
    with pytest.raises(kos.UnauthenticatedError):
        kos.Vault(store, master_key=kos.generate_master_key(), master_key_env="")


def test_no_master_key_is_failed_precondition(store):
    with pytest.raises(kos.FailedPreconditionError):
        kos.Vault(store, master_key_env="")


def test_transit(vault):
    vault.create_transit_key("payments")
    ct = vault.transit_encrypt("payments", b"4111-1111", context=b"order-7")
    assert ct.startswith("kos:v1:")
    assert vault.transit_decrypt("payments", ct, context=b"order-7") == b"4111-1111"
    with pytest.raises(kos.UnauthenticatedError):
        vault.transit_decrypt("payments", ct, context=b"order-8")
    assert vault.rotate_transit_key("payments") == 2
    rewrapped = vault.transit_rewrap("payments", ct, context=b"order-7")
    assert rewrapped.startswith("kos:v2:")
    assert vault.transit_decrypt("payments", rewrapped, context=b"order-7") == b"4111-1111"
    with pytest.raises(kos.InvalidArgumentError):
        vault.transit_decrypt("payments", "garbage", context=b"order-7")


def test_audit_names_actor_and_never_values(vault):
    vault.put("kv/s", b"TOPSECRET", actor="alice")
    vault.get("kv/s", actor="bob")
    with pytest.raises(kos.NotFoundError):
        vault.get("kv/none")
    events = vault.audit_events()
    actors = {e["actor"] for e in events}
    assert {"alice", "bob", "python"} <= actors
    assert any(e["outcome"] == "NOT_FOUND" for e in events)
    assert "TOPSECRET" not in repr(events)
