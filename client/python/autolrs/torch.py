"""autolrs.torch: AutoLRS for PyTorch training loops.

    sched = autolrs.torch.AutoLRS(model, optimizer, evaluate, server="localhost:50051",
                                  job_id="fmnist-1", lr_min=1e-3, lr_max=1.0,
                                  total_steps=6000)
    while not sched.done:
        x, y = next(batches)
        loss = loss_fn(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        sched.step(loss)

The learning rate of every step is set before it (the first one by the
constructor, the next ones by step()), so a training loop needs no other
change. A trainer that keeps its own loop can use autolrs.Tuner directly with
a TorchCheckpointer.

What a step's loss is: the loss of that step's minibatch computed in its
forward pass, before its update (as above). After a checkpoint restore the
data stream continues with the next batches (it is not rewound): keep drawing
from the same iterator.
"""

import copy

import grpc
import torch

from autolrs.client import Client, Error, job_config
from autolrs.tuner import Checkpointer, Tuner


class TorchCheckpointer(Checkpointer):
    """An in-memory checkpoint slot of a model and its optimizer.

    save() deep-copies the model's parameters and buffers (its state_dict)
    and the optimizer's per-parameter state (momentum buffers, Adam moments
    and steps, ...) on the tensors' own device; restore() copies them back in
    place, so the optimizer keeps pointing at the same parameter tensors.

    Not saved (as in the C++ TorchCheckpointer): the optimizer's
    hyper-parameters (the LR etc. of each param group stay as they are at
    restore time: the Tuner sets the LR of every action), gradients, and
    anything outside the model and the optimizer, such as the data stream's
    position or RNGs.

    Memory: one copy of the parameters, buffers and optimizer state.
    """

    def __init__(self, model, optimizer):
        self._model = model
        self._optimizer = optimizer
        self._model_state = None
        self._optimizer_state = None

    @property
    def has_checkpoint(self):
        return self._model_state is not None

    def save(self):
        with torch.no_grad():
            model_state = {k: v.detach().clone() for k, v in self._model.state_dict().items()}
        optimizer_state = copy.deepcopy(self._optimizer.state_dict())
        self._model_state, self._optimizer_state = model_state, optimizer_state

    def restore(self):
        if self._model_state is None:
            raise Error(grpc.StatusCode.FAILED_PRECONDITION,
                        "TorchCheckpointer.restore(): nothing was saved")
        hyper = [{k: v for k, v in g.items() if k != "params"}
                 for g in self._optimizer.param_groups]
        try:
            self._model.load_state_dict(self._model_state)
        except RuntimeError as e:
            raise Error(grpc.StatusCode.FAILED_PRECONDITION,
                        f"TorchCheckpointer.restore(): the model changed since save(): {e}") from e
        # load_state_dict copies the state (it deep-copies its argument).
        self._optimizer.load_state_dict(self._optimizer_state)
        for group, saved in zip(self._optimizer.param_groups, hyper):
            group.update(saved)


class LrSetter:
    """Applies one LR to every param group of an optimizer, keeping their ratios.

    The ratios are those of the groups' LRs when the LrSetter is made: with
    group LRs (0.1, 0.01), an LR of 0.5 gives (0.5, 0.05). Group 0's LR must
    be > 0 then.
    """

    def __init__(self, optimizer):
        lrs = [float(g["lr"]) for g in optimizer.param_groups]
        if not lrs or not lrs[0] > 0:
            raise Error(grpc.StatusCode.INVALID_ARGUMENT,
                        f"the optimizer's param group 0 needs an LR > 0 to keep the groups' "
                        f"LR ratios, got {lrs[:1]}")
        self._optimizer = optimizer
        self.ratios = [lr / lrs[0] for lr in lrs]

    def __call__(self, lr):
        for group, ratio in zip(self._optimizer.param_groups, self.ratios):
            group["lr"] = lr if ratio == 1.0 else lr * ratio


class AutoLRS:
    """A scheduler-shaped driver of an AutoLRS job for a PyTorch loop.

    Args:
      model, optimizer: the torch.nn.Module and the torch.optim.Optimizer
        updating its parameters.
      evaluate: callable returning the validation loss (float); called with
        the model in eval mode under torch.no_grad(), training mode is put
        back afterwards. May be None when the job never asks for it
        (objective_switch NEVER).
      job_id: the job's id; a restarted trainer with the same id resumes it.
      client: an autolrs.Client, or None to make one from `server`, `token`.
      lr_min, lr_max, total_steps and any other JobConfig field as keyword
        arguments, or `config` (a JobConfig or dict) with the fields.
      worker_rank, max_wait: see autolrs.Tuner.

    The optimizer's param groups keep the ratios of their initial LRs. Two
    in-memory TorchCheckpointers hold the stage checkpoint and, for jobs with
    reuse_best_probe, the best probe's end state.

    When `done` becomes True the model holds the main line's state (never a
    rolled-back probe's), and the optimizer's LRs are those of its last step.
    """

    def __init__(self, model, optimizer, evaluate=None, *, job_id, client=None,
                 server="localhost:50051", token=None, config=None, worker_rank=0,
                 max_wait=None, **config_fields):
        self.model = model
        self.optimizer = optimizer
        self._user_evaluate = evaluate
        self._own_client = client is None
        self.client = client if client is not None else Client(server, token=token)
        merged = job_config(config or {})
        if config_fields:
            extra = job_config(config_fields)
            merged = job_config({})
            merged.CopyFrom(job_config(config or {}))
            merged.MergeFrom(extra)
        self.set_lr = LrSetter(optimizer)
        self.checkpointer = TorchCheckpointer(model, optimizer)
        self.best_checkpointer = TorchCheckpointer(model, optimizer)
        self.tuner = Tuner(self.client, job_id, merged, self.checkpointer,
                           self._evaluate if evaluate is not None else None,
                           worker_rank=worker_rank, max_wait=max_wait,
                           best_checkpointer=self.best_checkpointer)
        self.steps = 0  # Steps this object has reported.
        self._next()

    def _evaluate(self):
        training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                loss = self._user_evaluate()
        finally:
            self.model.train(training)
        return float(loss)

    def _next(self):
        lr = self.tuner.next_lr()
        self._ready = lr is not None
        if lr is not None:
            self.set_lr(lr)

    @property
    def done(self):
        """The job is finished: stop training."""
        return self.tuner.done

    @property
    def lr(self):
        """The LR of the step about to run (of the last one once done)."""
        return self.tuner.lr

    @property
    def action(self):
        """The action being run (autolrs.v1.Action)."""
        return self.tuner.action

    def step(self, loss):
        """Reports the loss of the step just run and readies the next one.

        `loss`: the step's training loss (a float or a one-element tensor),
        computed in its forward pass before optimizer.step(). At an action
        boundary this runs one RPC and the next action's checkpoint operation,
        and sets the LR of the next step.

        On autolrs.Error (e.g. the server stayed unreachable longer than the
        Client's retries) the loss is kept: call retry() until it returns,
        then go on with the loop.
        """
        if self.tuner.done:
            raise Error(grpc.StatusCode.FAILED_PRECONDITION,
                        f"step() after job '{self.tuner.job_id}' is done")
        if not self._ready:
            raise Error(grpc.StatusCode.FAILED_PRECONDITION,
                        "step() after a failed step(): call retry() until it succeeds first")
        if isinstance(loss, torch.Tensor):
            if loss.numel() != 1:
                raise Error(grpc.StatusCode.INVALID_ARGUMENT,
                            f"step(loss): loss must be one value, got a tensor of shape "
                            f"{tuple(loss.shape)}")
            loss = loss.detach().item()
        self._ready = False
        self.tuner.report_loss(loss)  # Records the loss, even when it raises.
        self.steps += 1
        self._next()

    def retry(self):
        """After step() raised: sends the pending report, runs the pending
        checkpoint operation or evaluation, and sets the next step's LR."""
        if not self._ready and not self.tuner.done:
            self._next()

    def schedule(self):
        """The job's schedule so far (GetSchedule)."""
        return self.client.get_schedule(self.tuner.job_id)

    def close(self):
        if self._own_client:
            self.client.close()
