"""Memory searches release the GIL, so Python threads search in parallel.

The machine these tests run on may be busy (2 shared cores), so nothing here
compares timings against a threshold that load can break:

* test_python_runs_during_a_search proves the GIL is released: a pure-Python
  thread records timestamps while another thread sits in long searches; with
  the GIL held no Python code runs in the first half of a search call.
* test_parallel_searches_use_more_than_one_core compares the CPU time the two
  searching threads consumed with the wall time. Only a released GIL lets the
  sum exceed the wall time; when the machine has no second core to spare the
  result is inconclusive and the test skips, saying why.
"""

import os
import sys
import threading
import time

import numpy as np
import pytest

import kos

N, DIM, K = 20000, 64, 200


@pytest.fixture(scope="module")
def big_memory():
    with kos.Store("memory:") as store, kos.Memory(store, embedder=None) as mem:
        mem.create_namespace("big", dimension=DIM, metric="l2", index="faiss_flat")
        rng = np.random.default_rng(7)
        data = rng.standard_normal((N, DIM)).astype(np.float32)
        for start in range(0, N, 5000):
            mem.add_batch("big", embeddings=data[start:start + 5000],
                          metadatas=[{"g": i % 10} for i in range(start, start + 5000)])
        yield mem, rng.standard_normal((64, DIM)).astype(np.float32)


def _search(mem, q):
    # A filtered search rescoring 10000 candidates: about 20 ms of C++ work
    # (on an idle core) against a little Python conversion of 50 hits.
    return mem.recall("big", vector=q, k=50, candidate_multiplier=200, touch=False,
                      filter={"g": {"$in": [1, 3, 5, 7]}})


def test_search_results_are_right(big_memory):
    mem, queries = big_memory
    hits = mem.search("big", vector=queries[0], k=K, filter={"g": {"$in": [1, 3, 5, 7]}})
    assert len(hits) == K
    assert all(h.record.metadata["g"] in (1, 3, 5, 7) for h in hits)
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    recalled = _search(mem, queries[0])
    assert len(recalled) == 50
    assert all(h.record.metadata["g"] in (1, 3, 5, 7) for h in recalled)


def test_python_runs_during_a_search(big_memory):
    mem, queries = big_memory
    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(0.001)
    try:
        stop = threading.Event()
        calls = []
        ticks = []

        def searcher():
            i = 0
            while not stop.is_set():
                t0 = time.perf_counter()
                _search(mem, queries[i % len(queries)])
                calls.append((t0, time.perf_counter()))
                i += 1

        def ticker():
            while not stop.is_set():
                ticks.append(time.perf_counter())
                for _ in range(200):  # pure Python work between timestamps
                    pass

        threads = [threading.Thread(target=searcher), threading.Thread(target=ticker)]
        for t in threads:
            t.start()
        time.sleep(1.5)
        stop.set()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old_interval)

    # With the GIL held through the C++ part, the ticker can only run once the
    # call has returned into Python (and, under load, before t1 is taken), so
    # ticks land at the end of [t0, t1], never in its first half. With the GIL
    # released they land all along the call. (Checked against sum(range(...)),
    # a C call that holds the GIL: 0 of 13 calls had ticks in their first half;
    # these searches: 12 of 13.)
    ticks_arr = np.array(ticks)
    with_early_ticks = 0
    for t0, t1 in calls:
        early = (ticks_arr > t0 + 0.002) & (ticks_arr < (t0 + t1) / 2)
        with_early_ticks += int(np.count_nonzero(early) > 0)
    durations = [t1 - t0 for t0, t1 in calls]
    print(f"{len(calls)} searches, median {np.median(durations) * 1e3:.1f} ms; "
          f"{len(ticks)} Python ticks; {with_early_ticks} searches had Python ticks in "
          "their first half")
    if len(calls) < 4:
        pytest.skip(f"only {len(calls)} searches finished in 1.5 s: machine too busy to judge")
    assert with_early_ticks >= max(1, len(calls) // 4), (
        "Python code did not run while searches were in C++: the GIL was held")


def test_parallel_searches_use_more_than_one_core(big_memory):
    mem, queries = big_memory
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if cpus < 2:
        pytest.skip(f"only {cpus} CPU available to this process: parallelism cannot show")
    per_thread_cpu = [0.0, 0.0]
    barrier = threading.Barrier(2)

    def worker(slot):
        barrier.wait()
        c0 = time.thread_time()
        for i in range(8):
            _search(mem, queries[(slot * 8 + i) % len(queries)])
        per_thread_cpu[slot] = time.thread_time() - c0

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(2)]
    w0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - w0
    ratio = sum(per_thread_cpu) / wall
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"2 threads: cpu {per_thread_cpu[0]:.3f}+{per_thread_cpu[1]:.3f} s in wall "
          f"{wall:.3f} s -> {ratio:.2f} cores busy (load average {load:.1f}, {cpus} CPUs)")
    if ratio <= 1.15:
        pytest.skip(f"inconclusive: the two searching threads got only {ratio:.2f} cores' worth "
                    f"of CPU (load average {load:.1f} on {cpus} CPUs), so parallelism cannot "
                    "show; test_python_runs_during_a_search checks the GIL release instead")
    # Holding the GIL through a search would cap this near 1.0 however idle the machine is.
    assert ratio > 1.15
