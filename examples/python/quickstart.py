#!/usr/bin/env python3
"""libkos from Python in one page: a secret, a signed task run by a Python
handler, and agent memory.

Run from a build tree:
    PYTHONPATH=build/bindings/python python3 examples/python/quickstart.py
or after `cmake --install` (see docs/python.md) with plain `python3`.
"""

import kos


def main() -> None:
    # One in-process store holds everything here; use "sqlite:///path/kos.db"
    # to keep it across runs.
    with kos.Store("memory:") as store:
        # 1. A secret, encrypted at rest under a master key kept outside the store.
        master_key = kos.generate_master_key()
        with kos.Vault(store, master_key=master_key, master_key_env="") as vault:
            vault.put("kv/team/openai", b"sk-example-not-real")
            secret = vault.get("kv/team/openai")
            print(f"secret {secret.path} v{secret.version}: {secret!r}")
            assert secret.value == b"sk-example-not-real"

        # 2. A signed task executed by a Python handler.
        keys = kos.KeyRegistry(store)
        key_pair = kos.Ed25519KeyPair.generate()
        keys.add_key("core-1", "kCore", key_pair.public_key)
        signer = kos.Signer(issuer="kCore", kid="core-1", key_pair=key_pair)

        memory = kos.Memory(store, dimension=128)
        memory.create_namespace("agents/kExecutor")

        with kos.Orchestrator(store, keys, agents=["kExecutor"], max_concurrent=2) as orch:

            @orch.handler("kExecutor")
            def remember(ctx: kos.TaskContext):
                note = ctx.input["note"]
                ctx.log("remembering", fields={"chars": len(note)})
                record_id = memory.add("agents/kExecutor", text=note,
                                       metadata={"task": ctx.task_id}, importance=0.8)
                return {"record": record_id}

            envelope = signer.sign("kExecutor", {"input": {"note": "The launch is on Friday."}})
            info = orch.run(envelope, timeout=30)
            print(f"task {info['id']} {info['state']}: {info['output']}")
            assert info["state"] == "succeeded"
            for line in orch.logs(info["id"]):
                print(f"  log {line['level']}: {line['message']} {line['fields']}")

        # 3. Recall what the agent remembered.
        memory.add("agents/kExecutor", text="Lunch is at noon.")
        hits = memory.recall("agents/kExecutor", text="when is the launch", k=1)
        print(f"recalled: {hits[0].record.text!r} (score {hits[0].score:.3f})")
        assert hits[0].record.text == "The launch is on Friday."
        memory.close()


if __name__ == "__main__":
    main()
