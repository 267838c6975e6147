"""The PyTorch Fashion-MNIST example through a real server, on a short budget."""

import os
import re
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
try:
    import testutil
except ImportError:  # From the source tree, without Bazel.
    sys.path[:0] = [os.path.join(HERE, "..", "..", "client", "python", "tests"),
                    os.path.join(HERE, "..", "..", "client", "python")]
    import testutil
import autolrs  # noqa: E402


@pytest.fixture
def server():
    s = testutil.ServerProcess("memory:")
    yield s
    s.close()


def test_trains_fashion_mnist_with_autolrs_through_a_real_server(server, tmp_path):
    cmd = [sys.executable, os.path.join(HERE, "train.py"), f"--server={server.address}",
           "--job_id=pt-short", "--total_steps=400", "--tau_initial=50", "--tau_max=100",
           "--probes_per_stage=3"]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(sys.path))
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env,
                         cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    final = re.fullmatch(r"final: test_loss=(\S+) test_accuracy=(\S+) val_loss=(\S+) "
                         r"steps=(\d+) model_steps=(\d+) seconds=\S+\n", run.stdout)
    assert final, run.stdout
    test_loss, accuracy, val_loss = map(float, final.groups()[:3])
    steps, model_steps = map(int, final.groups()[3:5])
    assert steps == 400 and 0 < model_steps < 400  # Probe steps were rolled back.
    # An untrained model is at ln(10) = 2.30 and 10% accuracy.
    assert val_loss < 0.9 and test_loss < 0.9 and accuracy > 0.7
    # One progress line per action, every phase of a budgeted job.
    for phase in ("probe", "exploit", "cooldown"):
        assert re.search(rf"^action \d+: stage \d+ {phase} ", run.stderr, re.M), run.stderr
    with autolrs.Client(server.address) as client:
        assert client.get_job("pt-short").state == autolrs.job_pb2.JOB_STATE_DONE
    # A finished job is not trained again.
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env,
                           cwd=tmp_path)
    assert again.returncode != 0 and "already done" in again.stderr


def test_an_invalid_config_is_a_clear_error(server, tmp_path):
    cmd = [sys.executable, os.path.join(HERE, "train.py"), f"--server={server.address}",
           "--job_id=pt-bad", "--lr_min=1", "--lr_max=0.1"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env,
                         cwd=tmp_path)
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert "train.py: INVALID_ARGUMENT: creating job 'pt-bad'" in run.stderr, run.stderr
    assert "lr_max" in run.stderr


if __name__ == "__main__":
    sys.exit(testutil.run_pytest(__file__))
