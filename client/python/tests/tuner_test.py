"""autolrs.Tuner against a real autolrs_server, on the synthetic loss function."""

import math
import signal
import threading

import grpc
import pytest

import autolrs
import testutil
from autolrs.v1 import job_pb2
from synthetic import Slot, SyntheticTrainer

# Every phase: a warmup, training-loss stages with the first stage's
# confirmations, validation-loss stages (after tau_max), a cooldown, DONE.
EVERY_PHASE = {"lr_min": 1e-3, "lr_max": 1.0, "tau_initial": 50, "tau_max": 100,
               "probes_per_stage": 3, "total_steps": 800, "warmup_steps": 20,
               "warmup_lr": 0.05, "seed": 3, "first_stage_confirmation": 4,
               # Probes of tau / 10 steps: 5, then 10, and later stages search
               # with them (the protocol, not the policy).
               "min_probe_steps": 0, "later_stage_min_probe_steps": 0}
# The budget ends inside the first stage's search and there is no cooldown:
# DONE answers a PROBE's report.
ENDS_IN_A_PROBE = {"lr_min": 1e-3, "lr_max": 1.0, "tau_initial": 1000, "probes_per_stage": 10,
                   "total_steps": 250, "preset": "PRESET_REFERENCE", "seed": 5}


class Run:
    """A synthetic trainer with its two checkpoint slots and a log of every step."""

    def __init__(self, seed=1):
        self.trainer = SyntheticTrainer(seed)
        self.stage = Slot(self.trainer)
        self.best = Slot(self.trainer, best=True)
        self.evaluations = 0
        self.steps = []  # (action, lr, loss) per step.

    def evaluate(self):
        self.evaluations += 1
        return self.trainer.validation_loss()

    def tuner(self, client, job_id, config, **kwargs):
        return autolrs.Tuner(client, job_id, config, self.stage, self.evaluate,
                             best_checkpointer=self.best, **kwargs)

    def train(self, tuner, max_steps=None):
        """Trains until DONE (returns True) or max_steps steps (returns False)."""
        for _ in range(max_steps if max_steps is not None else 10**9):
            lr = tuner.next_lr()
            if lr is None:
                assert tuner.done
                return True
            action = autolrs.Action()
            action.CopyFrom(tuner.action)
            self.trainer.lr = lr
            loss = self.trainer.train_step()
            self.steps.append((action, lr, loss))
            tuner.report_loss(loss)
        return False


@pytest.fixture
def client(server):
    with autolrs.Client(server.address) as c:
        yield c


def test_runs_every_phase_with_one_rpc_per_action(client):
    run = Run()
    tuner = run.tuner(client, "every-phase", EVERY_PHASE)
    assert run.train(tuner)
    assert tuner.next_lr() is None and tuner.done  # Stays done.

    actions = {}
    for action, _, _ in run.steps:
        actions.setdefault(action.action_id, action)
    phases = [a.phase for a in actions.values()]
    assert set(phases) == {job_pb2.PHASE_WARMUP, job_pb2.PHASE_PROBE, job_pb2.PHASE_EXPLOIT,
                           job_pb2.PHASE_COOLDOWN}
    assert phases[0] == job_pb2.PHASE_WARMUP and phases[-1] == job_pb2.PHASE_COOLDOWN
    assert len(run.steps) == EVERY_PHASE["total_steps"]
    # Create + NextAction, then one ReportLosses per action: never per step.
    assert tuner.rpcs == 2 + len(actions)
    assert client.get_job("every-phase").state == job_pb2.JOB_STATE_DONE
    # Each action's steps ran at its LR (ramps: step i of n at start + (end - start) * i/n).
    for action in actions.values():
        lrs = [lr for a, lr, _ in run.steps if a.action_id == action.action_id]
        assert len(lrs) == action.steps
        if action.phase in (job_pb2.PHASE_WARMUP, job_pb2.PHASE_COOLDOWN):
            n = action.steps
            start = action.lr_ramp_start
            assert lrs == [start + (action.lr - start) * (i / n) for i in range(1, n + 1)]
            assert lrs[-1] == pytest.approx(action.lr, rel=1e-12)
        else:
            assert lrs == [action.lr] * action.steps
    # Checkpoint operations and evaluations as the actions asked.
    # One SAVE per searched stage, and (overfit_guard) before a stage without
    # a search and before the cooldown.
    searches = [s for s in client.get_schedule("every-phase").stages if not s.search_skipped]
    assert run.stage.saves == sum(a.checkpoint == job_pb2.CHECKPOINT_OP_SAVE
                                  for a in actions.values()) > len(searches)
    assert run.stage.restores == sum(a.checkpoint == job_pb2.CHECKPOINT_OP_RESTORE
                                     for a in actions.values())
    assert run.evaluations == sum(len(a.eval_steps) for a in actions.values()) > 0
    assert run.best.saves == 0  # reuse_best_probe is off.


def test_reports_every_loss_and_evaluation_the_server_asked_for(client):
    run = Run()
    tuner = run.tuner(client, "reported", EVERY_PHASE)
    assert run.train(tuner)
    schedule = client.get_schedule("reported")
    assert len(schedule.stages[0].confirmations) >= 2
    probes = [p for s in schedule.stages for p in list(s.probes) + list(s.confirmations)]
    assert len(probes) == sum(a.phase == job_pb2.PHASE_PROBE
                              for a in {a.action_id: a for a, _, _ in run.steps}.values())
    # The first probe's training-loss summary is the losses this trainer reported.
    first_probe = [loss for a, _, loss in run.steps
                   if a.phase == job_pb2.PHASE_PROBE and a.probe_index == 0 and a.stage == 0]
    assert probes[0].training_loss.count == len(first_probe)
    assert probes[0].training_loss.first == first_probe[0]
    assert probes[0].training_loss.last == first_probe[-1]
    assert any(p.validation_loss.count > 0 for p in probes)
    assert schedule.cooldown_training_loss.count == schedule.cooldown_steps > 0


def test_ends_on_the_main_line_when_done_follows_a_probe(client):
    run = Run()
    tuner = run.tuner(client, "ends-in-probe", ENDS_IN_A_PROBE)
    assert run.train(tuner)
    last_action = run.steps[-1][0]
    assert last_action.phase == job_pb2.PHASE_PROBE
    assert tuner.action.phase == job_pb2.PHASE_DONE
    # The model is back at the stage checkpoint (the main line), not at the
    # end of the rolled-back probe.
    assert run.trainer.g == run.trainer._saved[0]
    assert run.stage.restores == sum(
        a.checkpoint == job_pb2.CHECKPOINT_OP_RESTORE
        for a in {a.action_id: a for a, _, _ in run.steps}.values()) + 1
    assert client.get_job("ends-in-probe").model_steps == 0


def test_a_failed_restore_at_the_end_is_retried_before_done(client):
    run = Run()
    tuner = run.tuner(client, "ends-in-probe-retry", ENDS_IN_A_PROBE)
    total = ENDS_IN_A_PROBE["total_steps"]
    assert not run.train(tuner, max_steps=total - 1)
    run.stage.fail_next = 1
    tuner.next_lr()
    run.trainer.lr = tuner.lr
    with pytest.raises(autolrs.Error) as e:
        tuner.report_loss(run.trainer.train_step())
    assert "restoring the stage checkpoint" in e.value.message
    assert not tuner.done
    assert tuner.next_lr() is None and tuner.done
    assert run.trainer.g == run.trainer._saved[0]


def test_resumes_the_job_after_a_trainer_restart(client):
    run = Run()
    tuner = run.tuner(client, "resumed", EVERY_PHASE)
    # Stop in the middle of the first stage's second probe (a RESTORE action).
    steps = EVERY_PHASE["warmup_steps"] + 5 + 3
    assert not run.train(tuner, max_steps=steps)
    interrupted = tuner.action
    assert interrupted.phase == job_pb2.PHASE_PROBE
    assert interrupted.checkpoint == job_pb2.CHECKPOINT_OP_RESTORE
    restores = run.stage.restores
    del tuner  # The trainer "restarts": a new Tuner with the same job_id.

    resumed = run.tuner(client, "resumed", EVERY_PHASE)
    assert resumed.action.action_id == interrupted.action_id
    assert resumed.job.job_id == "resumed"
    assert resumed.rpcs == 2  # CreateJob (same request_id: the same job), NextAction.
    assert run.train(resumed)
    # The action was run again from its start, its restore first.
    assert run.stage.restores > restores
    job = client.get_job("resumed")
    assert job.state == job_pb2.JOB_STATE_DONE
    assert job.steps_spent == EVERY_PHASE["total_steps"]
    # The resumed action's losses counted once: its report has exactly its steps.
    redo = [s for s in run.steps if s[0].action_id == interrupted.action_id]
    assert len(redo) == 3 + interrupted.steps


def test_a_done_job_is_done_at_once(client):
    run = Run()
    assert run.train(run.tuner(client, "finished", ENDS_IN_A_PROBE))
    again = Run()
    tuner = again.tuner(client, "finished", ENDS_IN_A_PROBE)
    assert tuner.done
    assert tuner.next_lr() is None
    assert again.stage.restores == 0  # Nothing ran in this process.


def test_two_ranks_run_the_same_actions_and_wait_for_each_other(client):
    config = dict(EVERY_PHASE, num_workers=2, total_steps=400)
    runs = [Run(seed=1), Run(seed=2)]
    tuners = [runs[r].tuner(client, "two-ranks", config, worker_rank=r, max_wait=60)
              for r in range(2)]
    errors = []

    def train(rank):
        try:
            runs[rank].train(tuners[rank])
        except Exception as e:  # Reported by the assertion below.
            errors.append(e)

    threads = [threading.Thread(target=train, args=(r,)) for r in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    assert all(t.done for t in tuners)
    lrs = [[lr for _, lr, _ in r.steps] for r in runs]
    assert lrs[0] == lrs[1] and len(lrs[0]) == 400
    # The faster rank polled NextAction (WAIT) at least once.
    actions = len({a.action_id for a, _, _ in runs[0].steps})
    assert sum(t.rpcs for t in tuners) > 2 * (2 + actions)
    # The server advanced on the mean of both ranks' series.
    first = client.get_schedule("two-ranks").stages[0].probes[0].training_loss.first
    losses = [r.steps[config["warmup_steps"]][2] for r in runs]
    assert first == pytest.approx((losses[0] + losses[1]) / 2, rel=1e-12)


def test_two_ranks_both_end_on_the_main_line(client):
    config = dict(ENDS_IN_A_PROBE, num_workers=2)
    runs = [Run(seed=1), Run(seed=2)]
    tuners = [runs[r].tuner(client, "two-ranks-probe", config, worker_rank=r, max_wait=60)
              for r in range(2)]
    threads = [threading.Thread(target=runs[r].train, args=(tuners[r],)) for r in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(t.done for t in tuners)
    for run in runs:
        assert run.trainer.g == run.trainer._saved[0]


def test_waiting_for_a_missing_rank_times_out_and_can_go_on(client):
    config = dict(EVERY_PHASE, num_workers=2)
    run = Run()
    tuner = run.tuner(client, "lonely", config, max_wait=0.3)
    with pytest.raises(autolrs.Error) as e:
        run.train(tuner)
    assert e.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert f"did not report action {tuner.action.action_id}" in e.value.message
    assert tuner.action.phase == job_pb2.PHASE_WAIT
    with pytest.raises(autolrs.Error):  # Still alone.
        tuner.next_lr()


def test_reuse_best_probe_uses_the_second_slot(client):
    config = dict(EVERY_PHASE, reuse_best_probe=True)
    run = Run()
    assert run.train(run.tuner(client, "best", config))
    assert run.best.saves > 0 and run.best.restores > 0
    stages = client.get_schedule("best").stages
    assert any(s.continued_from_probe for s in stages)


def test_reuse_best_probe_without_a_second_slot_is_failed_precondition(client):
    config = dict(EVERY_PHASE, reuse_best_probe=True)
    run = Run()
    tuner = autolrs.Tuner(client, "no-best", config, run.stage, run.evaluate)
    with pytest.raises(autolrs.Error) as e:
        run.train(tuner)
    assert e.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert "best_checkpointer" in e.value.message


def test_an_evaluation_without_a_callback_is_failed_precondition(client):
    config = dict(EVERY_PHASE, objective_switch="OBJECTIVE_SWITCH_ALWAYS_VALIDATION")
    run = Run()
    tuner = autolrs.Tuner(client, "no-eval", config, run.stage)
    with pytest.raises(autolrs.Error) as e:
        run.train(tuner)
    assert e.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert "no evaluate callback" in e.value.message


def test_failed_checkpoint_ops_and_evaluations_are_retried(client):
    run = Run()
    tuner = run.tuner(client, "flaky", EVERY_PHASE)
    failures = 0
    run.stage.fail_next = 1
    fail_eval = [True]
    evaluate = run.evaluate

    def flaky_evaluate():
        if fail_eval[0]:
            fail_eval[0] = False
            raise ValueError("injected evaluation failure")
        return evaluate()

    run.evaluate = flaky_evaluate
    tuner._evaluate = flaky_evaluate
    done = False
    while not done:
        try:
            done = run.train(tuner)
        except autolrs.Error as e:
            failures += 1
            assert e.code == grpc.StatusCode.UNKNOWN
            assert ("save() before action" in e.message
                    or "evaluate() after step" in e.message), e.message
    assert failures == 2
    assert client.get_job("flaky").steps_spent == EVERY_PHASE["total_steps"]


def test_calls_must_alternate(client):
    run = Run()
    tuner = run.tuner(client, "alternate", EVERY_PHASE)
    with pytest.raises(autolrs.Error) as e:
        tuner.report_loss(1.0)
    assert e.value.code == grpc.StatusCode.FAILED_PRECONDITION
    tuner.next_lr()
    with pytest.raises(autolrs.Error) as e:
        tuner.next_lr()
    assert e.value.code == grpc.StatusCode.FAILED_PRECONDITION


def test_an_existing_job_with_another_config_is_failed_precondition(client):
    Run().tuner(client, "taken", EVERY_PHASE)
    with pytest.raises(autolrs.Error) as e:
        Run().tuner(client, "taken", dict(EVERY_PHASE, lr_max=0.5))
    assert e.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert "lr_max: 1.0 -> 0.5" in e.value.message


def test_an_invalid_config_is_invalid_argument(client):
    with pytest.raises(autolrs.Error) as e:
        Run().tuner(client, "invalid", {"lr_min": 1e-3, "lr_max": 1.0, "tau_initial": 5})
    assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "creating job 'invalid'" in e.value.message and "tau_initial" in e.value.message


def test_a_server_that_is_down_is_a_clear_error():
    client = autolrs.Client("127.0.0.1:1", deadline=0.2, retries=1, initial_backoff=0.01)
    with pytest.raises(autolrs.Error) as e:
        Run().tuner(client, "down", EVERY_PHASE)
    assert e.value.code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
    assert "creating job 'down'" in e.value.message
    assert "gave up after 2 attempts" in e.value.message


def test_bad_options_are_invalid_argument(client):
    run = Run()
    for kwargs, what in [({"job_id": ""}, "job_id"), ({"checkpointer": None}, "checkpointer"),
                         ({"worker_rank": -1}, "worker_rank"), ({"max_wait": 0}, "max_wait")]:
        args = {"client": client, "job_id": "x", "config": EVERY_PHASE,
                "checkpointer": run.stage, **kwargs}
        with pytest.raises(autolrs.Error) as e:
            autolrs.Tuner(**args)
        assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert what in e.value.message


def test_retries_across_a_server_restart_give_the_uninterrupted_schedule(make_server, tmp_path):
    server = make_server(f"sqlite:{tmp_path / 'autolrs.db'}")
    client = autolrs.Client(server.address, deadline=0.3, retries=40, initial_backoff=0.05,
                            max_backoff=0.2)
    reference = Run()
    assert reference.train(reference.tuner(client, "uninterrupted", EVERY_PHASE))

    run = Run()
    tuner = run.tuner(client, "interrupted", EVERY_PHASE)
    assert not run.train(tuner, max_steps=300)
    server.stop(signal.SIGKILL)
    restarter = threading.Timer(1.0, server.start)
    restarter.start()
    try:
        assert run.train(tuner)  # The next report waits for the server and retries.
    finally:
        restarter.join()
    assert client.attempts > client.calls  # Attempts of 0.3 s during a 1 s outage.
    a = client.get_schedule("interrupted")
    b = client.get_schedule("uninterrupted")
    a.job_id = b.job_id = ""
    assert a.SerializeToString(deterministic=True) == b.SerializeToString(deterministic=True)
    assert [lr for _, lr, _ in run.steps] == [lr for _, lr, _ in reference.steps]
    client.close()


if __name__ == "__main__":
    import sys
    sys.exit(testutil.run_pytest(__file__))


FAMILY = {"lr_min": 1e-3, "lr_max": 1.0, "tau_initial": 40, "tau_max": 80,
          "probes_per_stage": 4, "total_steps": 1200, "family": "synthetic-mlp"}


def test_a_family_learns_from_its_runs_and_the_client_reads_it(server):
    """Run 2 of a family starts from run 1 (fewer probe steps); the family RPCs show it."""
    with autolrs.Client(server.address) as client:
        probe_fraction = []
        for i, seed in enumerate((1, 2)):
            run = Run(seed)
            tuner = run.tuner(client, f"run-{i + 1}", dict(FAMILY, seed=seed))
            assert run.train(tuner)
            job = client.get_job(f"run-{i + 1}")
            assert job.family_prior_runs == i
        family = client.get_family("synthetic-mlp")
        assert [r.job_id for r in family.runs] == ["run-1", "run-2"]
        assert family.runs[1].prior_runs == 1
        assert family.runs[1].probe_fraction < family.runs[0].probe_fraction
        assert len(family.curve) > 0
        listed = client.list_families()
        assert [f.name for f in listed.families] == ["synthetic-mlp"]
        with pytest.raises(autolrs.Error) as e:
            client.get_family("no-such-family")
        assert e.value.code == grpc.StatusCode.NOT_FOUND
        with pytest.raises(autolrs.Error) as e:
            client.get_family("Not A Name")
        assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT
        client.delete_family("synthetic-mlp")
        assert len(client.list_families().families) == 0
