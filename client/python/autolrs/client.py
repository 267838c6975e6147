"""autolrs.Client: a typed client of autolrs.v1.AutoLrsService.

The same semantics as the C++ autolrs::Client (client/client.h): every call
has a deadline per attempt, waits for the channel to be ready (so a server
that is down or restarting is waited for), and is retried with exponential
backoff and jitter on UNAVAILABLE, DEADLINE_EXCEEDED and ABORTED (ABORTED: a
concurrent update of the job won, see server/scheduler.cc); every other error
is raised at once. Every error is an autolrs.Error carrying the gRPC status
code and message.
"""

import random
import secrets
import threading
import time

import grpc

from autolrs.v1 import job_pb2, service_pb2, service_pb2_grpc

RETRYABLE = frozenset({
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.ABORTED,
})


class Error(Exception):
    """The one exception type of the autolrs package.

    code: a grpc.StatusCode (the server's, or the client's own for local
      errors: INVALID_ARGUMENT for bad arguments, FAILED_PRECONDITION for
      calls out of order, ...).
    message: what was wrong.
    """

    def __init__(self, code, message):
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message


def _invalid(what):
    return Error(grpc.StatusCode.INVALID_ARGUMENT, what)


class Client:
    """A client of one autolrs_server (one gRPC channel, reused by every call).

    Args:
      target: gRPC target, e.g. "localhost:50051" or "dns:///autolrs:50051".
      token: when set, every call carries "authorization: Bearer <token>"
        (printable ASCII).
      tls: None for an insecure channel; True for TLS with the system's root
        certificates; bytes for TLS with these PEM root certificates; or a
        grpc.ChannelCredentials (see tls_credentials() for a CA file and a
        client certificate: mTLS).
      tls_server_name: with tls, the name the server's certificate must hold
        instead of the target's host (e.g. when the target is an IP address).
      deadline: seconds each attempt may take, > 0.
      retries: retries of one call at most after its first attempt, >= 0
        (the C++ Client's max_attempts = retries + 1; default 8 attempts).
      initial_backoff, max_backoff: seconds before the first retry; doubles
        after each retry up to max_backoff; each sleep is drawn uniformly from
        [backoff / 2, backoff]. 0 < initial_backoff <= max_backoff.
      retry_budget: no retry starts later than this many seconds after the
        call began, so a call lasts at most retry_budget + deadline. >= 0.
      seed: of the backoff jitter (None: from the process's entropy).

    With the defaults a call survives a server outage of 30 s or more.
    Retrying is safe because the API is idempotent: create_job always sends a
    request_id (generated when empty), report_losses is idempotent by
    action_id, the other calls do not change state.

    Thread-safe. Use as a context manager, or call close().
    """

    def __init__(self, target, token=None, tls=None, deadline=10.0, retries=7,
                 initial_backoff=0.05, max_backoff=2.0, retry_budget=30.0, seed=None,
                 channel=None, tls_server_name=None):
        if not target and channel is None:
            raise _invalid("Client target is required, e.g. 'localhost:50051'")
        if not (isinstance(deadline, (int, float)) and 0 < deadline < float("inf")):
            raise _invalid(f"Client deadline must be finite and > 0 seconds, got {deadline!r}")
        if not isinstance(retries, int) or retries < 0:
            raise _invalid(f"Client retries must be an int >= 0, got {retries!r}")
        if not (isinstance(initial_backoff, (int, float)) and initial_backoff > 0):
            raise _invalid(f"Client initial_backoff must be > 0 seconds, got {initial_backoff!r}")
        if not (isinstance(max_backoff, (int, float))
                and initial_backoff <= max_backoff < float("inf")):
            raise _invalid("Client max_backoff must be finite and >= initial_backoff, got "
                           f"{max_backoff!r}")
        if not (isinstance(retry_budget, (int, float)) and retry_budget >= 0):
            raise _invalid(f"Client retry_budget must be >= 0 seconds, got {retry_budget!r}")
        if token is not None and (not isinstance(token, str)
                                  or any(not 0x20 <= ord(c) <= 0x7e for c in token)):
            raise _invalid("Client token must be a string of printable ASCII")
        if tls_server_name and not tls:
            raise _invalid("Client tls_server_name needs tls")
        self.target = target
        self.deadline = float(deadline)
        self.retries = retries
        self.initial_backoff = float(initial_backoff)
        self.max_backoff = float(max_backoff)
        self.retry_budget = float(retry_budget)
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()  # Guards the counters and the RNG.
        self.calls = 0     # Calls made (a retried call counts once).
        self.attempts = 0  # Attempts sent (attempts - calls = retries).
        if channel is None:
            options = [
                # Reconnect promptly once a restarted server is back.
                ("grpc.initial_reconnect_backoff_ms", max(1, int(initial_backoff * 1000))),
                ("grpc.max_reconnect_backoff_ms", max(1, int(max_backoff * 1000))),
                # Schedules of long jobs may be large.
                ("grpc.max_receive_message_length", -1),
            ]
            if tls_server_name:
                options.append(("grpc.ssl_target_name_override", tls_server_name))
            credentials = _credentials(tls)
            if credentials is None:
                channel = grpc.insecure_channel(target, options=options)
            else:
                channel = grpc.secure_channel(target, credentials, options=options)
        self._channel = channel
        self._stub = service_pb2_grpc.AutoLrsServiceStub(channel)

    def close(self):
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _backoff(self, retry):
        backoff = min(self.initial_backoff * 2.0 ** min(retry - 1, 64), self.max_backoff)
        with self._lock:
            return backoff * self._rng.uniform(0.5, 1.0)

    def _call(self, name, request):
        method = getattr(self._stub, name)
        with self._lock:
            self.calls += 1
        start = time.monotonic()
        attempt = 1
        while True:
            with self._lock:
                self.attempts += 1
            try:
                return method(request, timeout=self.deadline, metadata=self._metadata,
                              wait_for_ready=True)
            except grpc.RpcError as e:
                code, message = e.code(), e.details() or ""
            if code not in RETRYABLE or attempt > self.retries:
                break
            left = self.retry_budget - (time.monotonic() - start)
            if left <= 0:
                break
            time.sleep(min(self._backoff(attempt), left))
            attempt += 1
        if attempt > 1:
            message += (f" ({name}: gave up after {attempt} attempts in "
                        f"{time.monotonic() - start:.3g}s)")
        raise Error(code, message)

    # The RPCs. Each takes its request message; the ones about one job also
    # take the job_id as a string.

    def create_job(self, request=None, *, job_id="", config=None, request_id=""):
        """CreateJob. `config`: a JobConfig or a dict of its fields."""
        if request is None:
            request = service_pb2.CreateJobRequest(job_id=job_id, config=job_config(config or {}),
                                                   request_id=request_id)
        if not request.request_id:
            copy = service_pb2.CreateJobRequest()
            copy.CopyFrom(request)
            copy.request_id = "client-" + secrets.token_hex(16)
            request = copy
        return self._call("CreateJob", request)

    def get_job(self, request):
        return self._call("GetJob", _request(service_pb2.GetJobRequest, request))

    def list_jobs(self, request=None):
        return self._call("ListJobs", request or service_pb2.ListJobsRequest())

    def delete_job(self, request):
        return self._call("DeleteJob", _request(service_pb2.DeleteJobRequest, request))

    def next_action(self, request, worker_rank=0):
        if isinstance(request, str):
            request = service_pb2.NextActionRequest(job_id=request, worker_rank=worker_rank)
        return self._call("NextAction", request)

    def report_losses(self, request):
        return self._call("ReportLosses", request)

    def get_schedule(self, request):
        return self._call("GetSchedule", _request(service_pb2.GetScheduleRequest, request))

    # Families (JobConfig.family): what the service learned from a kind of
    # job's finished runs. Each takes its request message or the family name.

    def get_family(self, request):
        return self._call("GetFamily", _named(service_pb2.GetFamilyRequest, request))

    def list_families(self, request=None):
        return self._call("ListFamilies", request or service_pb2.ListFamiliesRequest())

    def delete_family(self, request):
        return self._call("DeleteFamily", _named(service_pb2.DeleteFamilyRequest, request))


def _request(cls, request):
    return cls(job_id=request) if isinstance(request, str) else request


def _named(cls, request):
    return cls(name=request) if isinstance(request, str) else request


def tls_credentials(ca_file=None, cert_file=None, key_file=None):
    """grpc.ChannelCredentials for Client(tls=...) from PEM files.

    Args:
      ca_file: CA certificates that verify the server (None: the system's).
      cert_file, key_file: this client's certificate chain and private key,
        for servers that require client certificates (mTLS); both or neither.
    Raises:
      autolrs.Error(INVALID_ARGUMENT) naming a file that cannot be read.
    """
    if (cert_file is None) != (key_file is None):
        raise _invalid("tls_credentials cert_file and key_file must be given together")

    def read(name, path):
        if path is None:
            return None
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise _invalid(f"tls_credentials {name} '{path}' cannot be read: {e}") from e
        if not data:
            raise _invalid(f"tls_credentials {name} '{path}' is empty")
        return data

    return grpc.ssl_channel_credentials(root_certificates=read("ca_file", ca_file),
                                        private_key=read("key_file", key_file),
                                        certificate_chain=read("cert_file", cert_file))


def _credentials(tls):
    if tls is None or tls is False:
        return None
    if tls is True:
        return grpc.ssl_channel_credentials()
    if isinstance(tls, bytes):
        return grpc.ssl_channel_credentials(root_certificates=tls)
    if isinstance(tls, grpc.ChannelCredentials):
        return tls
    raise _invalid("Client tls must be None, True, PEM root certificates (bytes) or "
                   f"grpc.ChannelCredentials, got {type(tls).__name__}")


def job_config(config):
    """A JobConfig from a JobConfig or a dict of its fields (enums by name or number)."""
    if isinstance(config, job_pb2.JobConfig):
        return config
    if not isinstance(config, dict):
        raise _invalid(f"config must be an autolrs.v1.JobConfig or a dict, got "
                       f"{type(config).__name__}")
    from google.protobuf import json_format
    try:
        return json_format.ParseDict(config, job_pb2.JobConfig())
    except json_format.ParseError as e:
        raise _invalid(f"config: {e}") from None
