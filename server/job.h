#ifndef AUTOLRS_SERVER_JOB_H_
#define AUTOLRS_SERVER_JOB_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "autolrs/v1/job.pb.h"
#include "autolrs/v1/service.pb.h"
#include "bo/optimizer.h"
#include "server/family.h"
#include "server/job_state.pb.h"

namespace autolrs::server {

// Retry hint, in milliseconds, of the WAIT actions a rank receives while
// other ranks have not reported the current action yet.
inline constexpr int64_t kWaitRetryMs = 100;

// Exploitations of one stage the exploit_guard may roll back.
inline constexpr int kMaxRollbacks = 2;

// exploit_guard: the first stage's exploitation must end at least this
// fraction below the stage checkpoint's loss (its training loss objective).
inline constexpr double kMinFirstStageProgress = 0.05;

// The AutoLRS state machine of one training job: from the resolved config and
// the reported loss series it produces the next action. Pure and
// deterministic (no I/O, no clock, no gRPC): the same config, seed and
// reports give the same actions and the same schedule.
//
// A job runs an optional WARMUP action, then stages. Stage i has tau_i steps
// (tau_initial doubling up to tau_max) and probes of tau'_i =
// round(tau_i * probe_ratio) steps. Its first PROBE saves the stage
// checkpoint; every later PROBE and the EXPLOIT restore it. The k probes' LRs
// come from Bayesian optimization over log10 LR fed with forecasts of each
// probe's loss after tau_i steps; the EXPLOIT trains tau_i steps at the chosen
// LR. With total_steps set, every step of every action counts against it and
// the job ends with DONE when it is spent; with cooldown_fraction, its last
// steps are one COOLDOWN action decaying the last stage's LR linearly to 0.
//
// Thread-safety: none; callers serialize access to one Job.
class Job {
 public:
  // Identity and store metadata of a new job, chosen by its creator.
  struct Origin {
    // The CreateJob request_id, if any.
    std::string request_id;
    // Creation time (also the first update time).
    absl::Time now = absl::UnixEpoch();
    // The id of the job's first action, >= 1 (later ones count up from it).
    // Callers pick a different one for each job created under one job_id,
    // so that a report meant for an earlier job of that id is refused.
    int64_t first_action_id = 1;
    // JobConfig.family: the family's knowledge (v1::Family.runs) when the job
    // is created; its compatible runs become the job's prior (with
    // use_family_prior). Ignored without config.family.
    FamilyRuns family_runs;
  };

  // A new job (store version 1) with its first action planned.
  // INVALID_ARGUMENT for a bad config (naming the field) or first_action_id.
  static absl::StatusOr<Job> Create(absl::string_view job_id, const v1::JobConfig& config,
                                    const Origin& origin);
  static absl::StatusOr<Job> Create(absl::string_view job_id, const v1::JobConfig& config) {
    return Create(job_id, config, Origin());
  }

  // Resumes a job from its stored state. INVALID_ARGUMENT if the state is not
  // one this server wrote (e.g. no config, or an action or rank sum that does
  // not fit the config). States of older servers are upgraded (pending
  // per-rank reports folded into a sum).
  static absl::StatusOr<Job> FromState(JobState state);

  // The whole state, as stored. Only the operations below change it.
  const JobState& state() const { return state_; }
  const v1::Job& job() const { return state_.job(); }
  int64_t version() const { return state_.version(); }

  // The action `worker_rank` must run now: the current action, WAIT when this
  // rank has reported it but others have not, DONE when the job is finished.
  // INVALID_ARGUMENT for a rank outside [0, num_workers).
  absl::StatusOr<v1::Action> NextAction(int32_t worker_rank) const;

  // Applies `report` (received at `now`) and returns the reporting rank's
  // next action. Sets `*changed` when the state changed and must be
  // persisted. A report for an action already applied, or a repeated report
  // of the current action by the same rank, changes nothing. Errors:
  // INVALID_ARGUMENT (rank out of range, series lengths that do not match
  // the action), FAILED_PRECONDITION (an action id not issued yet, one from
  // before this job's first action, or a report for DONE), INTERNAL (the
  // search failed; a bug). All or nothing: on error the job is exactly as
  // before and `*changed` is false.
  absl::StatusOr<v1::Action> ReportLosses(const v1::ReportLossesRequest& report, absl::Time now,
                                          bool* changed);

  // With num_workers > 1 and rank_timeout_seconds > 0: once that long has
  // passed at `now` since the first rank reported the current action, the
  // job advances on the mean of the ranks that did, and records the others
  // in Job.timed_out_ranks. Returns whether the state changed (to persist).
  // All or nothing, like ReportLosses.
  absl::StatusOr<bool> ExpireRanks(absl::Time now);

  // Marks the state as the store's next version, written at `now`: call
  // after a change, before persisting it.
  void Stamp(absl::Time now);

 private:
  explicit Job(JobState state) : state_(std::move(state)) {}

  // A copy of what one report may change (everything but the finished
  // stages, which never change), to undo a failed report in O(stage size).
  class Undo;

  const v1::JobConfig& config() const { return state_.job().config(); }
  // Steps the budget still allows; INT64_MAX when total_steps is unbounded.
  int64_t RemainingSteps() const;
  // Steps stages may still spend: RemainingSteps() minus the cooldown's.
  int64_t StageStepsLeft() const;

  absl::Status Start();
  absl::Status StartStage(int32_t index);
  absl::Status IssueProbe(v1::CheckpointOp checkpoint);
  absl::Status IssueExploit();
  // Issues a PROBE of the last stage (`stage`) at `lr` for `steps` (at most
  // what the stage may still spend), a confirmation or a search probe.
  void IssueProbeAction(const v1::Stage& stage, v1::CheckpointOp checkpoint, double lr,
                        int64_t steps, bool confirmation);
  void Issue(v1::Action action);
  // DONE; `restore`: its checkpoint op is RESTORE (the trainer goes back to
  // the stage checkpoint), as it always is after a PROBE.
  void Finish(bool restore = false);
  // When stages have spent their steps: the COOLDOWN action, or DONE.
  absl::Status EndStages();

  // Adds one rank's series to the rank sum; with every rank in, advances.
  absl::Status AddRankReport(const v1::ReportLossesRequest& report, absl::Time now);
  // Advances on the mean of the ranks summed so far.
  absl::Status AdvanceOnRankMean();
  // Folds the (rank-averaged) series of the current action into the job and
  // issues the next action.
  absl::Status Advance(const RankReport& series);
  absl::Status ProbeDone(const RankReport& series);
  // The probe the current PROBE action's series makes in `stage`: its
  // forecast after tau steps, or diverged.
  v1::Probe ForecastProbe(const v1::Stage& stage, const RankReport& series) const;
  // first_stage_confirmation: issues the confirmation probe at `lr`; after
  // one, the next one or the stage's choice and its EXPLOIT.
  absl::Status IssueConfirmation(double lr);
  absl::Status ConfirmationDone(const RankReport& series);
  // After a probe of `stage`: the next probe, or the choice and the EXPLOIT.
  absl::Status ChooseOrProbeAgain(v1::Stage* stage);
  // Ends the stage's search: chooses its LR and issues the EXPLOIT.
  absl::Status Choose(v1::Stage* stage, const bo::Optimizer& optimizer);
  absl::Status ExploitDone(const RankReport& series);
  // Whether the stage's exploitation is rolled back and retried lower:
  // ExploitCollapsed or ExploitOverfit, while the stage may still roll back.
  bool ExploitFailed(const v1::Stage& stage) const;
  // exploit_guard: the exploitation ended more than the guard above its LR's
  // forecast, or the first stage barely below its checkpoint's loss.
  bool ExploitCollapsed(const v1::Stage& stage) const;
  // overfit_guard: the exploitation's validation loss ended more than the
  // guard above the stage checkpoint's (the previous stage's end).
  bool ExploitOverfit(const v1::Stage& stage) const;
  // overfit_guard: the reported cooldown's validation loss ended more than
  // the guard above the validation loss at its start.
  bool CooldownOverfit() const;
  // Restores the stage checkpoint and exploits again at a lower LR.
  absl::Status RollBack(v1::Stage* stage);
  // overfit_guard, after the last stage's exploitation: takes it off the
  // model's path and lowers the LR as RollBack does, without retrying it.
  void UndoLastExploit();
  // Records the stage's chosen LR as rolled back and chooses the best probe
  // below it (none: a decade below it instead).
  void LowerChoice(v1::Stage* stage);
  // The steps of the chosen probe the stage's exploitation continued from
  // (reuse_best_probe), which are on the model's path; 0 if it did not.
  int64_t ContinuedProbeSteps(const v1::Stage& stage) const;

  v1::Action Wait() const;

  JobState state_;
};

}  // namespace autolrs::server

#endif  // AUTOLRS_SERVER_JOB_H_
