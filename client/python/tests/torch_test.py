"""autolrs.torch: the checkpointer, the LR setter and AutoLRS through a real server."""

import grpc
import pytest
import torch

import autolrs
import autolrs.torch
import testutil
from autolrs.v1 import job_pb2


def make_model(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8), torch.nn.ReLU(),
                               torch.nn.Linear(8, 1))


class Data:
    """A deterministic regression stream: y = x . w + noise."""

    def __init__(self, seed=0):
        self.gen = torch.Generator().manual_seed(seed)
        self.w = torch.tensor([[1.0], [-2.0], [0.5], [3.0]])

    def batch(self, n=16):
        x = torch.randn(n, 4, generator=self.gen)
        return x, x @ self.w + 0.1 * torch.randn(n, 1, generator=self.gen)


def train_step(model, optimizer, x, y):
    loss = torch.nn.functional.mse_loss(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss


def snapshot(model, optimizer):
    return ({k: v.clone() for k, v in model.state_dict().items()},
            {i: {k: v.clone() if torch.is_tensor(v) else v for k, v in s.items()}
             for i, s in optimizer.state_dict()["state"].items()})


def assert_same(a, b):
    (ma, oa), (mb, ob) = a, b
    assert ma.keys() == mb.keys()
    for k in ma:
        assert torch.equal(ma[k], mb[k]), k
    assert oa.keys() == ob.keys()
    for i in oa:
        for k in oa[i]:
            va, vb = oa[i][k], ob[i][k]
            assert torch.equal(va, vb) if torch.is_tensor(va) else va == vb, (i, k)


@pytest.mark.parametrize("make_optimizer", [
    lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9),
    lambda p: torch.optim.Adam(p, lr=0.01),
    lambda p: torch.optim.AdamW(p, lr=0.01),
    lambda p: torch.optim.RMSprop(p, lr=0.01),
], ids=["sgd", "adam", "adamw", "rmsprop"])
def test_checkpointer_restores_model_buffers_and_optimizer_state_exactly(make_optimizer):
    model = make_model()
    optimizer = make_optimizer(model.parameters())
    data = Data()
    for _ in range(3):
        train_step(model, optimizer, *data.batch())
    ckpt = autolrs.torch.TorchCheckpointer(model, optimizer)
    assert not ckpt.has_checkpoint
    ckpt.save()
    saved = snapshot(model, optimizer)
    batches = [data.batch() for _ in range(5)]
    for x, y in batches:
        train_step(model, optimizer, x, y)
    after_first = snapshot(model, optimizer)
    params = [id(p) for p in model.parameters()]
    for group in optimizer.param_groups:
        group["lr"] = 0.123
    ckpt.restore()
    assert_same(snapshot(model, optimizer), saved)
    assert [id(p) for p in model.parameters()] == params  # Restored in place.
    assert all(g["lr"] == 0.123 for g in optimizer.param_groups)  # Hyper-parameters kept.
    # Training again from the restored state repeats the first run exactly.
    for group in optimizer.param_groups:
        group["lr"] = optimizer.defaults["lr"]
    for x, y in batches:
        train_step(model, optimizer, x, y)
    assert_same(snapshot(model, optimizer), after_first)
    # The slot is a copy: restoring twice gives the saved state again.
    ckpt.restore()
    assert_same(snapshot(model, optimizer), saved)


def test_checkpointer_restore_without_save_is_failed_precondition():
    model = make_model()
    ckpt = autolrs.torch.TorchCheckpointer(model, torch.optim.SGD(model.parameters(), lr=0.1))
    with pytest.raises(autolrs.Error) as e:
        ckpt.restore()
    assert e.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert "nothing was saved" in e.value.message


def test_lr_applies_to_every_param_group_keeping_their_ratios():
    model = make_model()
    optimizer = torch.optim.SGD([
        {"params": model[0].parameters(), "lr": 0.1},
        {"params": model[1].parameters(), "lr": 0.01},
        {"params": model[3].parameters(), "lr": 0.1},
    ], lr=0.1)
    setter = autolrs.torch.LrSetter(optimizer)
    setter(0.5)
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([0.5, 0.05, 0.5], rel=1e-15)
    assert optimizer.param_groups[0]["lr"] == 0.5  # Group 0 gets the LR exactly.
    setter(0.02)
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([0.02, 0.002, 0.02],
                                                                      rel=1e-15)


def test_lr_setter_needs_a_positive_first_group_lr():
    model = make_model()
    with pytest.raises(autolrs.Error) as e:
        autolrs.torch.LrSetter(torch.optim.SGD(model.parameters(), lr=0.0))
    assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "param group 0" in e.value.message


def run_autolrs(server, job_id, **config):
    model = make_model()
    optimizer = torch.optim.SGD([
        {"params": model[0].parameters()},
        {"params": model[3].parameters(), "lr": 0.05},
        {"params": model[1].parameters()},
    ], lr=0.1, momentum=0.9)
    data = Data()
    val_x, val_y = data.batch(64)
    modes = []

    def evaluate():
        modes.append((model.training, torch.is_grad_enabled()))
        return torch.nn.functional.mse_loss(model(val_x), val_y)

    sched = autolrs.torch.AutoLRS(model, optimizer, evaluate, server=server.address,
                                  job_id=job_id, **config)
    lrs = []
    while not sched.done:
        x, y = data.batch()
        lrs.append([g["lr"] for g in optimizer.param_groups])
        assert lrs[-1][0] == sched.lr
        sched.step(train_step(model, optimizer, x, y))
    return sched, model, optimizer, lrs, modes


def test_autolrs_trains_a_model_through_the_server(server):
    config = dict(lr_min=1e-3, lr_max=0.5, tau_initial=40, tau_max=80, probes_per_stage=3,
                  total_steps=500, warmup_steps=10, warmup_lr=0.05, seed=2)
    sched, model, optimizer, lrs, modes = run_autolrs(server, "torch-job", **config)
    assert sched.steps == len(lrs) == 500
    assert all(lr[1] == lr[0] * 0.5 and lr[2] == lr[0] for lr in lrs)  # Ratios kept.
    assert lrs[0][0] == 0.05 * (1 / 10)  # Warmup step 1 of 10 towards 0.05.
    assert 0 < lrs[-1][0] < lrs[-2][0]  # The cooldown's last step, toward 0.
    assert modes and all(m == (False, False) for m in modes)  # eval() under no_grad().
    assert model.training
    job = sched.client.get_job("torch-job")
    assert job.state == job_pb2.JOB_STATE_DONE and job.steps_spent == 500
    schedule = sched.schedule()
    assert len(schedule.stages) >= 3 and all(s.chosen_lr > 0 for s in schedule.stages)
    assert schedule.cooldown_training_loss.last < schedule.stages[0].probes[0].training_loss.first
    with pytest.raises(autolrs.Error) as e:
        sched.step(1.0)
    assert e.value.code == grpc.StatusCode.FAILED_PRECONDITION
    sched.close()


def test_autolrs_ends_on_the_main_line_when_done_follows_a_probe(server):
    config = dict(lr_min=1e-3, lr_max=0.5, tau_initial=1000, probes_per_stage=10,
                  total_steps=150, preset="PRESET_REFERENCE", seed=2)
    initial = snapshot(make_model(), torch.optim.SGD(make_model().parameters(), lr=0.1))
    sched, model, optimizer, lrs, _ = run_autolrs(server, "torch-probe", **config)
    assert sched.action.phase == job_pb2.PHASE_DONE
    assert sched.client.get_job("torch-probe").model_steps == 0
    # No step of the main line ran: the model is back at its initial weights
    # and the optimizer has no state, as when the job's first probe began.
    model_state, _ = snapshot(model, optimizer)
    for k, v in initial[0].items():
        assert torch.equal(model_state[k], v), k
    assert optimizer.state_dict()["state"] == {}
    sched.close()


def test_step_takes_one_loss_value(server):
    model = make_model()
    sched = autolrs.torch.AutoLRS(model, torch.optim.SGD(model.parameters(), lr=0.1),
                                  server=server.address, job_id="one-value", lr_min=1e-3,
                                  lr_max=1.0, objective_switch="OBJECTIVE_SWITCH_NEVER")
    with pytest.raises(autolrs.Error) as e:
        sched.step(torch.ones(3))
    assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "(3,)" in e.value.message
    sched.step(torch.tensor(0.5))  # A 0-d tensor is fine.
    assert sched.steps == 1
    sched.close()


if __name__ == "__main__":
    import sys
    sys.exit(testutil.run_pytest(__file__))
