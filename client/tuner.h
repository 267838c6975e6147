#ifndef AUTOLRS_CLIENT_TUNER_H_
#define AUTOLRS_CLIENT_TUNER_H_

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>

#include "absl/base/optimization.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "autolrs/v1/job.pb.h"
#include "autolrs/v1/service.pb.h"
#include "client/checkpointer.h"
#include "client/client.h"

namespace autolrs {

struct TunerOptions {
  // The job's id, chosen and kept by the user: 1 to 63 characters of
  // [a-z0-9-_]. Required. A Tuner created again with the same job_id (after a
  // trainer restart) resumes the job instead of starting a new one.
  std::string job_id;
  // The job's configuration (learning rates in linear space). Used when the
  // job is created; when it exists already, every field set here must equal
  // the job's (else FAILED_PRECONDITION).
  v1::JobConfig config;
  // This trainer's rank, in [0, config.num_workers).
  int worker_rank = 0;
  // Longest wait for other ranks at one action boundary (WAIT actions), after
  // which NextLearningRate() returns DEADLINE_EXCEEDED (and may be called
  // again to keep waiting). Default: forever.
  absl::Duration max_wait = absl::InfiniteDuration();
  // The second checkpoint slot, for jobs with config.reuse_best_probe: the
  // best probe's end state (Action.save_best, CHECKPOINT_OP_RESTORE_BEST).
  // Not owned; may be null otherwise (then such an action fails with
  // FAILED_PRECONDITION).
  Checkpointer* best_probe_checkpointer = nullptr;
};

// The trainer-side driver of an AutoLRS job: it turns the server's actions
// into one learning rate per step, runs the checkpoint operations and
// evaluations the actions ask for, and reports each action's losses in one
// RPC. A training loop using it:
//
//   TunerOptions options{.job_id = "resnet-run-7", .config = config};
//   auto tuner = Tuner::Create(client.get(), &checkpointer, evaluate, options);
//   if (!tuner.ok()) return tuner.status();
//   while (true) {
//     absl::StatusOr<double> lr = (*tuner)->NextLearningRate();
//     if ((*tuner)->done()) break;           // the job spent total_steps
//     if (!lr.ok()) return lr.status();      // network, checkpoint, ...
//     optimizer.set_lr(*lr);
//     double loss = TrainOneStep();
//     if (absl::Status s = (*tuner)->ReportStepLoss(loss); !s.ok()) return s;
//   }
//
// Calls alternate: NextLearningRate(), then ReportStepLoss() for that step.
//
// Cost: a step that is not at an action boundary makes no RPC, takes no lock
// and allocates nothing (the loss buffer is reserved when an action starts).
// At a boundary the Tuner makes one ReportLosses RPC (plus one NextAction RPC
// per WAIT poll when num_workers > 1) and runs the next action's checkpoint
// operation; the RPCs go through the Client and its retries.
//
// Errors leave the Tuner consistent and can be retried by calling the same
// method again (or NextLearningRate() after a failed last ReportStepLoss()):
// a failed ReportLosses RPC is sent again, a failed Save()/Restore() is run
// again, and a failed evaluate() is called again before the next step.
//
// Restart contract: the server remembers only the job, never the trainer's
// progress within an action. A Tuner created after a trainer restart fetches
// the job's current action and runs it from its start, checkpoint operation
// included (after a rank has reported an action, it waits for the others).
// So if the current action is a RESTORE, the Checkpointer must be able to
// restore what was saved before the restart: a Checkpointer that must
// survive restarts has to persist its slot itself (e.g. on disk). The model
// state the trainer restarts from (e.g. its own last checkpoint) is the
// trainer's business; the probes' rollback is the Tuner's.
//
// Thread-safety: not thread-safe; use one Tuner from a single training thread.
// Multi-worker jobs use one Tuner per rank (they may share one Client). The
// client, checkpointer and evaluate callback must outlive the Tuner.
class Tuner {
 public:
  // Creates the job `options.job_id` (CreateJob with a request_id derived
  // from the job_id) or, when it exists, resumes it; then fetches this rank's
  // current action (NextAction). `checkpointer` is required; `evaluate`
  // returns the validation loss and may be null if the config never asks for
  // one (objective_switch = NEVER), else an action that asks for it fails with
  // FAILED_PRECONDITION. Errors: INVALID_ARGUMENT (bad options or config),
  // FAILED_PRECONDITION (the job exists with another config), and the
  // Client's errors.
  static absl::StatusOr<std::unique_ptr<Tuner>> Create(
      Client* client, Checkpointer* checkpointer, std::function<absl::StatusOr<double>()> evaluate,
      TunerOptions options);

  Tuner(const Tuner&) = delete;
  Tuner& operator=(const Tuner&) = delete;

  // Begins a training step and returns its learning rate (linear space). At
  // an action boundary it first sends a pending report, waits out WAIT
  // actions (sleeping retry_after_ms between NextAction calls) and runs the
  // new action's checkpoint operation (Save or Restore) before its first
  // step. Returns OUT_OF_RANGE, and done() becomes true, when the job is
  // DONE: stop training. FAILED_PRECONDITION if the previous step's loss was
  // not reported.
  absl::StatusOr<double> NextLearningRate() {
    if (ABSL_PREDICT_FALSE(slow_path_ || in_step_)) return NextLearningRateSlow();
    in_step_ = true;
    if (ramp_) lr_ = RampLr();
    return lr_;
  }

  // Records the training loss of the step NextLearningRate() began (NaN and
  // infinities allowed: a diverged step). If the action asks for the
  // validation loss after this step, calls evaluate(). After the action's
  // last step, sends the action's whole series in one ReportLosses RPC and
  // stores the next action. FAILED_PRECONDITION if no step was begun.
  absl::Status ReportStepLoss(double loss) {
    if (ABSL_PREDICT_FALSE(!in_step_)) return NotInStep();
    in_step_ = false;
    report_.add_losses(loss);
    ++step_;
    if (ABSL_PREDICT_FALSE(step_ == next_eval_step_ || step_ == steps_)) return EndOfStepSlow();
    return absl::OkStatus();
  }

  // The job is finished (its current action is DONE): stop training. When
  // the job's budget ended inside a search (DONE with CHECKPOINT_OP_RESTORE),
  // the Tuner has restored the stage checkpoint, so the model holds the
  // main line's state, never a rolled-back probe's (if that restore failed,
  // done() stays false and NextLearningRate() retries it).
  bool done() const { return done_; }
  // The action being run, or the next one to run after a boundary.
  const v1::Action& action() const { return action_; }
  // The job as CreateJob (or GetJob, when resuming) returned it.
  const v1::Job& job() const { return job_; }
  // RPCs this Tuner made (calls, not attempts: a retried call counts once).
  int64_t rpcs() const { return rpcs_; }
  // The learning rate NextLearningRate() returned last; 0 before.
  double lr() const { return lr_; }
  // Steps of the current action whose loss was reported.
  int64_t step_in_action() const { return step_; }

 private:
  Tuner(Client* client, Checkpointer* checkpointer,
        std::function<absl::StatusOr<double>()> evaluate, TunerOptions options);

  absl::StatusOr<double> NextLearningRateSlow();
  absl::Status EndOfStepSlow();
  absl::Status NotInStep() const;

  // Sets `action` as the current one, not yet started.
  void SetAction(v1::Action action);
  // Runs the evaluation due after step_, if any.
  absl::Status Evaluate();
  // Sends the finished action's report and stores the next action.
  absl::Status SendReport();
  // After DONE with CHECKPOINT_OP_RESTORE: restores the stage checkpoint;
  // done_ stays false until that succeeded.
  absl::Status EndOnMainLine();
  // Polls NextAction while the current action is WAIT.
  absl::Status WaitForOthers();
  // Runs the checkpoint op and readies the per-step state of the action.
  absl::Status StartAction();
  // The LR of step step_ + 1 of a WARMUP or COOLDOWN ramp (see Action).
  double RampLr() const {
    return ramp_start_ + (ramp_end_ - ramp_start_) *
                             (static_cast<double>(step_ + 1) / static_cast<double>(steps_));
  }

  Client* const client_;
  Checkpointer* const checkpointer_;
  const std::function<absl::StatusOr<double>()> evaluate_;
  const TunerOptions options_;

  v1::Job job_;
  v1::Action action_;
  int64_t rpcs_ = 0;
  bool done_ = false;
  // The restore that ends the job on the main line failed: retry it.
  bool end_restore_due_ = false;

  // Per-step state. slow_path_ is set whenever the next NextLearningRate()
  // has work to do before the step (start an action, send a report, retry an
  // evaluation).
  bool slow_path_ = true;
  bool started_ = false;     // action_'s checkpoint op has run.
  bool report_due_ = false;  // every step of action_ is recorded, not yet sent.
  bool eval_due_ = false;    // the evaluation after step_ failed; retry it.
  bool in_step_ = false;     // NextLearningRate() was called, ReportStepLoss() not yet.
  int64_t step_ = 0;         // steps of action_ done.
  int64_t steps_ = 0;        // action_.steps().
  int next_eval_ = 0;        // index into action_.eval_steps().
  int64_t next_eval_step_ = std::numeric_limits<int64_t>::max();
  bool ramp_ = false;
  double ramp_start_ = 0;
  double ramp_end_ = 0;
  double lr_ = 0;
  v1::ReportLossesRequest report_;
};

}  // namespace autolrs

#endif  // AUTOLRS_CLIENT_TUNER_H_
