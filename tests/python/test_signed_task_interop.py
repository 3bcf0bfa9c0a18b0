"""Signed-task interop: libkos <-> PyNaCl, using only docs/signed-tasks.md.

The Python side implements JCS as json.dumps(sort_keys=True,
separators=(',', ':'), ensure_ascii=False), which equals RFC 8785 only for
ASCII member names and integer numbers: the payloads here stay within that.

Needs the kos_signed_task_tool executable: set KOS_BUILD_DIR to the build
directory (ctest does).
"""
import base64
import json
import os
import subprocess
import time

import pytest
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

SEED = bytes(range(32))


def tool():
    build = os.environ.get("KOS_BUILD_DIR")
    if not build:
        pytest.skip("KOS_BUILD_DIR is not set")
    for rel in ("kos_signed_task_tool", "tests/signed_task/kos_signed_task_tool"):
        path = os.path.join(build, rel)
        if os.access(path, os.X_OK):
            return path
    pytest.fail(f"kos_signed_task_tool not found under {build}")


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jcs(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def python_verify(envelope_text: str, public_key: bytes) -> dict:
    env = json.loads(envelope_text)
    sig = unb64url(env.pop("sig"))
    VerifyKey(public_key).verify(jcs(env), sig)  # raises BadSignatureError
    return env


def python_sign(signing_key: SigningKey, payload: dict, aud="kExecutor", ttl=300, age=0) -> str:
    now = int(time.time()) - age
    env = {"v": 1, "kid": "py-1", "iss": "kPython", "aud": aud, "tid": "py-task-1",
           "nonce": b64url(os.urandom(16)), "iat": now, "exp": now + ttl,
           "parent": "py-task-0", "payload": payload}
    env["sig"] = b64url(signing_key.sign(jcs(env)).signature)
    return jcs(env).decode()


def run_sign(payload: dict, aud="kExecutor") -> str:
    out = subprocess.run([tool(), "sign", SEED.hex(), "core-1", "kCore", aud, json.dumps(payload)],
                         check=True, capture_output=True, text=True)
    return out.stdout


def run_verify(public_key: bytes, envelope_text: str, tmp_path, audience=None):
    path = tmp_path / "envelope.json"
    path.write_text(envelope_text)
    args = [tool(), "verify", public_key.hex(), str(path)] + ([audience] if audience else [])
    return subprocess.run(args, capture_output=True, text=True)


def test_libkos_task_verifies_in_python():
    payload = {"op": "deploy", "args": ["a", "b"], "n": 3, "nested": {"z": 1, "a": None}}
    text = run_sign(payload)
    public_key = bytes(SigningKey(SEED).verify_key)
    env = python_verify(text, public_key)
    assert env["v"] == 1 and env["kid"] == "core-1" and env["iss"] == "kCore"
    assert env["aud"] == "kExecutor" and env["payload"] == payload
    assert len(unb64url(env["nonce"])) == 16
    assert env["exp"] - env["iat"] == 300
    # The envelope libkos prints is itself canonical.
    assert jcs(json.loads(text)).decode() == text


def test_tampered_libkos_task_fails_in_python():
    text = run_sign({"op": "deploy"})
    env = json.loads(text)
    env["payload"]["op"] = "destroy"
    with pytest.raises(BadSignatureError):
        python_verify(jcs(env).decode(), bytes(SigningKey(SEED).verify_key))


def test_python_task_verifies_in_libkos(tmp_path):
    key = SigningKey(os.urandom(32))
    payload = {"op": "summarize", "doc": 42, "tags": ["x", "y"]}
    result = run_verify(bytes(key.verify_key), python_sign(key, payload), tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == payload


def test_python_task_with_pretty_whitespace_verifies_in_libkos(tmp_path):
    key = SigningKey(os.urandom(32))
    pretty = json.dumps(json.loads(python_sign(key, {"op": "x"})), indent=2)
    result = run_verify(bytes(key.verify_key), pretty, tmp_path)
    assert result.returncode == 0, result.stderr


def test_libkos_refuses_tampered_or_misdirected_python_task(tmp_path):
    key = SigningKey(os.urandom(32))
    env = json.loads(python_sign(key, {"op": "read"}))
    env["payload"]["op"] = "write"
    result = run_verify(bytes(key.verify_key), jcs(env).decode(), tmp_path)
    assert result.returncode == 1 and "signature" in result.stderr

    other = SigningKey(os.urandom(32))
    result = run_verify(bytes(other.verify_key), python_sign(key, {"op": "read"}), tmp_path)
    assert result.returncode == 1, result.stderr

    result = run_verify(bytes(key.verify_key), python_sign(key, {"op": "read"}), tmp_path,
                        audience="kReviewer")
    assert result.returncode == 1 and "audience" in result.stderr

    expired = python_sign(key, {"op": "read"}, age=900)
    result = run_verify(bytes(key.verify_key), expired, tmp_path)
    assert result.returncode == 1 and "expired" in result.stderr
