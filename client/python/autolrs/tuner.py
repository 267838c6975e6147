"""autolrs.Tuner: the trainer-side driver of an AutoLRS job.

The same contract as the C++ autolrs::Tuner (client/tuner.h): it turns the
server's actions into one learning rate per step, runs the checkpoint
operations and evaluations the actions ask for, and reports each action's
losses in one RPC (one RPC per action, never per step).
"""

import math
import time

import grpc

from autolrs.client import Error, job_config
from autolrs.v1 import job_pb2, service_pb2

_RAMPS = (job_pb2.PHASE_WARMUP, job_pb2.PHASE_COOLDOWN)


class Checkpointer:
    """One checkpoint slot of the trainer's state (model, optimizer, ...).

    save() replaces the slot's content with the current state; restore() puts
    the state saved last back (and raises when nothing was saved). They may
    raise autolrs.Error (its code is kept) or any other exception (reported as
    UNKNOWN). Only the training state belongs in the slot: the data stream
    continues after a restore (see Action in proto/autolrs/v1/job.proto).
    """

    def save(self):
        raise NotImplementedError

    def restore(self):
        raise NotImplementedError


def _wrap(e, context):
    """An autolrs.Error for an exception raised by a callback, annotated."""
    if isinstance(e, Error):
        return Error(e.code, f"{context}: {e.message}")
    return Error(grpc.StatusCode.UNKNOWN, f"{context}: {type(e).__name__}: {e}")


def _config_diff(actual, wanted):
    """Fields set in `wanted` whose value differs from the job's `actual` config."""
    expected = job_pb2.JobConfig()
    expected.CopyFrom(actual)
    expected.MergeFrom(wanted)  # proto3: copies the fields set in `wanted`.
    diffs = []
    for field in job_pb2.JobConfig.DESCRIPTOR.fields:
        a, b = getattr(actual, field.name), getattr(expected, field.name)
        if a != b and not (isinstance(a, float) and math.isnan(a) and math.isnan(b)):
            diffs.append(f"{field.name}: {a!r} -> {b!r}")
    return diffs


class Tuner:
    """Drives one rank of an AutoLRS job from a training loop.

        tuner = autolrs.Tuner(client, "resnet-run-7", {"lr_min": 1e-4, "lr_max": 1.0},
                              checkpointer, evaluate)
        while True:
            lr = tuner.next_lr()          # may save/restore the checkpoint first
            if lr is None:                # the job is done
                break
            set_lr(lr)
            tuner.report_loss(train_one_step())

    Args:
      client: an autolrs.Client.
      job_id: chosen and kept by the user, 1 to 63 characters of [a-z0-9-_].
        A Tuner created again with the same job_id (after a trainer restart)
        resumes the job instead of starting a new one.
      config: JobConfig or dict (LRs in linear space). Used when the job is
        created; when it exists already, every field set here must equal the
        job's (else FAILED_PRECONDITION).
      checkpointer: the stage checkpoint slot (an object with save() and
        restore(), see Checkpointer). Required.
      evaluate: callable returning the validation loss (a float); may be None
        if the config never asks for one (objective_switch NEVER), else an
        action that asks for it raises FAILED_PRECONDITION.
      worker_rank: this trainer's rank in [0, config.num_workers).
      max_wait: longest wait in seconds for other ranks at one action
        boundary (WAIT actions), after which next_lr() raises
        DEADLINE_EXCEEDED (and may be called again to keep waiting). None:
        forever.
      best_checkpointer: the second slot, for jobs with reuse_best_probe (the
        best probe's end state: Action.save_best, CHECKPOINT_OP_RESTORE_BEST).

    Calls alternate: next_lr(), then report_loss() for that step; the loss is
    that step's training loss, computed in its forward pass (before its
    update). A step that is not at an action boundary makes no RPC.

    Errors are autolrs.Error and leave the Tuner consistent: calling the same
    method again retries (or next_lr() after a failed last report_loss()): a
    failed report is sent again, a failed save/restore is run again, a failed
    evaluate() is called again before the next step.

    End of the job: next_lr() returns None and `done` becomes True. The
    trainer's state is then the main line's: when the budget ended inside a
    stage's search (DONE with CHECKPOINT_OP_RESTORE answers a probe's
    report), the Tuner restores the stage checkpoint before `done` becomes
    True, so a job never ends on a rolled-back probe's state.

    Restart contract (as in C++): the server remembers only the job, never the
    trainer's progress within an action. A Tuner created after a restart runs
    the job's current action from its start, checkpoint operation included; a
    checkpointer that must survive restarts has to persist its slot itself.

    Not thread-safe: use one Tuner from one training thread.
    """

    def __init__(self, client, job_id, config, checkpointer, evaluate=None, *, worker_rank=0,
                 max_wait=None, best_checkpointer=None):
        if client is None:
            raise Error(grpc.StatusCode.INVALID_ARGUMENT, "Tuner client is required")
        if checkpointer is None:
            raise Error(grpc.StatusCode.INVALID_ARGUMENT, "Tuner checkpointer is required")
        if not job_id or not isinstance(job_id, str):
            raise Error(grpc.StatusCode.INVALID_ARGUMENT, "Tuner job_id is required")
        if not isinstance(worker_rank, int) or worker_rank < 0:
            raise Error(grpc.StatusCode.INVALID_ARGUMENT,
                        f"Tuner worker_rank must be an int >= 0, got {worker_rank!r}")
        if max_wait is not None and not max_wait > 0:
            raise Error(grpc.StatusCode.INVALID_ARGUMENT,
                        f"Tuner max_wait must be > 0 seconds or None, got {max_wait!r}")
        self._client = client
        self._checkpointer = checkpointer
        self._evaluate = evaluate
        self._best = best_checkpointer
        self.job_id = job_id
        self.worker_rank = worker_rank
        self.max_wait = max_wait
        self.config = job_config(config)
        self.rpcs = 0  # RPCs this Tuner made (calls, not attempts).
        self._done = False
        self._restore_at_done = False  # DONE ended a search: restore the main line first.
        self._in_step = False
        self.lr = 0.0  # The LR next_lr() returned last.

        # The request_id is derived from the job_id: a restarted trainer gets
        # the job it created before, whatever happened in between.
        create = service_pb2.CreateJobRequest(job_id=job_id, config=self.config,
                                              request_id=f"tuner-{job_id}")
        try:
            self.rpcs += 1
            try:
                job = client.create_job(create)
            except Error as e:
                if e.code != grpc.StatusCode.ALREADY_EXISTS:
                    raise
                # Created by someone else (another tool, or another rank's
                # request id): use it.
                self.rpcs += 1
                job = client.get_job(job_id)
        except Error as e:
            raise Error(e.code, f"creating job '{job_id}': {e.message}") from None
        diffs = _config_diff(job.config, self.config)
        if diffs:
            raise Error(grpc.StatusCode.FAILED_PRECONDITION,
                        f"job '{job_id}' exists with another config (job -> requested): "
                        + "; ".join(diffs))
        self.job = job
        self.rpcs += 1
        try:
            action = client.next_action(service_pb2.NextActionRequest(
                job_id=job_id, worker_rank=worker_rank))
        except Error as e:
            raise Error(e.code, f"fetching the action of job '{job_id}': {e.message}") from None
        self._set_action(action)

    # --- state -------------------------------------------------------------

    @property
    def done(self):
        """The job is finished (DONE) and the trainer holds the main line's state."""
        return self._done

    @property
    def action(self):
        """The action being run, or the next one to run after a boundary."""
        return self._action

    @property
    def step_in_action(self):
        """Steps of the current action whose loss was reported."""
        return self._step

    def _set_action(self, action, reported=False):
        """Sets `action` as the current one, not yet started. `reported`: it
        answers this Tuner's report (or its wait after one)."""
        self._action = action
        self._started = False
        self._eval_due = False
        self._step = 0
        self._steps = 0
        self._next_eval_step = None
        if action.phase == job_pb2.PHASE_DONE:
            # The budget ended inside a search: DONE says RESTORE. A Tuner that
            # starts on a DONE job ran nothing: its trainer's state is its own.
            self._restore_at_done = (reported
                                     and action.checkpoint == job_pb2.CHECKPOINT_OP_RESTORE)
            self._finish()

    def _finish(self):
        """Makes the job done, after restoring the main line if a probe ran last."""
        if self._restore_at_done:
            try:
                self._checkpointer.restore()
            except Exception as e:
                raise _wrap(e, f"restoring the stage checkpoint (the main line) when job "
                               f"'{self.job_id}' ended after a probe") from e
            self._restore_at_done = False
        self._done = True

    # --- the per-step calls -----------------------------------------------

    def next_lr(self):
        """Begins a training step and returns its learning rate (linear space).

        At an action boundary it first sends a pending report, waits out WAIT
        actions and runs the new action's checkpoint operation. Returns None
        (and `done` is True) when the job is DONE: stop training.
        FAILED_PRECONDITION if the previous step's loss was not reported.
        """
        if self._in_step:
            raise Error(grpc.StatusCode.FAILED_PRECONDITION,
                        "next_lr() called again before report_loss() of the step it began")
        while True:
            if self._action.phase == job_pb2.PHASE_DONE:
                if not self._done:
                    self._finish()
                return None
            if not self._started:
                if self._action.phase == job_pb2.PHASE_WAIT:
                    self._wait_for_others()
                    continue
                self._start_action()
            if self._eval_due:
                self._run_evaluation()
            if self._step < self._steps:
                break
            self._send_report()
        self._in_step = True
        if self._ramp:
            self.lr = self._ramp_lr()
        return self.lr

    def report_loss(self, loss):
        """Records the training loss of the step next_lr() began.

        NaN and infinities are allowed (a diverged step). Runs the evaluation
        the action asks for after this step, and after the action's last step
        sends the action's whole series in one ReportLosses RPC.
        """
        if not self._in_step:
            raise Error(grpc.StatusCode.FAILED_PRECONDITION,
                        "report_loss() called without a step begun by next_lr()")
        loss = float(loss)
        self._in_step = False
        self._report.losses.append(loss)
        self._step += 1
        if self._step == self._next_eval_step:
            try:
                self._run_evaluation()
            except Error:
                self._eval_due = True
                raise
        if self._step == self._steps:
            self._send_report()

    def _ramp_lr(self):
        # Exactly the C++ Tuner::RampLr(): bit-identical LRs.
        return self._ramp_start + (self._ramp_end - self._ramp_start) * (
            float(self._step + 1) / float(self._steps))

    # --- action boundaries -------------------------------------------------

    def _run_evaluation(self):
        if self._evaluate is None:
            raise Error(grpc.StatusCode.FAILED_PRECONDITION, "no evaluate callback")
        try:
            loss = float(self._evaluate())
        except Exception as e:
            raise _wrap(e, f"evaluate() after step {self._step} of action "
                           f"{self._action.action_id}") from e
        self._report.eval_losses.append(loss)
        self._eval_due = False
        self._next_eval += 1
        evals = self._action.eval_steps
        self._next_eval_step = evals[self._next_eval] if self._next_eval < len(evals) else None

    def _send_report(self):
        self.rpcs += 1
        try:
            action = self._client.report_losses(self._report)
        except Error as e:
            raise Error(e.code, f"reporting the losses of action {self._action.action_id} of "
                                f"job '{self.job_id}': {e.message}") from None
        self._set_action(action, reported=True)

    def _wait_for_others(self):
        deadline = None if self.max_wait is None else time.monotonic() + self.max_wait
        request = service_pb2.NextActionRequest(job_id=self.job_id, worker_rank=self.worker_rank)
        while self._action.phase == job_pb2.PHASE_WAIT:
            pause = max(1, self._action.retry_after_ms) / 1000.0
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Error(grpc.StatusCode.DEADLINE_EXCEEDED,
                                f"other workers of job '{self.job_id}' did not report action "
                                f"{self._action.action_id} within {self.max_wait}s")
                pause = min(pause, left)
            time.sleep(pause)
            self.rpcs += 1
            try:
                action = self._client.next_action(request)
            except Error as e:
                raise Error(e.code, f"waiting for the other workers of job '{self.job_id}': "
                                    f"{e.message}") from None
            self._set_action(action, reported=True)

    def _start_action(self):
        a = self._action
        if a.steps < 0:
            raise Error(grpc.StatusCode.INTERNAL, f"action {a.action_id} has {a.steps} steps")
        evals = list(a.eval_steps)
        for i, at in enumerate(evals):
            if at < 1 or at > a.steps or (i > 0 and at <= evals[i - 1]):
                raise Error(grpc.StatusCode.INTERNAL,
                            f"action {a.action_id} lists invalid eval_steps")
        if evals and self._evaluate is None:
            raise Error(grpc.StatusCode.FAILED_PRECONDITION,
                        f"action {a.action_id} of job '{self.job_id}' asks for validation "
                        "losses but the Tuner has no evaluate callback")
        best = self._best
        if (a.save_best or a.checkpoint == job_pb2.CHECKPOINT_OP_RESTORE_BEST) and best is None:
            raise Error(grpc.StatusCode.FAILED_PRECONDITION,
                        f"action {a.action_id} of job '{self.job_id}' uses the best-probe "
                        "checkpoint (reuse_best_probe) but the Tuner has no best_checkpointer")
        if a.save_best:
            self._run(best.save, f"saving the best probe before action {a.action_id}")
        if a.checkpoint == job_pb2.CHECKPOINT_OP_SAVE:
            self._run(self._checkpointer.save, f"save() before action {a.action_id}")
        elif a.checkpoint == job_pb2.CHECKPOINT_OP_RESTORE:
            self._run(self._checkpointer.restore, f"restore() before action {a.action_id}")
        elif a.checkpoint == job_pb2.CHECKPOINT_OP_RESTORE_BEST:
            self._run(best.restore, f"restoring the best probe before action {a.action_id}")
        self._started = True
        self._step = 0
        self._steps = a.steps
        self._next_eval = 0
        self._next_eval_step = evals[0] if evals else None
        self._ramp = a.phase in _RAMPS
        self._ramp_start = a.lr_ramp_start
        self._ramp_end = a.lr
        if not self._ramp:
            self.lr = a.lr
        self._report = service_pb2.ReportLossesRequest(
            job_id=self.job_id, action_id=a.action_id, worker_rank=self.worker_rank)

    @staticmethod
    def _run(operation, context):
        try:
            operation()
        except Exception as e:
            raise _wrap(e, context) from e
