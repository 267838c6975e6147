"""Build step of the autolrs package: generates autolrs.v1 from proto/.

The gRPC stubs are made from the repository's proto/ (or $AUTOLRS_PROTO_DIR)
with the system protoc and grpc_python_plugin, straight into the build
folder: nothing generated is written to the source tree or committed.
"""

import importlib.util
import os

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


def _codegen():
    path = os.path.join(HERE, "autolrs", "_codegen.py")
    spec = importlib.util.spec_from_file_location("autolrs_codegen", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class BuildPyWithStubs(build_py):
    def run(self):
        super().run()
        proto_root = os.environ.get("AUTOLRS_PROTO_DIR") or os.path.join(HERE, "..", "..", "proto")
        _codegen().generate(os.path.normpath(proto_root), self.build_lib)


setup(cmdclass={"build_py": BuildPyWithStubs})
