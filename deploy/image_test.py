"""The container image, built from deploy/Dockerfile for real and run.

Without a Docker engine: buildah builds, podman runs (runc, vfs storage,
deploy/containers.conf), as root. The debian:12 base cannot be pulled, so it is
made with debootstrap from the Debian mirror this machine's apt uses.

    python3 -m pytest -v -s deploy/image_test.py     (as root; .ci/run runs it)

Environment:
  AUTOLRS_IMAGE_CACHE   podman/buildah storage: the base image and the build's
                        layers, reused by the next run (default
                        /var/cache/autolrs-image; a fresh directory works).
  AUTOLRS_BAZEL_DISK_CACHE  the host's Bazel disk cache, mounted into the
                        build stage (default ~/.cache/autolrs-bazel-disk, the
                        .bazelrc's); "none": the image's Bazel starts cold.

Each test uses a container of its own on a free loopback port; containers,
volumes and temporary files are removed at the end. The cache keeps the base,
the image and its build stage (tagged localhost/autolrs-build:image-test);
the layers of earlier builds that no tag uses are pruned (the vfs driver
copies every layer in full: the cache holds about 5 GB).
"""

import contextlib
import fcntl
import glob
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import grpc
import pytest

_HERE = os.path.dirname(os.path.abspath(__file__))
_REPO = os.path.dirname(_HERE)
sys.path.insert(0, os.path.join(_REPO, "client", "python"))
sys.path.insert(1, os.path.join(_REPO, "client", "python", "tests"))

import autolrs  # noqa: E402
from autolrs.v1 import job_pb2, service_pb2  # noqa: E402
from synthetic import Slot, SyntheticTrainer  # noqa: E402

CACHE = os.environ.get("AUTOLRS_IMAGE_CACHE", "/var/cache/autolrs-image")
RUNROOT = "/run/autolrs-image"
BASE = "localhost/debian:12"
IMAGE = "localhost/autolrs-server:image-test"
BUILD_STAGE = "localhost/autolrs-build:image-test"
PREFIX = f"autolrs-image-test-{os.getpid()}"
STORAGE = ["--root", os.path.join(CACHE, "storage"), "--runroot", RUNROOT,
           "--storage-driver", "vfs"]
ENV = dict(os.environ, CONTAINERS_CONF=os.path.join(_HERE, "containers.conf"))
# A small job through every phase: warmup, stages, cooldown, DONE.
JOB = {"lr_min": 1e-3, "lr_max": 1.0, "tau_initial": 50, "tau_max": 100, "probes_per_stage": 3,
       "total_steps": 800, "warmup_steps": 20, "warmup_lr": 0.05, "seed": 3}


def log(message):
    print(f"image_test: {message}", file=sys.stderr, flush=True)


def run(cmd, timeout=600, check=True, **kwargs):
    """Runs cmd; on failure raises with its output."""
    r = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited with {r.returncode}:\n"
                             f"{r.stdout[-4000:]}\n{r.stderr[-4000:]}")
    return r


def podman(*args, **kwargs):
    return run(["podman", *STORAGE, *args], **kwargs)


def apt_mirror():
    """The Debian archive (not -security) that this machine's apt uses."""
    files = sorted(glob.glob("/etc/apt/sources.list.d/*.sources")
                   + glob.glob("/etc/apt/sources.list.d/*.list") + ["/etc/apt/sources.list"])
    for path in files:
        try:
            text = open(path).read()
        except OSError:
            continue
        if path.endswith(".sources"):  # deb822 stanzas.
            for stanza in text.split("\n\n"):
                fields = dict(line.split(":", 1) for line in stanza.splitlines()
                              if ":" in line and not line.startswith(("#", " ")))
                suites = fields.get("Suites", "").split()
                if "bookworm" in suites and fields.get("Types", "").strip() == "deb":
                    return fields["URIs"].split()[0]
        else:
            for line in text.splitlines():
                words = line.split("#", 1)[0].split()
                words = [w for w in words if not w.startswith("[")]
                if len(words) >= 3 and words[0] == "deb" and words[2] == "bookworm":
                    return words[1]
    return "http://deb.debian.org/debian"


def ensure_base_image():
    """localhost/debian:12 from debootstrap --variant=minbase, unless cached."""
    if podman("image", "exists", BASE, check=False).returncode == 0:
        log(f"base image {BASE}: cached in {CACHE}")
        return
    mirror = apt_mirror()
    start = time.monotonic()
    with tempfile.TemporaryDirectory(dir=CACHE, prefix="debootstrap-") as tmp:
        rootfs = os.path.join(tmp, "rootfs")
        run(["debootstrap", "--variant=minbase", "bookworm", rootfs, mirror], timeout=1800)
        # The sources of Debian's own debian:12 image: updates and security too.
        security = mirror.rstrip("/") + "-security"
        if "deb.debian.org" not in mirror:
            security = "http://deb.debian.org/debian-security"
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(rootfs, "etc/apt/sources.list"))
        with open(os.path.join(rootfs, "etc/apt/sources.list.d/debian.sources"), "w") as f:
            f.write(f"Types: deb\nURIs: {mirror}\nSuites: bookworm bookworm-updates\n"
                    "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
                    f"\nTypes: deb\nURIs: {security}\nSuites: bookworm-security\n"
                    "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n")
        for pattern in ("var/cache/apt/archives/*.deb", "var/lib/apt/lists/*_*"):
            for path in glob.glob(os.path.join(rootfs, pattern)):
                os.remove(path)
        tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
        try:
            run(["podman", *STORAGE, "import", "--change", 'CMD ["/bin/bash"]', "-", BASE],
                stdin=tar.stdout)
        finally:
            tar.stdout.close()
            assert tar.wait() == 0, "tar of the debootstrap tree failed"
    log(f"base image {BASE}: made from {mirror} in {time.monotonic() - start:.0f} s")


def build_image():
    """buildah bud deploy/Dockerfile: the build stage (tagged, so that pruning
    keeps its layers, the costly Debian packages, for the next run), then the
    image."""
    host_cache = os.environ.get("AUTOLRS_BAZEL_DISK_CACHE",
                                os.path.expanduser("~/.cache/autolrs-bazel-disk"))
    cmd = ["buildah", *STORAGE, "bud", "--isolation", "chroot", "--pull=never", "--layers",
           "--format", "docker", "-f", os.path.join(_HERE, "Dockerfile")]
    if host_cache != "none":
        os.makedirs(host_cache, exist_ok=True)
        cmd += ["--volume", f"{host_cache}:/host-bazel-disk",
                "--build-arg", "BAZEL_DISK_CACHE=/host-bazel-disk"]
    log_path = os.path.join(CACHE, "last-build.log")
    start = time.monotonic()
    with open(log_path, "w") as out:
        for args in (["--target", "build", "-t", BUILD_STAGE], ["-t", IMAGE]):
            r = subprocess.run(cmd + args + [_REPO], env=ENV, stdout=out,
                               stderr=subprocess.STDOUT, timeout=3600)
            if r.returncode != 0:
                break
    if r.returncode != 0:
        with open(log_path) as f:
            tail = f.read()[-6000:]
        raise AssertionError(f"{' '.join(cmd + args)} failed ({r.returncode}); {log_path} "
                             f"ends:\n{tail}")
    log(f"image {IMAGE}: built in {time.monotonic() - start:.0f} s "
        f"(Bazel disk cache: {host_cache}); log {log_path}")


@pytest.fixture(scope="module")
def image():
    """The built image; one test run at a time holds the cache."""
    assert os.geteuid() == 0, "the image test runs buildah and podman as root"
    for tool in ("buildah", "podman", "debootstrap", "runc"):
        assert shutil.which(tool), f"{tool} not found: run deploy/install_deps.sh image"
    os.makedirs(CACHE, exist_ok=True)
    os.makedirs(RUNROOT, exist_ok=True)
    with open(os.path.join(CACHE, "lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        start = time.monotonic()
        ensure_base_image()
        build_image()
        log(f"base + build: {time.monotonic() - start:.0f} s")
        yield IMAGE
        # Earlier builds' layers that no tag uses any more.
        podman("image", "prune", "-f", check=False)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Container:
    """A detached container of the image, its port published on 127.0.0.1."""

    def __init__(self, name, args, volumes=()):
        self.name = name
        self.port = free_port()
        cmd = ["run", "-d", "--name", name, "-p", f"127.0.0.1:{self.port}:50051"]
        for v in volumes:
            cmd += ["-v", v]
        podman(*cmd, IMAGE, *args)
        self.address = f"127.0.0.1:{self.port}"

    def logs(self):
        r = podman("logs", self.name, check=False)
        return (r.stdout + r.stderr)[-4000:]

    def health(self, timeout=60.0):
        """Polls grpc.health.v1.Health/Check from the host until SERVING."""
        deadline = time.monotonic() + timeout
        last = None
        with grpc.insecure_channel(self.address) as channel:
            check = channel.unary_unary("/grpc.health.v1.Health/Check")
            while time.monotonic() < deadline:
                try:
                    # HealthCheckRequest{service: ""} is no bytes; SERVING is 08 01.
                    last = check(b"", timeout=2)
                    if last == b"\x08\x01":
                        return last
                except grpc.RpcError as e:
                    last = e.code()
                state = podman("inspect", "-f", "{{.State.Status}}", self.name).stdout.strip()
                assert state == "running", f"container {state}:\n{self.logs()}"
                time.sleep(0.2)
        raise AssertionError(f"no SERVING answer within {timeout}s (last: {last}):\n"
                             f"{self.logs()}")

    def remove(self):
        # -v: with the anonymous volume of the image's VOLUME, if any.
        podman("rm", "-f", "-v", "-t", "0", self.name, check=False)


@pytest.fixture
def make_container(image):
    made, volumes, tmp = [], [], tempfile.mkdtemp(prefix="autolrs-image-test-")

    def make(args, token=None, volume=None):
        mounts = []
        if volume:
            if volume not in volumes:
                podman("volume", "create", volume)
                volumes.append(volume)
            mounts.append(f"{volume}:/var/lib/autolrs")
        if token:
            path = os.path.join(tmp, "token")
            with open(path, "w") as f:
                f.write(token + "\n")
            os.chmod(path, 0o644)  # Read by the image's user 10001.
            mounts.append(f"{path}:/etc/autolrs/token:ro")
            args = list(args) + ["--auth_token_file=/etc/autolrs/token"]
        c = Container(f"{PREFIX}-{len(made)}", args, mounts)
        made.append(c)
        return c

    yield make
    for c in made:
        c.remove()
    for v in volumes:
        podman("volume", "rm", "-f", v, check=False)
    shutil.rmtree(tmp, ignore_errors=True)


def train(client, job_id):
    """Runs one job with the Python Tuner on the synthetic trainer to DONE."""
    trainer = SyntheticTrainer(1)
    tuner = autolrs.Tuner(client, job_id, JOB, Slot(trainer), trainer.validation_loss,
                          best_checkpointer=Slot(trainer, best=True))
    steps = 0
    while True:
        lr = tuner.next_lr()
        if lr is None:
            assert tuner.done
            return steps
        trainer.lr = lr
        tuner.report_loss(trainer.train_step())
        steps += 1


def test_runtime_libraries_all_resolve(image):
    r = podman("run", "--rm", "--entrypoint", "ldd", image, "/usr/local/bin/autolrs_server",
               "/usr/local/bin/autolrs_health_probe")
    assert "=>" in r.stdout
    assert "not found" not in r.stdout, r.stdout


def test_runs_as_non_root_with_a_healthcheck(image):
    config = podman("image", "inspect", "-f", "{{.Config.User}}", image).stdout.strip()
    assert config == "10001:10001"
    uid = podman("run", "--rm", "--entrypoint", "id", image, "-u").stdout.strip()
    assert uid == "10001"
    health = podman("image", "inspect", "-f", "{{.HealthCheck.Test}}", image).stdout
    assert "autolrs_health_probe" in health, health


def test_health_and_one_job_end_to_end_from_outside(make_container):
    token = secrets.token_hex(16)
    c = make_container(["--store=sqlite:/var/lib/autolrs/autolrs.db"], token=token,
                       volume=f"{PREFIX}-data")
    c.health()
    # The image's own HEALTHCHECK command, run once by podman in the container.
    r = podman("healthcheck", "run", c.name, check=False)
    assert r.returncode == 0, r.stdout + r.stderr + c.logs()

    with autolrs.Client(c.address, retries=0) as anonymous:
        with pytest.raises(autolrs.Error) as e:
            anonymous.list_jobs()
        assert e.value.code == grpc.StatusCode.UNAUTHENTICATED

    with autolrs.Client(c.address, token=token) as client:
        steps = train(client, "image-job")
        assert steps == JOB["total_steps"]
        job = client.get_job(service_pb2.GetJobRequest(job_id="image-job"))
        assert job.state == job_pb2.JOB_STATE_DONE
        schedule = client.get_schedule(service_pb2.GetScheduleRequest(job_id="image-job"))
        assert len(schedule.stages) > 0

    # SIGTERM ends the server cleanly (exit 0); the SQLite file in the volume,
    # written by the non-root user, has the job after a restart.
    podman("stop", "-t", "30", c.name)
    code = podman("inspect", "-f", "{{.State.ExitCode}}", c.name).stdout.strip()
    assert code == "0", c.logs()
    podman("start", c.name)
    c.health()
    with autolrs.Client(c.address, token=token) as client:
        job = client.get_job(service_pb2.GetJobRequest(job_id="image-job"))
        assert job.state == job_pb2.JOB_STATE_DONE


def test_health_probe_fails_without_a_serving_server(make_container):
    # The probe's failure path, in the image: nothing listens on port 1.
    # No token file: the server serves other machines only when told to.
    c = make_container(["--store=memory:", "--allow_remote_without_auth"])
    c.health()
    r = podman("exec", c.name, "/usr/local/bin/autolrs_health_probe", "--address=127.0.0.1:1",
               "--timeout=2s", check=False)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "no connection" in r.stderr


def test_compose_secrets_are_generated_once_and_private_and_serve_tls(image):
    """docker-compose.yml's make-secrets script, run in the image as compose
    runs it; then the server with compose's flags on those files serves TLS
    to the image's probe and refuses plain text."""
    import yaml

    with open(os.path.join(_HERE, "docker-compose.yml")) as f:
        services = yaml.safe_load(f)["services"]
    service = services["make-secrets"]
    assert service["entrypoint"][:2] == ["bash", "-euc"]
    script = service["entrypoint"][2].replace("$$", "$")  # Compose's escape of $.
    volume = f"{PREFIX}-secrets"
    podman("volume", "create", volume)
    name = f"{PREFIX}-compose"
    try:
        def run(*args):
            return podman("run", "--rm", "--user", "0:0", "--entrypoint", "bash", "-v",
                          f"{volume}:/secrets", IMAGE, *args)

        def make_secrets():
            run("-euc", script)
            # (token ends without a newline.)
            listing = run("-c", "cd /secrets && stat -c '%n %u %a' * && cat store.flags && "
                          "echo $(cat token) && cat tokens && sha256sum tls.crt tls.key")
            return listing.stdout.splitlines()

        first = make_secrets()
        files = {line.split()[0]: line.split()[1:] for line in first[:6]}
        assert files == {"db_password": ["999", "400"], "store.flags": ["10001", "400"],
                         "tls.crt": ["10001", "444"], "tls.key": ["10001", "400"],
                         "token": ["10001", "400"], "tokens": ["10001", "400"]}, first
        flags, token, tokens = first[6], first[7], first[8]
        assert re.fullmatch(r"--store=postgresql://autolrs:[A-Za-z0-9]{32}@postgres:5432/autolrs",
                            flags), flags
        assert re.fullmatch(r"[A-Za-z0-9]{32}", token)
        assert tokens == f"{token} default admin"
        # A second start keeps them, the certificate included.
        assert make_secrets() == first

        # Compose's server flags, with a memory store instead of PostgreSQL.
        command = [a for a in services["autolrs"]["command"] if not a.startswith("--flagfile")]
        podman("run", "-d", "--name", name, "-v", f"{volume}:/secrets:ro", IMAGE,
               "--store=memory:", *command)
        probe = [a.replace("--timeout=4s", "--timeout=2s")
                 for a in services["autolrs"]["healthcheck"]["test"][1:]]
        deadline = time.monotonic() + 60
        while True:
            r = podman("exec", name, *probe, check=False)
            if r.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        logs = podman("logs", name, check=False)
        assert r.returncode == 0, r.stderr + logs.stdout + logs.stderr
        plain = podman("exec", name, probe[0], "--address=127.0.0.1:50051", "--timeout=2s",
                       check=False)
        assert plain.returncode == 1, "a plain-text client got an answer from the TLS server"
    finally:
        podman("rm", "-f", "-t", "0", name, check=False)
        podman("volume", "rm", "-f", volume, check=False)
