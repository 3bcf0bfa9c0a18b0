"""kos.Orchestrator with Python handlers: submit, wait, errors, cancel, logs, plans."""

import threading
import time

import pytest

import kos


@pytest.fixture
def orch(store, signing):
    keys, _, _ = signing
    o = kos.Orchestrator(store, keys, agents=["kExecutor", "kPlanner", "kReviewer"],
                         max_concurrent=2)
    yield o
    o.close()


def test_python_handler_runs_a_signed_task(orch, signing):
    _, signer, _ = signing
    seen = {}

    @orch.handler("kExecutor")
    def execute(ctx):
        seen["thread"] = threading.get_ident()
        seen["agent"] = ctx.agent
        ctx.log("adding", fields={"a": ctx.input["a"]})
        return {"sum": ctx.input["a"] + ctx.input["b"]}

    env = signer.sign("kExecutor", {"input": {"a": 2, "b": 3}})
    info = orch.run(env, timeout=30)
    assert info["state"] == "succeeded", info
    assert info["output"] == {"sum": 5}
    assert info["id"] == env.task_id and info["issuer"] == "kCore"
    assert seen["agent"] == "kExecutor"
    assert seen["thread"] != threading.get_ident()  # ran on a C++ worker thread
    logs = orch.logs(info["id"])
    assert any(l["message"] == "adding" and l["fields"] == {"a": 2} for l in logs)
    assert orch.get(info["id"])["state"] == "succeeded"


def test_handler_exceptions_map_to_codes_and_are_not_retried(orch, signing):
    _, signer, _ = signing
    calls = []

    def failing(ctx):
        calls.append(ctx.attempt)
        raise kos.PermissionDeniedError("no access to that")

    orch.register_handler("kExecutor", failing)
    payload = {"retry": {"max_attempts": 3, "initial_backoff_ms": 1}}
    info = orch.run(signer.sign("kExecutor", payload), timeout=30)
    assert info["state"] == "failed"
    assert info["error_code"] == "PERMISSION_DENIED" and "no access" in info["error"]
    assert calls == [1]

    orch.register_handler("kPlanner", lambda ctx: 1 / 0)
    info = orch.run(signer.sign("kPlanner"), timeout=30)
    assert info["state"] == "failed" and info["error_code"] == "UNKNOWN"
    assert "ZeroDivisionError" in info["error"]

    orch.register_handler("kReviewer", lambda ctx: {"bad": object()})
    info = orch.run(signer.sign("kReviewer"), timeout=30)
    assert info["state"] == "failed" and info["error_code"] == "INVALID_ARGUMENT"


def test_unsigned_replayed_and_unknown_agent_are_refused(orch, signing, clock):
    _, signer, _ = signing
    orch.register_handler("kExecutor", lambda ctx: None)
    env = signer.sign("kExecutor")
    orch.submit(env)
    with pytest.raises(kos.UnauthenticatedError):
        orch.submit(env)  # replay
    with pytest.raises(kos.UnauthenticatedError):
        orch.submit(env.text.replace('"aud":"kExecutor"', '"aud":"kPlanner"'))
    other = kos.TaskSigner(issuer="kCore", kid="core-1",
                           key_pair=kos.Ed25519KeyPair.generate(), clock=clock)
    with pytest.raises(kos.UnauthenticatedError):
        orch.submit(other.sign("kExecutor"))  # wrong key
    with pytest.raises(kos.Error):
        orch.submit(signer.sign("kNobody"))
    with pytest.raises(kos.NotFoundError):
        orch.get("01ARZ3NDEKTSV4RRFFQ69G5FAV")
    with pytest.raises(kos.InvalidArgumentError):
        orch.get("not-a-ulid")


def test_cancel_reaches_a_running_handler(orch, signing):
    _, signer, _ = signing
    started = threading.Event()

    def slow(ctx):
        started.set()
        cancelled = ctx.wait_for_cancel(20)  # GIL released while waiting
        return {"cancelled": cancelled}

    orch.register_handler("kExecutor", slow)
    tid = orch.submit(signer.sign("kExecutor"))
    assert started.wait(20)
    orch.cancel(tid)
    info = orch.wait(tid, timeout=20)
    assert info["state"] == "cancelled"
    with pytest.raises(kos.FailedPreconditionError):
        orch.cancel(tid)


def test_wait_releases_the_gil_for_handlers(orch, signing):
    """wait() blocks in C++ while the handler needs the GIL to finish.

    The handler waits for an event that this thread sets only after wait() has
    started; if wait() held the GIL the handler could not run at all and the
    wait would time out.
    """
    _, signer, _ = signing
    go = threading.Event()

    def handler(ctx):
        deadline = time.monotonic() + 20
        while not go.is_set() and time.monotonic() < deadline:
            time.sleep(0.001)
        return {"ok": go.is_set()}

    orch.register_handler("kExecutor", handler)
    tid = orch.submit(signer.sign("kExecutor"))
    threading.Timer(0.2, go.set).start()
    info = orch.wait(tid, timeout=25)
    assert info["state"] == "succeeded" and info["output"] == {"ok": True}


def test_wait_times_out_with_deadline_exceeded(orch, signing):
    _, signer, _ = signing
    release = threading.Event()
    orch.register_handler("kExecutor", lambda ctx: release.wait(20) and None)
    tid = orch.submit(signer.sign("kExecutor"))
    with pytest.raises(kos.DeadlineExceededError):
        orch.wait(tid, timeout=0.2)
    release.set()
    assert orch.wait(tid, timeout=20)["state"] == "succeeded"


def test_plan_dependencies_feed_outputs(orch, signing):
    _, signer, _ = signing
    orch.register_handler("kPlanner", lambda ctx: {"steps": ["a", "b"]})
    orch.register_handler(
        "kExecutor",
        lambda ctx: {"got": list(ctx.dependency_outputs.values())[0]["steps"]})
    first = signer.sign("kPlanner")
    second = signer.sign("kExecutor", {"depends_on": [first.task_id]})
    plan = orch.submit_plan([first, second])
    info = orch.wait(second.task_id, timeout=30)
    assert info["state"] == "succeeded" and info["output"] == {"got": ["a", "b"]}
    assert info["depends_on"] == [first.task_id]
    assert {t["id"] for t in orch.plan_tasks(plan)} == {first.task_id, second.task_id}


def test_signed_plan_is_one_envelope_and_cannot_be_replayed(orch, signing):
    _, signer, _ = signing
    orch.register_handler("kPlanner", lambda ctx: {"steps": ["a"]})
    orch.register_handler("kExecutor",
                          lambda ctx: {"got": list(ctx.dependency_outputs.values())[0]["steps"]})
    env = signer.sign(kos.PLAN_AUDIENCE, {"tasks": [
        {"agent": "kPlanner", "id": "01J00000000000000000000001"},
        {"agent": "kExecutor", "id": "01J00000000000000000000002",
         "depends_on": ["01J00000000000000000000001"]}]})
    plan = orch.submit_signed_plan(env)
    assert plan == env.task_id
    info = orch.wait("01J00000000000000000000002", timeout=30)
    assert info["state"] == "succeeded" and info["output"] == {"got": ["a"]}, info
    assert {t["id"] for t in orch.plan_tasks(plan)} == {
        "01J00000000000000000000001", "01J00000000000000000000002"}
    with pytest.raises(kos.UnauthenticatedError):
        orch.submit_signed_plan(env)
    # A plan envelope is not a task envelope, and the other way round.
    with pytest.raises(kos.Error):
        orch.submit(signer.sign(kos.PLAN_AUDIENCE, {"tasks": [{"agent": "kPlanner"}]}))
    with pytest.raises(kos.Error):
        orch.submit_signed_plan(signer.sign("kPlanner"))


def test_context_is_invalid_after_the_handler_returns(orch, signing):
    _, signer, _ = signing
    kept = []

    def handler(ctx):
        kept.append(ctx)
        return ctx.task_id

    orch.register_handler("kExecutor", handler)
    info = orch.run(signer.sign("kExecutor"), timeout=30)
    assert info["output"] == info["id"]
    with pytest.raises(kos.FailedPreconditionError):
        kept[0].task_id


def test_close_with_a_running_handler_does_not_deadlock(store, signing):
    keys, signer, _ = signing
    o = kos.Orchestrator(store, keys, agents=["kExecutor"], max_concurrent=1)
    started = threading.Event()

    def handler(ctx):
        started.set()
        while not ctx.cancelled:
            time.sleep(0.001)  # needs the GIL every millisecond
        return None

    o.register_handler("kExecutor", handler)
    o.submit(signer.sign("kExecutor"))
    assert started.wait(20)
    o.close()  # cancels the handler and waits for it while not holding the GIL
    assert o.closed
    with pytest.raises(kos.FailedPreconditionError):
        o.stats()


EXIT_SCRIPT = r"""
import gc, sys, threading, time
import kos

store = kos.Store("memory:")
keys = kos.KeyRegistry(store)
kp = kos.Ed25519KeyPair.generate()
keys.add_key("core-1", "kCore", kp.public_key)
signer = kos.Signer(issuer="kCore", kid="core-1", key_pair=kp)
started = threading.Event()

def busy(ctx):
    started.set()
    while not ctx.cancelled:  # runs Python (needs the GIL) until cancelled
        time.sleep(0.001)
    return None

def make():
    o = kos.Orchestrator(store, keys, agents=["kExecutor"], max_concurrent=1)
    o.register_handler("kExecutor", busy)
    o.submit(signer.sign("kExecutor"))
    return o

if sys.argv[1] == "drop":
    o = make()
    assert started.wait(20)
    del o          # the last reference goes away with the GIL held
    gc.collect()
    print("dropped")
else:
    o = make()     # left running: atexit must shut it down before finalization
    assert started.wait(20)
    print("exiting")
"""


@pytest.mark.parametrize("mode", ["drop", "exit"])
def test_dropping_or_exiting_with_a_running_handler_does_not_hang(mode, tmp_path):
    import os
    import subprocess
    import sys

    script = tmp_path / "script.py"
    script.write_text(EXIT_SCRIPT)
    out = subprocess.run([sys.executable, str(script), mode], capture_output=True, text=True,
                         timeout=60, env=dict(os.environ))
    assert out.returncode == 0, out.stderr
    assert ("dropped" if mode == "drop" else "exiting") in out.stdout


def test_review_approve_and_reject(orch, signing):
    _, signer, _ = signing
    orch.register_handler("kExecutor", lambda ctx: {"draft": ctx.input["n"]})
    first = orch.submit(signer.sign("kExecutor", {"input": {"n": 1}, "review": True}))
    second = orch.submit(signer.sign("kExecutor", {"input": {"n": 2}, "review": True}))
    assert orch.wait(first, timeout=30)["state"] == "awaiting_review"
    assert orch.wait(second, timeout=30)["state"] == "awaiting_review"
    waiting = {t["id"] for t in orch.list(agent="kExecutor", state="awaiting_review")}
    assert waiting == {first, second}
    orch.approve(first, "ann")
    orch.reject(second, "bob", "not good enough")
    done = orch.get(first)
    assert done["state"] == "succeeded" and done["reviewer"] == "ann"
    assert done["output"] == {"draft": 1}
    assert orch.get(second)["state"] in ("failed", "cancelled")
    with pytest.raises(kos.InvalidArgumentError):
        orch.list(state="no-such-state")
