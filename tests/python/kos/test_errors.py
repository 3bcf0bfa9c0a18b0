"""Status codes map to one exception class each under kos.Error."""

import pytest

import kos

EXPECTED = {
    "INVALID_ARGUMENT": (kos.InvalidArgumentError, 3),
    "NOT_FOUND": (kos.NotFoundError, 5),
    "ALREADY_EXISTS": (kos.AlreadyExistsError, 6),
    "PERMISSION_DENIED": (kos.PermissionDeniedError, 7),
    "UNAUTHENTICATED": (kos.UnauthenticatedError, 16),
    "FAILED_PRECONDITION": (kos.FailedPreconditionError, 9),
    "RESOURCE_EXHAUSTED": (kos.ResourceExhaustedError, 8),
    "UNAVAILABLE": (kos.UnavailableError, 14),
    "DATA_LOSS": (kos.DataLossError, 15),
    "DEADLINE_EXCEEDED": (kos.DeadlineExceededError, 4),
    "INTERNAL": (kos.InternalError, 13),
    "CANCELLED": (kos.CancelledError, 1),
    "UNKNOWN": (kos.UnknownError, 2),
    "ABORTED": (kos.AbortedError, 10),
    "OUT_OF_RANGE": (kos.OutOfRangeError, 11),
    "UNIMPLEMENTED": (kos.UnimplementedError, 12),
}


def test_every_code_has_a_class_under_error():
    assert set(kos.ERRORS) == set(EXPECTED)
    for name, (cls, number) in EXPECTED.items():
        assert issubclass(cls, kos.Error)
        assert issubclass(cls, Exception)
        assert cls.code == name
        assert cls.numeric_code == number
        assert kos.ERRORS[name] is cls
    assert len({cls for cls, _ in EXPECTED.values()}) == len(EXPECTED)


def test_not_found_from_the_store(store):
    with pytest.raises(kos.NotFoundError) as info:
        store.get("c", "missing")
    assert info.value.code == "NOT_FOUND"
    assert isinstance(info.value, kos.Error)
    assert "missing" in str(info.value) or str(info.value)


def test_invalid_argument_and_failed_precondition(store):
    with pytest.raises(kos.InvalidArgumentError):
        store.put("bad collection name!", "k", b"v")
    store.put("c", "k", b"v1")
    with pytest.raises(kos.FailedPreconditionError) as info:
        store.put("c", "k", b"v2", expected_version=5)
    assert info.value.code == "FAILED_PRECONDITION"
    assert store.get("c", "k").value == b"v1"  # unchanged


def test_already_exists_and_unauthenticated(store):
    keys = kos.KeyRegistry(store)
    kp = kos.Ed25519KeyPair.generate()
    keys.add_key("k1", "kCore", kp.public_key)
    with pytest.raises(kos.AlreadyExistsError):
        keys.add_key("k1", "kCore", kp.public_key)
    with pytest.raises(kos.UnauthenticatedError):
        kos.ed25519_verify(kp.public_key, b"msg", b"\0" * 64)


def test_permission_denied_from_rbac():
    ac = kos.AccessController({"roles": {}, "bindings": {}})
    with pytest.raises(kos.PermissionDeniedError) as info:
        ac.check("user:bob", "vault:kv/x", "read")
    assert info.value.numeric_code == 7


def test_closed_handle_raises_failed_precondition():
    s = kos.Store("memory:")
    s.close()
    assert s.closed
    with pytest.raises(kos.FailedPreconditionError):
        s.get("c", "k")


def test_bad_python_types_raise_type_or_value_error(store):
    mem = kos.Memory(store, dimension=16)
    mem.create_namespace("ns")
    with pytest.raises(TypeError):
        mem.add("ns", text="x", metadata={"when": object()})
    with pytest.raises(ValueError):
        mem.add("ns", text="x", metadata={"n": float("nan")})
