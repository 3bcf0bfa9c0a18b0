"""Fixtures for the kos Python binding tests.

Run by ctest with PYTHONPATH pointing at the build tree's package directory
(bindings/python in the build dir), or by hand:
  PYTHONPATH=build-python/bindings/python /usr/bin/python3 -m pytest tests/python/kos
"""

import pytest

import kos


@pytest.fixture
def clock():
    return kos.FakeClock()


@pytest.fixture
def store(clock):
    with kos.Store("memory:", clock=clock) as s:
        yield s


@pytest.fixture
def signing(store, clock):
    """A key pair trusted for issuer kCore under kid core-1, and a signer for it."""
    keys = kos.KeyRegistry(store)
    kp = kos.Ed25519KeyPair.generate()
    keys.add_key("core-1", "kCore", kp.public_key)
    signer = kos.TaskSigner(issuer="kCore", kid="core-1", key_pair=kp, clock=clock)
    return keys, signer, kp
