"""autolrs.Client against a real autolrs_server."""

import grpc
import pytest

import autolrs


def test_creates_and_gets_a_job(server):
    with autolrs.Client(server.address) as client:
        job = client.create_job(job_id="a", config={"lr_min": 1e-3, "lr_max": 1.0})
        assert job.job_id == "a"
        assert client.get_job("a").config.lr_max == 1.0


if __name__ == "__main__":
    import sys
    import testutil
    sys.exit(testutil.run_pytest(__file__))
