"""Shared fixtures: a real autolrs_server per test (in-memory store)."""

import os
import sys

import pytest

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)
# From the source tree: the package in client/python (its stubs are generated
# on import); under Bazel the same folder of the runfiles.
sys.path.insert(1, os.path.dirname(_HERE))

import testutil  # noqa: E402


@pytest.fixture
def server():
    s = testutil.ServerProcess("memory:")
    yield s
    s.close()


@pytest.fixture
def make_server():
    """Starts servers with given store and args; all are killed at the end."""
    started = []

    def make(store="memory:", args=(), port=0):
        s = testutil.ServerProcess(store, args=args, port=port)
        started.append(s)
        return s

    yield make
    for s in started:
        s.close()
