"""kos.Store: put/get/delete/scan, CAS, TTL with a fake clock, batches, sqlite durability."""

import pytest

import kos


def test_put_get_versions_and_delete(store):
    r1 = store.put("notes", "a", b"one")
    r2 = store.put("notes", "a", "two")  # str is stored as UTF-8
    assert (r1.version, r2.version) == (1, 2)
    assert r2.sequence > r1.sequence
    rec = store.get("notes", "a")
    assert isinstance(rec, kos.Record)
    assert (rec.collection, rec.key, rec.value, rec.version) == ("notes", "a", b"two", 2)
    assert rec.expires is None
    store.delete("notes", "a")
    with pytest.raises(kos.NotFoundError):
        store.get("notes", "a")
    assert store.get_or_none("notes", "a") is None


def test_binary_values_round_trip(store):
    blob = bytes(range(256)) * 4
    store.put("bin", "k", blob)
    assert store.get("bin", "k").value == blob


def test_compare_and_set(store):
    store.put("c", "k", b"v1", expected_version=0)
    with pytest.raises(kos.FailedPreconditionError):
        store.put("c", "k", b"again", expected_version=0)
    store.put("c", "k", b"v2", expected_version=1)
    with pytest.raises(kos.FailedPreconditionError):
        store.delete("c", "k", expected_version=1)
    assert store.get("c", "k").value == b"v2"


def test_ttl_expires_with_fake_clock(store, clock):
    store.put("c", "short", b"x", ttl=10)
    assert store.get("c", "short").expires == pytest.approx(clock.now() + 10)
    clock.advance(11)
    with pytest.raises(kos.NotFoundError):
        store.get("c", "short")
    assert store.purge_expired() == 1


def test_scan_pages_and_prefix(store):
    for i in range(25):
        store.put("c", f"key{i:02d}", str(i))
    store.put("c", "other", b"x")
    page = store.scan("c", prefix="key", limit=10)
    assert [r.key for r in page.records] == [f"key{i:02d}" for i in range(10)]
    assert page.next_page_token
    keys = [r.key for r in store.items("c", prefix="key", page_size=7)]
    assert keys == [f"key{i:02d}" for i in range(25)]
    only_keys = store.scan("c", keys_only=True, limit=1).records[0]
    assert only_keys.value == b""


def test_commit_is_all_or_nothing(store):
    store.put("c", "a", b"1")
    with pytest.raises(kos.FailedPreconditionError):
        store.commit([kos.WriteOp.put("c", "b", b"2"),
                      kos.WriteOp.put("c", "a", b"x", expected_version=7)])
    assert store.get_or_none("c", "b") is None
    results = store.commit([kos.WriteOp.put("c", "b", b"2"), kos.WriteOp.delete("c", "a")])
    assert [r.version for r in results] == [1, 1]
    assert store.get_or_none("c", "a") is None
    assert store.last_sequence() >= 3


def test_sqlite_store_is_durable(tmp_path):
    uri = f"sqlite:///{tmp_path}/kos.db"
    with kos.Store(uri) as s:
        s.put("c", "k", b"persisted")
    with kos.Store(uri) as s:
        assert s.get("c", "k").value == b"persisted"
        assert s.uri == uri


def test_sqlite_background_checkpoint_keeps_every_batch(tmp_path):
    uri = f"sqlite:///{tmp_path}/bulk.db"
    value = b"x" * 3000
    with kos.Store(uri, background_checkpoint=True) as s:
        for b in range(20):
            s.commit([kos.WriteOp.put("c", f"k{b * 100 + i}", value) for i in range(100)])
        assert s.last_sequence() == 2000
    with kos.Store(uri) as s:
        assert s.get("c", "k1999").value == value
        assert len(s.scan("c", limit=10000).records) == 2000


def test_bad_uri_and_closed_handle():
    with pytest.raises(kos.InvalidArgumentError):
        kos.Store("nosuch://x")
    with kos.Store() as s:
        pass
    assert s.closed
    with pytest.raises(kos.FailedPreconditionError):
        s.put("c", "k", b"v")


def test_store_call_releases_the_gil(tmp_path):
    """A put that waits for a SQLite lock held by Python lets Python release it.

    If Store.put kept the GIL while waiting, the thread holding the lock could
    never run and the put would fail with UNAVAILABLE after busy_timeout.
    """
    import sqlite3
    import threading
    import time

    path = tmp_path / "locked.db"
    with kos.Store(f"sqlite:///{path}", busy_timeout=20) as s:
        s.put("c", "k", b"v0")
        con = sqlite3.connect(str(path), timeout=0, isolation_level=None)
        con.execute("BEGIN IMMEDIATE")  # holds the write lock
        result = {}

        def writer():
            t0 = time.monotonic()
            result["version"] = s.put("c", "k", b"v1").version
            result["waited"] = time.monotonic() - t0

        t = threading.Thread(target=writer)
        t.start()
        time.sleep(0.3)  # the writer is now blocked inside C++
        assert t.is_alive()
        con.execute("COMMIT")  # only possible if the blocked put released the GIL
        con.close()
        t.join(20)
        assert not t.is_alive()
        assert result["version"] == 2
        assert result["waited"] < 15
