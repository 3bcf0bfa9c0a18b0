"""Ed25519 helpers, KeyRegistry, TaskSigner and TaskVerifier."""

import json

import pytest

import kos


def test_keypair_sign_verify():
    kp = kos.Ed25519KeyPair.generate()
    assert len(kp.public_key) == 32
    sig = kp.sign(b"hello")
    assert len(sig) == 64
    assert kos.sign(kp, b"hello") == sig  # Ed25519 is deterministic
    assert kos.verify(kp.public_key, b"hello", sig)
    assert not kos.verify(kp.public_key, b"hellO", sig)
    kos.ed25519_verify(kp.public_key, b"hello", sig)
    with pytest.raises(kos.InvalidArgumentError):
        kos.ed25519_verify(b"short", b"hello", sig)


def test_keypair_from_seed_is_reproducible():
    kp = kos.Ed25519KeyPair.generate()
    again = kos.Ed25519KeyPair.from_seed(kp.export_seed())
    assert again.public_key == kp.public_key
    assert kos.base64url_decode(kp.public_key_b64) == kp.public_key
    with pytest.raises(kos.InvalidArgumentError):
        kos.Ed25519KeyPair.from_seed(b"too short")
    assert "public_key_b64" in repr(kp)


def test_rfc8032_test_vector_1():
    seed = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    kp = kos.Ed25519KeyPair.from_seed(seed)
    assert kp.public_key.hex() == (
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    assert kp.sign(b"").hex().startswith("e5564300c360ac729086e2cc806e828a")


def test_hashes_and_encoding():
    assert kos.sha256(b"abc").hex() == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    assert len(kos.blake2b(b"x", size=64)) == 64
    with pytest.raises(kos.InvalidArgumentError):
        kos.blake2b(b"x", size=8)
    assert len(kos.hmac_sha256(b"k", b"m")) == 32
    assert len(kos.random_bytes(16)) == 16
    assert kos.base64url_encode(b"\xff\xfe") == "__4"
    with pytest.raises(kos.InvalidArgumentError):
        kos.base64url_decode("__4=")


def test_signed_task_round_trip_and_replay(store, signing):
    keys, signer, kp = signing
    env = signer.sign("kExecutor", {"input": {"x": 1}})
    assert isinstance(env, kos.SignedEnvelope)
    body = json.loads(env.text)
    assert body["aud"] == "kExecutor" and body["iss"] == "kCore" and body["kid"] == "core-1"
    # Any Ed25519 implementation can check it: the signature covers the JCS text without "sig".
    sig = kos.base64url_decode(body.pop("sig"))
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    assert kos.verify(kp.public_key, canonical, sig)

    verifier = kos.Verifier(keys, store, audience="kExecutor")
    task = verifier.verify(env.text)
    assert task["task_id"] == env.task_id
    assert task["payload"] == {"input": {"x": 1}}
    with pytest.raises(kos.UnauthenticatedError):
        verifier.verify(env.text)  # replay


def test_verifier_refuses_tampering_wrong_audience_and_revoked(store, signing):
    keys, signer, _ = signing
    verifier = kos.TaskVerifier(keys, store, audience="kExecutor")
    env = signer.sign("kExecutor", {"input": {"x": 1}})
    tampered = env.text.replace('"x":1', '"x":2')
    assert tampered != env.text
    with pytest.raises(kos.UnauthenticatedError):
        verifier.verify(tampered)
    with pytest.raises(kos.UnauthenticatedError):
        verifier.verify(signer.sign("kPlanner").text)
    with pytest.raises(kos.InvalidArgumentError):
        verifier.verify("not json")
    keys.revoke("core-1")
    assert keys.get("core-1")["revoked"]
    with pytest.raises(kos.UnauthenticatedError):
        verifier.verify(signer.sign("kExecutor").text)
    assert [k["kid"] for k in keys.list()] == ["core-1"]


def test_expired_task_is_refused(store, clock, signing):
    keys, _, kp = signing
    signer = kos.Signer(issuer="kCore", kid="core-1", key_pair=kp, ttl=60, clock=clock)
    verifier = kos.Verifier(keys, store, audience="kExecutor", clock=clock)
    env = signer.sign("kExecutor")
    clock.advance(3600)
    with pytest.raises(kos.UnauthenticatedError):
        verifier.verify(env.text)
