"""autolrs.Client against a real autolrs_server: calls, errors, retries, auth."""

import os
import signal
import socket
import threading
import time
from concurrent import futures

import grpc
import pytest

import autolrs
import testutil
from autolrs.v1 import service_pb2_grpc

CONFIG = {"lr_min": 1e-3, "lr_max": 1.0}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_creates_gets_lists_and_deletes_jobs(server):
    with autolrs.Client(server.address) as client:
        job = client.create_job(job_id="a", config=CONFIG)
        assert job.job_id == "a"
        assert job.state == autolrs.job_pb2.JOB_STATE_RUNNING
        assert job.config.tau_initial == 1000  # Defaults are resolved.
        assert client.get_job("a") == job
        client.create_job(job_id="b", config=autolrs.JobConfig(lr_min=0.01, lr_max=0.1))
        assert [j.job_id for j in client.list_jobs().jobs] == ["a", "b"]
        client.delete_job("a")
        assert [j.job_id for j in client.list_jobs().jobs] == ["b"]
        assert client.calls == client.attempts == 6


def test_create_job_generates_a_request_id_so_two_calls_make_two_jobs(server):
    with autolrs.Client(server.address) as client:
        first = client.create_job(config=CONFIG)
        second = client.create_job(config=CONFIG)
        assert first.job_id != second.job_id
        # The same request_id returns the job the first call created.
        again = client.create_job(config=CONFIG, request_id="r-1")
        assert client.create_job(config=CONFIG, request_id="r-1").job_id == again.job_id


def test_invalid_config_is_invalid_argument_naming_the_field(server):
    with autolrs.Client(server.address) as client:
        with pytest.raises(autolrs.Error) as e:
            client.create_job(job_id="bad", config={"lr_min": 1.0, "lr_max": 0.5})
        assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert "lr_max" in e.value.message
        assert client.attempts == 1  # Not retried.


def test_unknown_config_field_is_a_clear_local_error():
    with pytest.raises(autolrs.Error) as e:
        autolrs.client.job_config({"lr_mn": 0.1})
    assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "lr_mn" in e.value.message


def test_not_found_is_raised_at_once_with_the_servers_message(server):
    with autolrs.Client(server.address) as client:
        with pytest.raises(autolrs.Error) as e:
            client.get_schedule("nope")
        assert e.value.code == grpc.StatusCode.NOT_FOUND
        assert "nope" in e.value.message
        assert str(e.value).startswith("NOT_FOUND: ")
        assert client.attempts == 1


def test_server_down_gives_unavailable_or_deadline_after_the_retries():
    port = free_port()  # Nothing listens there.
    with autolrs.Client(f"127.0.0.1:{port}", deadline=0.2, retries=2, initial_backoff=0.01,
                        max_backoff=0.02, seed=1) as client:
        start = time.monotonic()
        with pytest.raises(autolrs.Error) as e:
            client.get_job("a")
        elapsed = time.monotonic() - start
    # wait_for_ready: each attempt waits for a connection until its deadline.
    assert e.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "GetJob: gave up after 3 attempts" in e.value.message
    assert client.attempts == 3
    assert 0.6 <= elapsed < 5


def test_retry_budget_bounds_a_call():
    port = free_port()
    with autolrs.Client(f"127.0.0.1:{port}", deadline=0.1, retries=100, initial_backoff=0.01,
                        max_backoff=0.05, retry_budget=0.5) as client:
        start = time.monotonic()
        with pytest.raises(autolrs.Error):
            client.next_action("a")
        elapsed = time.monotonic() - start
    assert elapsed < 0.5 + 0.1 + 2  # retry_budget + deadline + slack for a loaded machine
    assert 2 <= client.attempts < 100


def test_a_call_survives_a_server_restart(make_server, tmp_path):
    store = f"sqlite:{tmp_path / 'autolrs.db'}"
    server = make_server(store)
    client = autolrs.Client(server.address, deadline=0.3, retries=40, initial_backoff=0.05,
                            max_backoff=0.2)
    client.create_job(job_id="kept", config=CONFIG)
    server.stop(signal.SIGKILL)
    restarter = threading.Timer(1.0, server.start)
    restarter.start()
    try:
        job = client.get_job("kept")  # Waits and retries while the server is down.
    finally:
        restarter.join()
    assert job.job_id == "kept"  # The durable store kept the job.
    assert client.calls == 2
    # Attempts (0.3 s each) ran out during the 1 s outage and were retried.
    assert client.attempts > client.calls
    client.close()


def test_bearer_token(make_server, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("s3cret-token\n")
    server = make_server(args=[f"--auth_token_file={token_file}"])
    with autolrs.Client(server.address, token="s3cret-token") as client:
        assert client.create_job(job_id="a", config=CONFIG).job_id == "a"
    for token in (None, "wrong"):
        with autolrs.Client(server.address, token=token) as client:
            with pytest.raises(autolrs.Error) as e:
                client.get_job("a")
            assert e.value.code == grpc.StatusCode.UNAUTHENTICATED
            assert "authorization" in e.value.message


@pytest.mark.parametrize("kwargs, field", [
    ({"target": ""}, "target"),
    ({"deadline": 0}, "deadline"),
    ({"deadline": float("inf")}, "deadline"),
    ({"retries": -1}, "retries"),
    ({"initial_backoff": 0}, "initial_backoff"),
    ({"initial_backoff": 1.0, "max_backoff": 0.5}, "max_backoff"),
    ({"retry_budget": -1}, "retry_budget"),
    ({"token": "bad\ntoken"}, "token"),
    ({"tls": "yes"}, "tls"),
])
def test_bad_options_are_invalid_argument_naming_the_option(kwargs, field):
    args = {"target": "localhost:1", **kwargs}
    with pytest.raises(autolrs.Error) as e:
        autolrs.Client(**args)
    assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert field in e.value.message


class FaultyService(service_pb2_grpc.AutoLrsServiceServicer):
    """Fails the first `failures` GetJob calls with `code`, then answers."""

    def __init__(self, code, failures):
        self.code, self.failures, self.calls, self.metadata = code, failures, 0, []

    def GetJob(self, request, context):
        self.calls += 1
        self.metadata.append(dict(context.invocation_metadata()))
        if self.calls <= self.failures:
            context.abort(self.code, f"injected failure {self.calls}")
        return autolrs.Job(job_id=request.job_id)


@pytest.fixture
def faulty():
    """A fake AutoLrsService in this process: make(code, failures) -> (service, address)."""
    servers = []

    def make(code, failures):
        service = FaultyService(code, failures)
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        service_pb2_grpc.add_AutoLrsServiceServicer_to_server(service, server)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        servers.append(server)
        return service, f"127.0.0.1:{port}"

    yield make
    for server in servers:
        server.stop(None)


@pytest.mark.parametrize("code", [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.ABORTED,
                                  grpc.StatusCode.DEADLINE_EXCEEDED])
def test_retryable_errors_are_retried(faulty, code):
    service, address = faulty(code, failures=3)
    with autolrs.Client(address, initial_backoff=0.01, token="t") as client:
        assert client.get_job("flaky").job_id == "flaky"
        assert service.calls == client.attempts == 4 and client.calls == 1
    # Every attempt carries the token.
    assert all(m.get("authorization") == "Bearer t" for m in service.metadata)


@pytest.mark.parametrize("code", [grpc.StatusCode.INVALID_ARGUMENT,
                                  grpc.StatusCode.FAILED_PRECONDITION,
                                  grpc.StatusCode.INTERNAL, grpc.StatusCode.NOT_FOUND])
def test_other_errors_are_not_retried(faulty, code):
    service, address = faulty(code, failures=3)
    with autolrs.Client(address, initial_backoff=0.01) as client:
        with pytest.raises(autolrs.Error) as e:
            client.get_job("flaky")
    assert e.value.code == code
    assert e.value.message == "injected failure 1"
    assert service.calls == 1


def test_gives_up_after_the_retries_with_the_last_error(faulty):
    service, address = faulty(grpc.StatusCode.UNAVAILABLE, failures=100)
    with autolrs.Client(address, retries=2, initial_backoff=0.01) as client:
        with pytest.raises(autolrs.Error) as e:
            client.get_job("flaky")
    assert e.value.code == grpc.StatusCode.UNAVAILABLE
    assert e.value.message.startswith("injected failure 3 (GetJob: gave up after 3 attempts in ")
    assert service.calls == 3


def test_backoff_doubles_up_to_the_cap_with_jitter():
    client = autolrs.Client("localhost:1", initial_backoff=0.1, max_backoff=0.3, seed=7)
    for retry, cap in [(1, 0.1), (2, 0.2), (3, 0.3), (4, 0.3), (10, 0.3), (5000, 0.3)]:
        for _ in range(20):
            assert cap / 2 <= client._backoff(retry) <= cap
    client.close()


if __name__ == "__main__":
    import sys
    sys.exit(testutil.run_pytest(__file__))
