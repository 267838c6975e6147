"""autolrs: the Python client of the AutoLRS Service.

    import autolrs
    client = autolrs.Client("localhost:50051")
    tuner = autolrs.Tuner(client, "my-job", {"lr_min": 1e-3, "lr_max": 1.0},
                          checkpointer, evaluate)

- autolrs.Client: the RPCs, with deadlines, retries and a bearer token.
- autolrs.Tuner: the trainer-side driver (one RPC per action).
- autolrs.Error: the one exception type (a gRPC status code and a message).
- autolrs.torch: PyTorch integration (needs torch; imported on demand).
- autolrs.v1: the generated messages and stubs (job_pb2, service_pb2,
  service_pb2_grpc).
"""

from autolrs import _codegen

# From the source tree (client/python on sys.path), the stubs are generated
# next to the package when missing or older than the protos.
_codegen.ensure_source_tree_stubs()
try:
    from autolrs.v1 import job_pb2 as _job_pb2  # noqa: F401
except ImportError as e:
    raise ImportError(
        f"autolrs: the generated stubs autolrs.v1 cannot be imported ({e}); install the "
        "package (pip install --no-build-isolation ./client/python) or use it from the "
        "repository's client/python") from None

from autolrs.client import Client, Error, tls_credentials  # noqa: E402
from autolrs.tuner import Checkpointer, Tuner  # noqa: E402
from autolrs.v1 import job_pb2, service_pb2  # noqa: E402
from autolrs.v1.job_pb2 import Action, Job, JobConfig, Schedule  # noqa: E402

__all__ = ["Action", "Checkpointer", "Client", "Error", "Job", "JobConfig", "Schedule",
           "Tuner", "job_pb2", "service_pb2", "tls_credentials"]
