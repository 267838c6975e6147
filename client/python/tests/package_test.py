"""The package's build step and source-tree use: stubs generated from proto/,
nothing generated committed. Works on a copy of client/python and proto/."""

import os
import shutil
import subprocess
import sys

import pytest

import testutil

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE = os.path.dirname(HERE)  # client/python (the source tree or Bazel's runfiles)
PROTOS = os.path.join(PACKAGE, "..", "..", "proto", "autolrs", "v1")
SOURCES = ["pyproject.toml", "setup.py", "README.md", "autolrs/__init__.py",
           "autolrs/_codegen.py", "autolrs/client.py", "autolrs/tuner.py", "autolrs/torch.py"]


@pytest.fixture
def tree(tmp_path):
    """A copy of the repository's client/python sources and protos (no stubs)."""
    for name in SOURCES:
        os.makedirs(tmp_path / "client" / "python" / os.path.dirname(name), exist_ok=True)
        shutil.copyfile(os.path.join(PACKAGE, name), tmp_path / "client" / "python" / name)
    os.makedirs(tmp_path / "proto" / "autolrs" / "v1")
    for name in ("family.proto", "job.proto", "service.proto"):
        shutil.copyfile(os.path.join(PROTOS, name), tmp_path / "proto" / "autolrs" / "v1" / name)
    return tmp_path


def python(code, path, cwd):
    """Runs `code` in a fresh interpreter with only `path` added to sys.path."""
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(path), "HOME": str(cwd)}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=300)


CHECK = ("import autolrs, autolrs.v1.service_pb2_grpc as g; "
         "print(autolrs.__file__); print(g.AutoLrsServiceStub.__name__); "
         "print(autolrs.JobConfig(lr_min=0.5).lr_min)")


def test_pip_install_into_a_venv_generates_the_stubs_offline(tree, tmp_path):
    # The README's commands (Debian 12 keeps pip out of the system Python).
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PIP_NO_CACHE_DIR": "1",
           "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    venv = tmp_path / "venv"
    for cmd in ([sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
                [str(venv / "bin" / "pip"), "install", "--no-build-isolation", "--no-index",
                 str(tree / "client" / "python")]):
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
        assert run.returncode == 0, run.stdout + run.stderr
    site = venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / \
        "site-packages"
    installed = sorted(os.listdir(site / "autolrs" / "v1"))
    assert [f for f in installed if f.endswith(".py")] == [
        "__init__.py", "family_pb2.py", "job_pb2.py", "service_pb2.py", "service_pb2_grpc.py"]
    # The source tree stays clean of generated stubs.
    assert not (tree / "client" / "python" / "autolrs" / "v1").exists()
    run = subprocess.run([str(venv / "bin" / "python"), "-c", CHECK], capture_output=True,
                         text=True, cwd=tmp_path, env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [str(site / "autolrs" / "__init__.py"),
                                       "AutoLrsServiceStub", "0.5"]


def test_the_source_tree_generates_its_stubs_on_import_and_when_stale(tree, tmp_path):
    source = tree / "client" / "python"
    run = python(CHECK, source, tmp_path)
    assert run.returncode == 0, run.stderr
    stub = source / "autolrs" / "v1" / "job_pb2.py"
    assert stub.exists()
    # A proto newer than the stubs regenerates them on the next import.
    job_proto = tree / "proto" / "autolrs" / "v1" / "job.proto"
    os.utime(stub, (1, 1))
    run = python(CHECK, source, tmp_path)
    assert run.returncode == 0, run.stderr
    assert os.path.getmtime(stub) >= os.path.getmtime(job_proto)


def test_a_broken_proto_is_a_clear_import_error(tree, tmp_path):
    with open(tree / "proto" / "autolrs" / "v1" / "job.proto", "a") as f:
        f.write("\nmessage Broken { int32 }\n")
    run = python("import autolrs", tree / "client" / "python", tmp_path)
    assert run.returncode != 0
    assert "protoc" in run.stderr and "job.proto" in run.stderr


if __name__ == "__main__":
    sys.exit(testutil.run_pytest(__file__))
