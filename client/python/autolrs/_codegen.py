"""Generates the `autolrs.v1` gRPC stubs from proto/autolrs/v1/*.proto.

The stubs are never committed. They are made by:
  - the package's build step (setup.py, for `pip install ./client/python`),
  - the Bazel genrule in client/python/BUILD (for py_test targets),
  - `autolrs` itself when imported from the source tree (client/python on
    sys.path) and the stubs are missing or older than the protos; or by hand:
    /usr/bin/python3 client/python/autolrs/_codegen.py

Uses the system `protoc` and `grpc_python_plugin` (Debian's
protobuf-compiler and protobuf-compiler-grpc), run from `proto/` so that the
generated modules import each other as `autolrs.v1.*`.
"""

import os
import shutil
import subprocess
import sys
import tempfile

PROTOS = ("autolrs/v1/family.proto", "autolrs/v1/job.proto", "autolrs/v1/service.proto")
MODULES = ("family_pb2.py", "job_pb2.py", "service_pb2.py", "service_pb2_grpc.py")
INIT = '"""Generated from proto/autolrs/v1 by autolrs._codegen: do not edit."""\n'


def _tool(name, env_var):
    path = os.environ.get(env_var) or shutil.which(name) or os.path.join("/usr/bin", name)
    if not os.path.exists(path):
        raise RuntimeError(
            f"autolrs: cannot generate the gRPC stubs: {name} not found (set {env_var}, "
            "or install Debian's protobuf-compiler and protobuf-compiler-grpc)")
    return path


def generate(proto_root, out_root):
    """Writes out_root/autolrs/v1/{__init__,job_pb2,service_pb2,service_pb2_grpc}.py.

    proto_root: the folder holding autolrs/v1/*.proto (the repository's proto/).
    The files are written to a temporary folder first and then moved in place,
    so a concurrent import never sees a half-written module.
    """
    proto_root, out_root = os.path.abspath(proto_root), os.path.abspath(out_root)
    for p in PROTOS:
        if not os.path.isfile(os.path.join(proto_root, p)):
            raise RuntimeError(f"autolrs: cannot generate the gRPC stubs: "
                               f"{os.path.join(proto_root, p)} not found")
    protoc = _tool("protoc", "PROTOC")
    plugin = _tool("grpc_python_plugin", "GRPC_PYTHON_PLUGIN")
    target = os.path.join(out_root, "autolrs", "v1")
    os.makedirs(target, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target, prefix=".gen-") as tmp:
        cmd = [protoc, "-I.", f"--python_out={tmp}", f"--grpc_python_out={tmp}",
               f"--plugin=protoc-gen-grpc_python={plugin}", *PROTOS]
        run = subprocess.run(cmd, cwd=proto_root, capture_output=True, text=True)
        if run.returncode != 0:
            raise RuntimeError(f"autolrs: {' '.join(cmd)} failed in {proto_root}:\n"
                               f"{run.stderr.strip()}")
        with open(os.path.join(tmp, "autolrs", "v1", "__init__.py"), "w") as f:
            f.write(INIT)
        for name in ("__init__.py",) + MODULES:
            os.replace(os.path.join(tmp, "autolrs", "v1", name), os.path.join(target, name))
    return target


def source_tree_proto_root():
    """The repository's proto/ when this package runs from client/python, else None."""
    here = os.path.dirname(os.path.abspath(__file__))
    if not os.path.isfile(os.path.join(here, "..", "pyproject.toml")):
        return None  # Installed, or in Bazel's runfiles.
    root = os.path.normpath(os.path.join(here, "..", "..", "..", "proto"))
    return root if os.path.isfile(os.path.join(root, PROTOS[0])) else None


def stale(proto_root, out_root):
    """True when a stub is missing or older than a proto it comes from."""
    target = os.path.join(out_root, "autolrs", "v1")
    try:
        oldest = min(os.path.getmtime(os.path.join(target, m)) for m in ("__init__.py",) + MODULES)
    except OSError:
        return True
    return any(os.path.getmtime(os.path.join(proto_root, p)) > oldest for p in PROTOS)


def ensure_source_tree_stubs():
    """Generates the stubs next to the package when it runs from the source tree."""
    proto_root = source_tree_proto_root()
    if proto_root is None:
        return False
    out_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if stale(proto_root, out_root):
        generate(proto_root, out_root)
    return True


if __name__ == "__main__":
    if len(sys.argv) == 3:
        print(generate(sys.argv[1], sys.argv[2]))
    elif len(sys.argv) == 1:
        if not ensure_source_tree_stubs():
            sys.exit("autolrs: not in the source tree; usage: _codegen.py PROTO_ROOT OUT_ROOT")
        print("autolrs: stubs up to date")
    else:
        sys.exit("usage: _codegen.py [PROTO_ROOT OUT_ROOT]")
