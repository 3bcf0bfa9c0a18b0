"""kos.Memory: namespaces, add/search/recall with filters, numpy in and out, TTL, durability."""

import numpy as np
import pytest

import kos

DIM = 256


@pytest.fixture
def mem(store):
    with kos.Memory(store, dimension=DIM) as m:
        yield m


def test_namespaces(mem):
    mem.create_namespace("user/alice")
    mem.create_namespace("user/alice")  # same config: OK
    with pytest.raises(kos.AlreadyExistsError):
        mem.create_namespace("user/alice", metric="l2")
    mem.create_namespace("user/bob", dimension=8, index="faiss_flat")
    assert mem.list_namespaces("user/") == ["user/alice", "user/bob"]
    assert mem.get_namespace("user/bob")["index"] == "faiss_flat"
    assert mem.get_namespace("user/alice")["dimension"] == DIM
    with pytest.raises(kos.InvalidArgumentError):
        mem.create_namespace("bad//name")
    with pytest.raises(kos.InvalidArgumentError):
        mem.create_namespace("x", metric="manhattan")
    mem.delete_namespace("user/bob")
    with pytest.raises(kos.NotFoundError):
        mem.get_namespace("user/bob")


def test_faiss_ivf_namespace(mem):
    mem.create_namespace("ivf", dimension=8, index="faiss_ivf", metric="l2", nlist=2, nprobe=2,
                         ivf_train_size=1000)
    cfg = mem.get_namespace("ivf")
    assert (cfg["index"], cfg["nlist"], cfg["nprobe"], cfg["ivf_train_size"]) == \
        ("faiss_ivf", 2, 2, 1000)
    vecs = np.eye(8, dtype=np.float32)
    ids = mem.add_batch("ivf", embeddings=vecs, ids=[f"v{i}" for i in range(8)])
    assert len(ids) == 8
    # Untrained (fewer than ivf_train_size records): the search is exact.
    hits = mem.search("ivf", vector=vecs[3] * 0.9, k=1)
    assert [h.id for h in hits] == ["v3"]
    with pytest.raises(kos.InvalidArgumentError):
        mem.create_namespace("ivf2", dimension=8, index="ivf_pq")


def test_add_by_text_and_search_with_filter(mem):
    mem.create_namespace("notes")
    mem.add("notes", text="the cat sat on the mat", metadata={"kind": "pet", "n": 1}, id="cat")
    mem.add("notes", text="dogs chase cats in the park", metadata={"kind": "pet", "n": 2})
    mem.add("notes", text="quarterly revenue grew", metadata={"kind": "finance", "n": 3})
    hits = mem.search("notes", text="cat on a mat", k=2)
    assert hits[0].id == "cat" and hits[0].record.text == "the cat sat on the mat"
    assert hits[0].score == pytest.approx(hits[0].similarity)
    assert hits[0].record.embedding is None  # not asked for
    finance = mem.search("notes", text="cat on a mat", k=5, filter={"kind": "finance"})
    assert [h.record.metadata["kind"] for h in finance] == ["finance"]
    ranged = mem.search("notes", text="cats", k=5, filter={"n": {"$gte": 2}})
    assert sorted(h.record.metadata["n"] for h in ranged) == [2, 3]
    with pytest.raises(kos.InvalidArgumentError):
        mem.search("notes", text="x", filter={"no_such_field": 1})


def test_numpy_vectors_in_and_out(store):
    mem = kos.Memory(store, embedder=None)
    mem.create_namespace("vec", dimension=4, metric="cosine", index="faiss_flat")
    v = np.array([1, 0, 0, 0], dtype=np.float32)
    mem.add("vec", embedding=v, id="x", metadata={"axis": "x"})
    mem.add("vec", embedding=np.array([0, 1, 0, 0], dtype=np.float32), id="y")
    # float64 and lists are converted; non-contiguous views too.
    mem.add("vec", embedding=np.array([0.9, 0.1, 0, 0], dtype=np.float64), id="xy")
    mem.add("vec", embedding=np.eye(4, dtype=np.float32)[:, 2], id="z")
    rec = mem.get("vec", "x")
    assert isinstance(rec.embedding, np.ndarray)
    assert rec.embedding.dtype == np.float32 and rec.embedding.shape == (4,)
    np.testing.assert_allclose(rec.embedding, v)
    hits = mem.search("vec", vector=[1.0, 0.0, 0.0, 0.0], k=2, include_embeddings=True)
    assert [h.id for h in hits] == ["x", "xy"]
    assert hits[0].record.embedding.dtype == np.float32
    with pytest.raises(kos.InvalidArgumentError):
        mem.add("vec", embedding=np.ones(3, dtype=np.float32))  # wrong dimension
    with pytest.raises(ValueError):
        mem.add("vec", embedding=np.ones((2, 2), dtype=np.float32))
    with pytest.raises(kos.InvalidArgumentError):
        mem.add("vec", embedding=np.array([np.nan, 0, 0, 0], dtype=np.float32))
    with pytest.raises(kos.InvalidArgumentError):
        mem.add("vec", text="no embedder to embed this")


def test_add_batch_from_a_2d_array(store):
    mem = kos.Memory(store, embedder=None)
    mem.create_namespace("b", dimension=8, index="faiss_flat")
    data = np.random.default_rng(0).standard_normal((50, 8)).astype(np.float32)
    ids = mem.add_batch("b", embeddings=data, metadatas=[{"i": i} for i in range(50)])
    assert len(ids) == 50
    hit = mem.search("b", vector=data[17], k=1)[0]
    assert hit.record.metadata == {"i": 17}
    assert mem.stats("b")["records"] == 50
    with pytest.raises(ValueError):
        mem.add_batch("b", embeddings=data, ids=["a"])
    with pytest.raises(kos.AlreadyExistsError):
        mem.add_batch("b", embeddings=data[:2], ids=[ids[0], "fresh"])
    assert mem.stats("b")["records"] == 50  # all or nothing


def test_recall_weighs_importance(mem):
    mem.create_namespace("r")
    mem.add("r", text="meeting with the board about budget", importance=0.0, id="low")
    mem.add("r", text="meeting with the board about budget", importance=1.0, id="high")
    hits = mem.recall("r", text="board meeting", k=2, w_importance=1.0)
    assert [h.id for h in hits] == ["high", "low"]
    assert hits[0].score > hits[1].score


def test_get_update_delete_list_and_ttl(mem, clock):
    mem.create_namespace("t")
    rid = mem.add("t", text="first version", ttl=60)
    assert mem.get("t", rid).expires == pytest.approx(clock.now() + 60)
    mem.update("t", rid, text="second version", metadata={"v": 2}, ttl=60)
    assert mem.get("t", rid).text == "second version"
    other = mem.add("t", text="kept forever")
    records, token = mem.list("t")
    assert {r.id for r in records} == {rid, other} and token == ""
    clock.advance(61)
    with pytest.raises(kos.NotFoundError):
        mem.get("t", rid)
    assert mem.purge_expired() == 1
    assert [r.id for r in mem.records("t")] == [other]
    mem.delete("t", other)
    with pytest.raises(kos.NotFoundError):
        mem.delete("t", other)


def test_memory_is_rebuilt_from_a_sqlite_store(tmp_path):
    uri = f"sqlite:///{tmp_path}/mem.db"
    with kos.Store(uri) as s, kos.Memory(s, dimension=DIM) as m:
        m.create_namespace("durable")
        m.add("durable", text="remember the milk", id="milk")
    with kos.Store(uri) as s, kos.Memory(s, dimension=DIM) as m:
        assert m.search("durable", text="milk", k=1)[0].id == "milk"


def test_embed_helper_is_deterministic():
    a = kos.embed(["hello world", "goodbye"], dimension=32)
    b = kos.embed(["hello world", "goodbye"], dimension=32)
    assert a.shape == (2, 32) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, rtol=1e-5)


def test_python_callable_embedder(store):
    calls = []

    def embedder(texts):
        calls.append(list(texts))
        return kos.embed(texts, dimension=32) * 2.0  # any (n, 32) float array

    mem = kos.Memory(store, embedder=embedder, dimension=32, model="test-model")
    assert mem.dimension == 32
    mem.create_namespace("py")
    mem.add("py", text="alpha beta gamma", id="abc")
    mem.add("py", text="completely different words", id="other")
    assert mem.search("py", text="alpha beta", k=1)[0].id == "abc"
    assert ["alpha beta"] in calls and ["alpha beta gamma"] in calls

    bad_shape = kos.Memory(store, embedder=lambda texts: np.zeros((len(texts), 3)), dimension=32)
    with pytest.raises(kos.InvalidArgumentError):
        bad_shape.search("py", text="alpha")

    def failing(texts):
        raise kos.UnavailableError("model server down")

    down = kos.Memory(store, embedder=failing, dimension=32)
    with pytest.raises(kos.UnavailableError, match="model server down"):
        down.search("py", text="alpha")
    with pytest.raises(TypeError):
        kos.Memory(store, embedder=42)
