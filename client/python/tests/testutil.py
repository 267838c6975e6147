"""Test helpers: a real autolrs_server child process, and the pytest entry point
of the Bazel py_test targets.

Outside Bazel the tests find the binaries in the workspace's bazel-bin
(build them first: bazel build //server:autolrs_server
//client/python/tests:cpp_tuner_run), or in $AUTOLRS_SERVER and
$AUTOLRS_CPP_TUNER_RUN.
"""

import os
import signal
import subprocess
import sys
import tempfile
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
_REPO = os.path.normpath(os.path.join(_HERE, "..", "..", ".."))


def binary(env_var, package, name):
    """A binary of this workspace: $env_var, else Bazel's runfiles, else bazel-bin."""
    path = os.environ.get(env_var)
    if not path and os.environ.get("TEST_SRCDIR"):
        path = os.path.join(os.environ["TEST_SRCDIR"], os.environ.get("TEST_WORKSPACE", "autolrs"),
                            package, name)
    if not path:
        path = os.path.join(_REPO, "bazel-bin", package, name)
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"{path} is not an executable: build //{package}:{name} or set "
                           f"{env_var}")
    return path


def server_binary():
    return binary("AUTOLRS_SERVER", "server", "autolrs_server")


def tmpdir():
    return os.environ.get("TEST_TMPDIR") or tempfile.gettempdir()


class ServerProcess:
    """An autolrs_server child process on 127.0.0.1 (like testing/server_process.h).

    store: "memory:" or "sqlite:<path>". port: 0 for any free port (then read
    it from the port file), or a fixed one (a restart on the same address).
    """

    def __init__(self, store="memory:", args=(), port=0, timeout=30.0):
        self.store = store
        self.args = list(args)
        fd, self._port_file = tempfile.mkstemp(prefix="autolrs_port_", dir=tmpdir())
        os.close(fd)
        os.remove(self._port_file)
        self._log = open(os.path.join(tmpdir(), f"autolrs_server_{os.getpid()}_{id(self)}.log"),
                         "ab")
        self.process = None
        self.port = port
        self.start(timeout)

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def start(self, timeout=30.0):
        """Starts the server (again, on the same port once one was chosen)."""
        assert self.process is None, "already running"
        if os.path.exists(self._port_file):
            os.remove(self._port_file)
        cmd = [server_binary(), f"--listen=127.0.0.1:{self.port}", f"--store={self.store}",
               f"--port_file={self._port_file}"] + self.args
        self.process = subprocess.Popen(cmd, stdout=self._log, stderr=self._log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with open(self._port_file) as f:
                    port = int(f.read().strip() or 0)
            except (OSError, ValueError):
                port = 0
            if port > 0:
                self.port = port
                return
            if self.process.poll() is not None:
                code = self.process.returncode
                self.process = None
                raise RuntimeError(f"{' '.join(cmd)} exited with status {code}; see "
                                   f"{self._log.name}")
            time.sleep(0.02)
        self.stop(signal.SIGKILL)
        raise RuntimeError(f"{' '.join(cmd)} did not report a port within {timeout}s")

    def stop(self, sig=signal.SIGTERM):
        """Sends `sig` and waits for the exit; returns the exit status."""
        if self.process is None:
            return None
        self.process.send_signal(sig)
        code = self.process.wait()
        self.process = None
        return code

    def close(self):
        self.stop(signal.SIGKILL)
        self._log.close()


def run_pytest(test_file):
    """Entry point of a py_test: runs pytest on `test_file`, writing JUnit XML
    where Bazel asks ($XML_OUTPUT_FILE), so .ci/run counts every case."""
    import pytest

    args = [test_file, "-v", "-p", "no:cacheprovider"]
    if os.environ.get("XML_OUTPUT_FILE"):
        args += ["--junitxml", os.environ["XML_OUTPUT_FILE"]]
    return pytest.main(args)


if __name__ == "__main__":
    sys.exit("testutil is a library")
