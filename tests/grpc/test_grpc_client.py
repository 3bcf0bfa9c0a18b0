"""A Python grpcio client against a kos-grpc-server child process.

Run by ctest (which sets KOS_GRPC_SERVER, KOS_GRPC_PY_STUBS, KOS_SOURCE_DIR);
the stubs are generated at build time from proto/kos/v1.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

SERVER = os.environ.get("KOS_GRPC_SERVER")
STUBS = os.environ.get("KOS_GRPC_PY_STUBS")
SOURCE = os.environ.get("KOS_SOURCE_DIR")
if not (SERVER and STUBS and SOURCE):
    pytest.skip("run through ctest: KOS_GRPC_SERVER/KOS_GRPC_PY_STUBS/KOS_SOURCE_DIR unset",
                allow_module_level=True)
if not os.path.exists(SERVER):
    pytest.skip(f"{SERVER} not built", allow_module_level=True)
grpc = pytest.importorskip("grpc", reason="python3-grpcio is not installed")
sys.path.insert(0, STUBS)

import agents_pb2  # noqa: E402
import agents_pb2_grpc  # noqa: E402
import auth_pb2  # noqa: E402
import auth_pb2_grpc  # noqa: E402
import tasks_pb2  # noqa: E402
import tasks_pb2_grpc  # noqa: E402
import users_pb2  # noqa: E402
import users_pb2_grpc  # noqa: E402
import vault_pb2  # noqa: E402
import vault_pb2_grpc  # noqa: E402


def _identity(b):
    return b


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    d = tmp_path_factory.mktemp("kos-grpc")
    shutil.copytree(os.path.join(SOURCE, "deploy", "config"), d / "config")
    pw_file = d / "admin.password"
    proc = subprocess.Popen(
        [SERVER, "--host", "127.0.0.1", "--port", "0", "--data", str(d / "data"),
         "--config", str(d / "config"), "--logs", str(d / "logs"),
         "--admin-password-file", str(pw_file), "--development-handlers"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        address = None
        deadline = time.time() + 60
        while time.time() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            if "listening on" in line:
                address = line.split("listening on", 1)[1].split()[0]
                break
        if address is None:
            proc.kill()
            pytest.fail(f"server did not start: {proc.stderr.read()}")
        password = pw_file.read_text().strip()
        channel = grpc.insecure_channel(address)
        grpc.channel_ready_future(channel).result(timeout=30)
        yield channel, password
        channel.close()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert "stopped" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def token(server):
    channel, password = server
    resp = auth_pb2_grpc.AuthStub(channel).Login(
        auth_pb2.LoginRequest(username="admin", password=password), timeout=30)
    assert resp.token_type == "Bearer"
    assert resp.expires_in > 0
    return resp.access_token


def meta(token):
    return (("authorization", "Bearer " + token),)


def test_profile_of_the_logged_in_user(server, token):
    channel, _ = server
    p = users_pb2_grpc.UsersStub(channel).GetProfile(
        users_pb2.GetProfileRequest(), metadata=meta(token), timeout=10)
    assert p.username == "admin"
    assert "admin" in p.roles


def test_wrong_password_and_missing_token_are_unauthenticated(server):
    channel, _ = server
    with pytest.raises(grpc.RpcError) as e:
        auth_pb2_grpc.AuthStub(channel).Login(
            auth_pb2.LoginRequest(username="admin", password="nope-nope"), timeout=30)
    assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.RpcError) as e:
        users_pb2_grpc.UsersStub(channel).GetProfile(users_pb2.GetProfileRequest(), timeout=10)
    assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_vault_secret_round_trip_and_not_found(server, token):
    channel, _ = server
    vault = vault_pb2_grpc.VaultStub(channel)
    put = vault.Put(vault_pb2.PutSecretRequest(path="kv/py/secret", value=b"\x00s3cret"),
                    metadata=meta(token), timeout=10)
    assert put.version == 1
    got = vault.Get(vault_pb2.GetSecretRequest(path="kv/py/secret"), metadata=meta(token),
                    timeout=10)
    assert got.value == b"\x00s3cret"
    with pytest.raises(grpc.RpcError) as e:
        vault.Get(vault_pb2.GetSecretRequest(path="kv/py/absent"), metadata=meta(token),
                  timeout=10)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND


def test_execute_then_stream_logs_to_the_end(server, token):
    channel, _ = server
    resp = agents_pb2_grpc.AgentsStub(channel).Execute(
        agents_pb2.ExecuteRequest(agent="kCore", input_json=json.dumps({"goal": "hi"})),
        metadata=meta(token), timeout=10)
    assert resp.task_id
    tasks = tasks_pb2_grpc.TasksStub(channel)
    lines = list(tasks.StreamLogs(tasks_pb2.StreamLogsRequest(task_id=resp.task_id),
                                  metadata=meta(token), timeout=30))
    assert lines, "no log lines"
    assert any("development handler ran" in l.message for l in lines)
    assert [l.seq for l in lines] == sorted(l.seq for l in lines)
    task = tasks.Get(tasks_pb2.GetTaskRequest(task_id=resp.task_id), metadata=meta(token),
                     timeout=10)
    assert task.state == "succeeded"
    assert json.loads(task.output_json)["input"] == {"goal": "hi"}


def test_health_is_serving(server):
    channel, _ = server
    check = channel.unary_unary("/grpc.health.v1.Health/Check",
                                request_serializer=_identity, response_deserializer=_identity)
    # HealthCheckRequest{} is empty; HealthCheckResponse{status: SERVING} is 08 01.
    assert check(b"", timeout=10) == b"\x08\x01"


def test_reflection_lists_the_kos_services(server):
    channel, _ = server
    info = channel.stream_stream(
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        request_serializer=_identity, response_deserializer=_identity)
    # ServerReflectionRequest{list_services: ""}: field 7, length-delimited, empty.
    replies = list(info(iter([b"\x3a\x00"]), timeout=10))
    assert len(replies) == 1
    for name in (b"kos.v1.Auth", b"kos.v1.Users", b"kos.v1.Tasks", b"kos.v1.Artifacts",
                 b"grpc.health.v1.Health"):
        assert name in replies[0], name
