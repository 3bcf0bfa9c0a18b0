"""Python bindings of libkos, the agent SDK.

Everything the native module ``kos._core`` offers is re-exported here, with a
little pure-Python sugar on top (iterators over paged results, ``verify`` that
returns a bool, ``FakeClock``).

Errors: every failure raises a subclass of :class:`kos.Error`; ``err.code`` is
the status code name (``"NOT_FOUND"``, ...) and ``err.numeric_code`` its gRPC
number.

Threading: every object is thread-safe and every blocking call releases the
GIL, so Python threads really run C++ work in parallel. Orchestrator handlers
run on C++ worker threads and hold the GIL only while Python code runs.
"""

from __future__ import annotations

import atexit as _atexit
import weakref as _weakref
from typing import Any, Iterator, Optional

from . import _core
from ._core import (  # noqa: F401  (re-exports)
    AbortedError,
    AccessController,
    AlreadyExistsError,
    Authenticator,
    CancelledError,
    Clock,
    DataLossError,
    DeadlineExceededError,
    Ed25519KeyPair,
    Error,
    FailedPreconditionError,
    InternalError,
    InvalidArgumentError,
    KeyRegistry,
    MemoryRecord,
    NotFoundError,
    OutOfRangeError,
    PermissionDeniedError,
    PromptRegistry,
    Record,
    ResourceExhaustedError,
    ScanPage,
    SearchHit,
    Secret,
    SignedEnvelope,
    TaskContext,
    TaskSigner,
    TaskVerifier,
    UnauthenticatedError,
    UnavailableError,
    UnimplementedError,
    UnknownError,
    Vault,
    WriteOp,
    WriteResult,
    base64url_decode,
    base64url_encode,
    blake2b,
    ed25519_verify,
    embed,
    generate_master_key,
    hmac_sha256,
    random_bytes,
    sha256,
)

__version__ = _core.__version__

# Short names used in the docs and the issue: a Signer signs, a Verifier verifies.
Signer = TaskSigner
Verifier = TaskVerifier

#: Exception class for each status code name, e.g. ``ERRORS["NOT_FOUND"]``.
ERRORS = {
    cls.code: cls
    for cls in (
        CancelledError, UnknownError, InvalidArgumentError, DeadlineExceededError,
        NotFoundError, AlreadyExistsError, PermissionDeniedError, ResourceExhaustedError,
        FailedPreconditionError, AbortedError, OutOfRangeError, UnimplementedError,
        InternalError, UnavailableError, DataLossError, UnauthenticatedError,
    )
}


def FakeClock(start: float = 1700000000.0) -> Clock:
    """A clock that moves only with ``advance(seconds)`` / ``set(t)`` (for tests)."""
    return Clock.fake(start)


def verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """True if ``signature`` is a valid Ed25519 signature of ``message``.

    Malformed keys or signatures (wrong sizes) still raise InvalidArgumentError.
    """
    try:
        ed25519_verify(public_key, message, signature)
        return True
    except UnauthenticatedError:
        return False


def sign(key_pair: Ed25519KeyPair, message: bytes) -> bytes:
    """The 64-byte Ed25519 signature of ``message``."""
    return key_pair.sign(message)


class Store(_core.Store):
    """A durable, versioned record store opened by URI (``memory:``, ``sqlite:///path.db``).

    Thread-safe; every call releases the GIL. Use as a context manager to close it.
    """

    def items(self, collection: str, prefix: str = "", page_size: int = 100,
              keys_only: bool = False) -> Iterator[Record]:
        """Every record of ``collection`` (whose key starts with ``prefix``), in key order."""
        token = ""
        while True:
            page = self.scan(collection, prefix=prefix, page_token=token, limit=page_size,
                             keys_only=keys_only)
            yield from page.records
            token = page.next_page_token
            if not token:
                return

    def get_or_none(self, collection: str, key: str) -> Optional[Record]:
        """The record, or None if it does not exist."""
        try:
            return self.get(collection, key)
        except NotFoundError:
            return None


class Memory(_core.Memory):
    """Agent memory: namespaces, add/search/recall with filters, numpy vectors in and out."""

    def records(self, ns: str, page_size: int = 100) -> Iterator[MemoryRecord]:
        """Every live record of namespace ``ns`` in id order (without embeddings)."""
        token = ""
        while True:
            records, token = self.list(ns, page_token=token, limit=page_size)
            yield from records
            if not token:
                return


# Orchestrators still running at interpreter exit are shut down first: their
# worker threads call into Python and must stop before the interpreter does.
_live_orchestrators: "_weakref.WeakSet[Orchestrator]" = _weakref.WeakSet()


# The audience of an envelope that carries a whole plan (submit_signed_plan).
PLAN_AUDIENCE = "kos.plan"


class Orchestrator(_core.Orchestrator):
    """Runs signed tasks with Python handlers on C++ worker threads.

    ``register_handler(agent, fn)``: ``fn(ctx: TaskContext)`` returns the task
    output (anything JSON-able) or raises (a kos.Error subclass keeps its code).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _live_orchestrators.add(self)

    def handler(self, agent: str):
        """Decorator form of register_handler: ``@orch.handler("kExecutor")``."""

        def register(fn):
            self.register_handler(agent, fn)
            return fn

        return register

    def submit(self, envelope: "SignedEnvelope | str") -> str:
        """Verifies and accepts one signed task (a SignedEnvelope or its text); returns its id."""
        return super().submit(envelope.text if isinstance(envelope, SignedEnvelope) else envelope)

    def submit_plan(self, envelopes) -> str:
        """Accepts a DAG of signed tasks atomically; returns the plan id."""
        return super().submit_plan(
            [e.text if isinstance(e, SignedEnvelope) else e for e in envelopes])

    def submit_signed_plan(self, envelope: "SignedEnvelope | str") -> str:
        """Accepts a whole plan signed as one envelope (audience PLAN_AUDIENCE); returns its id."""
        return super().submit_signed_plan(
            envelope.text if isinstance(envelope, SignedEnvelope) else envelope)

    def run(self, envelope: "SignedEnvelope | str", timeout: float = 30.0) -> dict:
        """Submits a signed task and waits for it; returns the final task info dict."""
        return self.wait(self.submit(envelope), timeout=timeout)


@_atexit.register
def _close_orchestrators() -> None:
    for orch in list(_live_orchestrators):
        try:
            orch.close()
        except Exception:  # pragma: no cover - best effort at exit
            pass


__all__ = [name for name in dir() if not name.startswith("_")]
