"""The C++ Tuner and the Python Tuner, fed the same synthetic loss function,
produce identical schedules, learning rates, losses and end states.

The C++ side is cpp_tuner_run (the C++ autolrs::Tuner on
testing/SyntheticTrainer); the Python side is autolrs.Tuner on its bit-exact
port (synthetic.py). Both run against one real server, as two jobs.
"""

import math
import os
import subprocess

import pytest
from google.protobuf import text_format

import autolrs
import testutil
from synthetic import Mt19937_64, Slot, SyntheticTrainer, _normal

CONFIGS = {
    # Warmup, training-loss stages, validation-loss stages, cooldown.
    "every-phase": {"lr_min": 1e-3, "lr_max": 1.0, "tau_initial": 50, "tau_max": 100,
                    "probes_per_stage": 3, "total_steps": 900, "warmup_steps": 30,
                    "warmup_lr": 0.05, "seed": 11},
    # The best probe's checkpoint, validation loss from the start.
    "reuse-best": {"lr_min": 1e-3, "lr_max": 1.0, "tau_initial": 60, "tau_max": 120,
                   "probes_per_stage": 4, "total_steps": 700, "reuse_best_probe": True,
                   "objective_switch": "OBJECTIVE_SWITCH_ALWAYS_VALIDATION", "seed": 12},
    # The published method; diverging probes (lr_max above the synthetic
    # trainer's divergence LR: NaN losses).
    "reference": {"lr_min": 1e-3, "lr_max": 2.0, "tau_initial": 100, "tau_max": 200,
                  "probes_per_stage": 5, "total_steps": 1230, "preset": "PRESET_REFERENCE",
                  "seed": 13},
    # The budget ends inside the first stage's search, without a cooldown:
    # DONE answers a probe, and both Tuners must end on the main line.
    "ends-in-probe": {"lr_min": 1e-3, "lr_max": 1.0, "tau_initial": 1000,
                      "probes_per_stage": 10, "total_steps": 250, "preset": "PRESET_REFERENCE",
                      "seed": 14},
}


def test_the_python_port_of_the_random_stream_is_exact():
    rng = Mt19937_64(5489)
    for _ in range(9999):
        rng()
    assert rng() == 9981545732273789042  # The C++ standard's check value.
    rng = Mt19937_64(7)
    assert _normal(rng, 0.0, 0.013).hex() == "0x1.73c111cf12521p-7"  # libstdc++'s draw.


def python_run(client, job_id, config, seed):
    trainer = SyntheticTrainer(seed)
    steps = []  # [action_id, lr, loss, validation loss evaluated after it or None]

    def evaluate():  # Called by report_loss() after the step's row was added.
        steps[-1][3] = trainer.validation_loss()
        return steps[-1][3]

    tuner = autolrs.Tuner(client, job_id, config, Slot(trainer), evaluate,
                          best_checkpointer=Slot(trainer, best=True))
    while True:
        lr = tuner.next_lr()
        if lr is None:
            break
        action_id = tuner.action.action_id
        trainer.lr = lr
        loss = trainer.train_step()
        steps.append([action_id, lr, loss, None])
        tuner.report_loss(loss)
    return [tuple(s) for s in steps], trainer.g


def cpp_run(server, job_id, config, seed, tmp_path):
    out = tmp_path / f"{job_id}.steps"
    text = text_format.MessageToString(autolrs.client.job_config(config), as_one_line=True)
    run = subprocess.run(
        [testutil.binary("AUTOLRS_CPP_TUNER_RUN", "client/python/tests", "cpp_tuner_run"),
         f"--server={server.address}", f"--job_id={job_id}", f"--seed={seed}",
         f"--config={text}", f"--steps_out={out}"],
        capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    steps, end = [], None
    for line in out.read_text().splitlines():
        fields = line.split()
        if fields[0] == "end":
            end = float.fromhex(fields[1])
            continue
        evaluated = None if fields[3] == "-" else float.fromhex(fields[3])
        steps.append((int(fields[0]), float.fromhex(fields[1]), float.fromhex(fields[2]),
                      evaluated))
    return steps, end


def same(a, b):
    """Bit-identical floats (NaN equals NaN), recursively through tuples."""
    if isinstance(a, tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float):
        return a.hex() == b.hex() or (math.isnan(a) and math.isnan(b))
    return a == b


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_cpp_and_python_tuners_give_identical_results(server, tmp_path, name):
    config = CONFIGS[name]
    seed = 21
    cpp_steps, cpp_end = cpp_run(server, f"cpp-{name}", config, seed, tmp_path)
    with autolrs.Client(server.address) as client:
        py_steps, py_end = python_run(client, f"py-{name}", config, seed)
        cpp_job, py_job = client.get_job(f"cpp-{name}"), client.get_job(f"py-{name}")
        cpp_schedule = client.get_schedule(f"cpp-{name}")
        py_schedule = client.get_schedule(f"py-{name}")

    assert cpp_job.config == py_job.config
    # Action ids start at a per-job first_action_id: compare them relative to it.
    cpp_steps = [(s[0] - cpp_job.first_action_id,) + s[1:] for s in cpp_steps]
    py_steps = [(s[0] - py_job.first_action_id,) + s[1:] for s in py_steps]
    assert len(py_steps) == len(cpp_steps) == config["total_steps"]
    for i, (c, p) in enumerate(zip(cpp_steps, py_steps)):
        assert same(c, p), f"step {i + 1}: C++ {c} != Python {p}"
    if name != "reference" and name != "ends-in-probe":
        assert any(s[3] is not None for s in py_steps)  # Evaluations were compared too.
    cpp_schedule.job_id = py_schedule.job_id = ""
    assert (cpp_schedule.SerializeToString(deterministic=True)
            == py_schedule.SerializeToString(deterministic=True)), (
        f"C++:\n{cpp_schedule}\nPython:\n{py_schedule}")
    assert len(py_schedule.stages) >= (1 if name == "ends-in-probe" else 3)
    assert (cpp_job.steps_spent, cpp_job.model_steps) == (py_job.steps_spent, py_job.model_steps)
    # Both trainers end on the same model state (the main line's).
    assert same(cpp_end, py_end)


if __name__ == "__main__":
    import sys
    sys.exit(testutil.run_pytest(__file__))
