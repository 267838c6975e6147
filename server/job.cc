#include "server/job.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "bo/optimizer.h"
#include "forecast/forecaster.h"
#include "server/compute_timer.h"
#include "server/first_stage_confirmation.h"
#include "server/family_prior.h"
#include "server/job_config.h"
#include "server/stage_choice.h"
#include "server/stage_search.h"

namespace autolrs::server {
namespace {

constexpr int kTailWindow = 10;

v1::LossSummary Summarize(const google::protobuf::RepeatedField<double>& values) {
  v1::LossSummary s;
  s.set_count(values.size());
  if (values.empty()) return s;
  s.set_first(values[0]);
  s.set_last(values[values.size() - 1]);
  double min = std::numeric_limits<double>::infinity();
  for (double v : values) {
    if (!std::isfinite(v)) {
      s.set_non_finite(true);
    } else {
      min = std::min(min, v);
    }
  }
  s.set_min(std::isfinite(min) ? min : 0);
  const int n = std::min<int>(kTailWindow, values.size());
  double sum = 0;
  for (int i = values.size() - n; i < values.size(); ++i) sum += values[i];
  s.set_tail_mean(sum / n);
  return s;
}

// Evenly spaced 1-based evaluation offsets within `steps`: every steps/points.
std::vector<int64_t> EvalOffsets(int64_t steps, int32_t points) {
  std::vector<int64_t> offsets;
  for (int32_t i = 1; i <= points; ++i) {
    const int64_t at = std::max<int64_t>(1, std::llround(static_cast<double>(steps) * i / points));
    if (offsets.empty() || at > offsets.back()) offsets.push_back(at);
  }
  return offsets;
}

forecast::Method ForecastMethod(v1::Forecaster f) {
  switch (f) {
    case v1::FORECASTER_REFERENCE_EXPONENTIAL:
      return forecast::Method::kReferenceExponential;
    case v1::FORECASTER_LAST_MEAN:
      return forecast::Method::kLastMean;
    default:
      return forecast::Method::kRobust;
  }
}

// Whether a probe's training losses exploded: its last-10 mean exceeds
// `factor` times the checkpoint's loss, estimated by the median first-step
// loss of the stage's probes (a first step's loss is measured before its
// update, so every probe's first loss is the checkpoint's on one batch).
bool Exploded(const v1::Stage& stage, const v1::LossSummary& probe, double factor) {
  if (factor <= 0 || probe.count() == 0) return false;
  std::vector<double> first = {probe.first()};
  for (const v1::Probe& p : stage.probes()) {
    if (p.training_loss().count() > 0) first.push_back(p.training_loss().first());
  }
  std::nth_element(first.begin(), first.begin() + first.size() / 2, first.end());
  const double checkpoint_loss = first[first.size() / 2];
  return std::isfinite(checkpoint_loss) && checkpoint_loss > 0 &&
         probe.tail_mean() > factor * checkpoint_loss;
}

void SetTime(absl::Time t, google::protobuf::Timestamp* ts) {
  const int64_t ns = absl::ToUnixNanos(t);
  ts->set_seconds(ns / 1'000'000'000);
  ts->set_nanos(static_cast<int32_t>(ns % 1'000'000'000));
}

absl::Status Internal(absl::string_view what, const absl::Status& cause) {
  return absl::InternalError(absl::StrCat(what, ": ", cause.message()));
}

}  // namespace

class Job::Undo {
 public:
  explicit Undo(JobState& state) : state_(state) {
    google::protobuf::RepeatedPtrField<v1::Stage>* stages =
        state.mutable_schedule()->mutable_stages();
    num_stages_ = stages->size();
    if (num_stages_ > 0) last_stage_ = stages->Get(num_stages_ - 1);
    google::protobuf::RepeatedPtrField<v1::Stage> finished;
    finished.Swap(stages);  // O(1): the copy below leaves the stages out.
    head_ = state;
    finished.Swap(stages);
  }

  void Restore() {
    google::protobuf::RepeatedPtrField<v1::Stage> stages;
    stages.Swap(state_.mutable_schedule()->mutable_stages());
    state_ = std::move(head_);
    while (stages.size() > num_stages_) stages.RemoveLast();
    if (num_stages_ > 0) *stages.Mutable(num_stages_ - 1) = std::move(last_stage_);
    stages.Swap(state_.mutable_schedule()->mutable_stages());
  }

 private:
  JobState& state_;
  JobState head_;
  int num_stages_ = 0;
  v1::Stage last_stage_;
};

absl::StatusOr<Job> Job::Create(absl::string_view job_id, const v1::JobConfig& config,
                                const Origin& origin) {
  if (origin.first_action_id < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("first_action_id must be >= 1, got ", origin.first_action_id));
  }
  absl::StatusOr<v1::JobConfig> resolved = ResolveJobConfig(config);
  if (!resolved.ok()) return resolved.status();
  JobState state;
  state.set_version(1);
  state.set_request_id(origin.request_id);
  v1::Job* job = state.mutable_job();
  job->set_first_action_id(origin.first_action_id);
  job->set_job_id(std::string(job_id));
  *job->mutable_config() = *std::move(resolved);
  if (!job->config().family().empty() && job->config().use_family_prior()) {
    *state.mutable_family_prior() = CompatibleRuns(origin.family_runs, job->config());
    job->set_family_prior_runs(state.family_prior_size());
  }
  job->set_state(v1::JOB_STATE_RUNNING);
  job->set_stage(-1);
  job->set_current_action_id(origin.first_action_id - 1);
  SetTime(origin.now, job->mutable_create_time());
  *job->mutable_update_time() = job->create_time();
  state.mutable_schedule()->set_job_id(std::string(job_id));
  Job result(std::move(state));
  if (absl::Status s = result.Start(); !s.ok()) return s;
  return result;
}

absl::StatusOr<Job> Job::FromState(JobState state) {
  const auto incomplete = [&](absl::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat("stored state of job '", state.job().job_id(), "' is invalid: ", what));
  };
  if (!state.job().has_config() || state.job().config().lr_max() <= 0 ||
      state.job().config().num_workers() < 1) {
    return incomplete("no resolved config");
  }
  // Stored before ids started anywhere but 1.
  if (state.job().first_action_id() == 0) state.mutable_job()->set_first_action_id(1);
  const v1::Action& action = state.action();
  if (action.action_id() < state.job().first_action_id() ||
      action.action_id() != state.job().current_action_id()) {
    return incomplete(absl::StrCat("action ", action.action_id(), " is not the job's current (",
                                   state.job().current_action_id(), ")"));
  }
  if (action.steps() < 0) {
    return incomplete(
        absl::StrCat("action ", action.action_id(), " has ", action.steps(), " steps"));
  }
  // Servers before rank sums kept every rank's series: fold them.
  if (state.pending_reports_size() > 0) {
    for (const RankReport& r : state.pending_reports()) {
      if (r.losses_size() != action.steps() || r.eval_losses_size() != action.eval_steps_size()) {
        return incomplete("a pending report does not match the action");
      }
    }
    RankReport* sum = state.mutable_rank_sum();
    sum->mutable_losses()->Resize(action.steps(), 0.0);
    sum->mutable_eval_losses()->Resize(action.eval_steps_size(), 0.0);
    for (const RankReport& r : state.pending_reports()) {
      for (int i = 0; i < r.losses_size(); ++i) sum->set_losses(i, sum->losses(i) + r.losses(i));
      for (int i = 0; i < r.eval_losses_size(); ++i) {
        sum->set_eval_losses(i, sum->eval_losses(i) + r.eval_losses(i));
      }
      state.mutable_job()->add_reported_ranks(r.worker_rank());
    }
    auto* ranks = state.mutable_job()->mutable_reported_ranks();
    std::sort(ranks->begin(), ranks->end());
    state.clear_pending_reports();
  }
  const auto& ranks = state.job().reported_ranks();
  if (ranks.size() > 0) {
    if (state.rank_sum().losses_size() != action.steps() ||
        state.rank_sum().eval_losses_size() != action.eval_steps_size()) {
      return incomplete("the rank sum does not match the action");
    }
    for (int i = 0; i < ranks.size(); ++i) {
      if (ranks[i] < 0 || ranks[i] >= state.job().config().num_workers() ||
          (i > 0 && ranks[i] <= ranks[i - 1])) {
        return incomplete("reported ranks are not distinct ranks of the job");
      }
    }
  }
  return Job(std::move(state));
}

void Job::Stamp(absl::Time now) {
  state_.set_version(state_.version() + 1);
  SetTime(now, state_.mutable_job()->mutable_update_time());
}

int64_t Job::RemainingSteps() const {
  if (config().total_steps() == 0) return std::numeric_limits<int64_t>::max();
  return std::max<int64_t>(0, config().total_steps() - job().steps_spent());
}

int64_t Job::StageStepsLeft() const {
  // CooldownSteps is 0 without total_steps, where RemainingSteps is INT64_MAX.
  return std::max<int64_t>(0, RemainingSteps() - CooldownSteps(config()));
}

absl::Status Job::EndStages() {
  // overfit_guard: when the last stage overfit and the budget leaves no steps
  // to retry it, the job goes back to its checkpoint.
  const bool undo_last = state_.action().phase() == v1::PHASE_EXPLOIT &&
                         ExploitOverfit(state_.schedule().stages(job().stage()));
  if (undo_last) UndoLastExploit();
  if (CooldownSteps(config()) == 0 || RemainingSteps() == 0) {
    Finish(/*restore=*/undo_last);
    return absl::OkStatus();
  }
  const v1::JobConfig& c = config();
  const double from = job().current_lr() > 0 ? job().current_lr()
                      : c.warmup_lr() > 0    ? c.warmup_lr()
                                             : c.lr_min();
  v1::Schedule* schedule = state_.mutable_schedule();
  schedule->set_cooldown_steps(RemainingSteps());
  schedule->set_cooldown_lr(from);
  v1::Action cooldown;
  cooldown.set_phase(v1::PHASE_COOLDOWN);
  // The budget can only end inside a search when the search was cut short:
  // go back to the stage checkpoint, the main line.
  // overfit_guard: save the main line first, so that DONE can go back to it.
  cooldown.set_checkpoint(state_.action().phase() == v1::PHASE_PROBE || undo_last
                              ? v1::CHECKPOINT_OP_RESTORE
                          : c.overfit_guard() > 0 ? v1::CHECKPOINT_OP_SAVE
                                                  : v1::CHECKPOINT_OP_NONE);
  // The ramp would reach 0 one step after the last: every step trains.
  cooldown.set_lr(from / static_cast<double>(RemainingSteps() + 1));
  cooldown.set_lr_ramp_start(from);
  cooldown.set_steps(RemainingSteps());
  cooldown.set_stage(job().stage());
  const auto& stages = schedule->stages();
  if ((!stages.empty() && stages[stages.size() - 1].objective() == v1::OBJECTIVE_VALIDATION_LOSS) ||
      c.overfit_guard() > 0) {
    cooldown.add_eval_steps(cooldown.steps());
  }
  Issue(std::move(cooldown));
  return absl::OkStatus();
}

void Job::Issue(v1::Action action) {
  v1::Job* job = state_.mutable_job();
  action.set_job_id(job->job_id());
  action.set_action_id(job->current_action_id() + 1);
  action.set_steps_spent(job->steps_spent());
  job->set_current_action_id(action.action_id());
  *state_.mutable_action() = std::move(action);
  state_.clear_pending_reports();
  state_.clear_rank_sum();
  state_.set_first_report_unix_ms(0);
  job->clear_reported_ranks();
}

void Job::Finish(bool restore) {
  state_.mutable_job()->set_state(v1::JOB_STATE_DONE);
  v1::Action done;
  done.set_phase(v1::PHASE_DONE);
  // A budget spent by a probe ends on a rolled-back state: the trainer must
  // go back to the stage checkpoint, the main line, and keep that.
  done.set_checkpoint(restore || state_.action().phase() == v1::PHASE_PROBE
                          ? v1::CHECKPOINT_OP_RESTORE
                          : v1::CHECKPOINT_OP_NONE);
  done.set_lr(job().current_lr());
  done.set_stage(job().stage());
  Issue(std::move(done));
}

absl::Status Job::Start() {
  if (config().warmup_steps() == 0) return StartStage(0);
  v1::Schedule* schedule = state_.mutable_schedule();
  schedule->set_warmup_steps(config().warmup_steps());
  schedule->set_warmup_lr(config().warmup_lr());
  v1::Action warmup;
  warmup.set_phase(v1::PHASE_WARMUP);
  warmup.set_checkpoint(v1::CHECKPOINT_OP_NONE);
  warmup.set_lr(config().warmup_lr());
  warmup.set_lr_ramp_start(0);
  warmup.set_steps(config().warmup_steps());  // total_steps > warmup_steps
  warmup.set_stage(-1);
  Issue(std::move(warmup));
  return absl::OkStatus();
}

absl::Status Job::StartStage(int32_t index) {
  const v1::JobConfig& c = config();
  if (StageStepsLeft() == 0) return EndStages();
  const auto& stages = state_.schedule().stages();
  int64_t tau = c.tau_initial();
  bool reached_tau_max = false;
  if (!stages.empty()) {
    const int64_t previous = stages[stages.size() - 1].tau();
    tau = previous < c.tau_max() ? std::min(previous * 2, c.tau_max()) : previous;
    for (const v1::Stage& s : stages) reached_tau_max |= s.tau() >= c.tau_max();
  }
  v1::Objective objective = v1::OBJECTIVE_TRAINING_LOSS;
  if (c.objective_switch() == v1::OBJECTIVE_SWITCH_ALWAYS_VALIDATION ||
      (c.objective_switch() == v1::OBJECTIVE_SWITCH_AFTER_FIRST_STAGE && index > 0) ||
      (c.objective_switch() == v1::OBJECTIVE_SWITCH_AFTER_TAU_MAX && reached_tau_max)) {
    objective = v1::OBJECTIVE_VALIDATION_LOSS;
  }

  state_.set_saved_best_probe(0);
  v1::Stage* stage = state_.mutable_schedule()->add_stages();
  stage->set_index(index);
  stage->set_tau(tau);
  stage->set_tau_probe(std::max<int64_t>(
      {1, std::llround(tau * c.probe_ratio()), std::min(tau, c.min_probe_steps())}));
  stage->set_objective(objective);
  stage->set_start_steps_spent(job().steps_spent());
  state_.mutable_job()->set_stage(index);

  // A later stage searches only if the budget pays for its probes and leaves
  // at least half a stage (with search_needs_whole_stage: all tau steps) to
  // exploit the choice, and ProbesFor is not 0; else it keeps the last LR.
  PlanFamilyStage(state_, *stage);
  const int32_t probes = ProbesFor(c, *stage);
  const int64_t exploit_needed = c.search_needs_whole_stage() ? tau : tau / 2;
  if (index > 0 &&
      (probes == 0 || StageStepsLeft() < stage->tau_probe() * probes + exploit_needed)) {
    stage->set_search_skipped(true);
    // A family's prior still says where to train.
    stage->set_chosen_lr(SearchesByPrior(*stage) ? stage->family_lr() : job().current_lr());
    return IssueExploit();
  }
  return IssueProbe(v1::CHECKPOINT_OP_SAVE);
}

absl::Status Job::IssueProbe(v1::CheckpointOp checkpoint) {
  const v1::Stage& stage = state_.schedule().stages(state_.schedule().stages_size() - 1);
  absl::StatusOr<bo::Optimizer> optimizer =
      StageOptimizer(state_, job().current_lr());
  if (!optimizer.ok()) return Internal("building the stage optimizer", optimizer.status());
  absl::StatusOr<double> lr;
  if (SearchesByPrior(stage) && stage.probes_size() + 1 == PriorProbes(config(), stage)) {
    // A family's prior: its LR last, so that the exploitation usually
    // continues from that probe (IssueExploit); the others search its window.
    lr = std::clamp(stage.family_lr(), optimizer->options().lr_min, optimizer->options().lr_max);
  } else if (config().warm_start() && stage.index() > 0 && stage.probes_size() == 0 &&
             job().current_lr() > 0) {
    // Start from the previous stage's choice, inside this stage's interval.
    lr = std::clamp(job().current_lr(), optimizer->options().lr_min, optimizer->options().lr_max);
  } else {
    lr = AskWithRoom(*optimizer);
  }
  if (absl::IsResourceExhausted(lr.status())) return lr.status();  // The caller chooses.
  if (!lr.ok()) return Internal("proposing a probe LR", lr.status());

  IssueProbeAction(stage, checkpoint, *lr, stage.tau_probe(), /*confirmation=*/false);
  return absl::OkStatus();
}

void Job::IssueProbeAction(const v1::Stage& stage, v1::CheckpointOp checkpoint, double lr,
                           int64_t steps, bool confirmation) {
  v1::Action probe;
  probe.set_phase(v1::PHASE_PROBE);
  probe.set_checkpoint(checkpoint);
  probe.set_lr(lr);
  probe.set_steps(std::min(steps, StageStepsLeft()));
  probe.set_stage(stage.index());
  // Confirmations come after all of the stage's search probes.
  probe.set_probe_index(stage.probes_size() + stage.confirmations_size());
  probe.set_confirmation(confirmation);
  if (stage.objective() == v1::OBJECTIVE_VALIDATION_LOSS) {
    for (int64_t at : EvalOffsets(probe.steps(), config().eval_points_per_probe())) {
      probe.add_eval_steps(at);
    }
  }
  Issue(std::move(probe));
}

absl::Status Job::IssueExploit() {
  const v1::Stage& stage = state_.schedule().stages(state_.schedule().stages_size() - 1);
  v1::Action exploit;
  exploit.set_phase(v1::PHASE_EXPLOIT);
  // A stage without a search has no checkpoint of its own; overfit_guard
  // saves one, so that it can roll the stage back (and restore it then).
  exploit.set_checkpoint(!stage.search_skipped() || stage.rolled_back_lrs_size() > 0
                             ? v1::CHECKPOINT_OP_RESTORE
                         : config().overfit_guard() > 0 ? v1::CHECKPOINT_OP_SAVE
                                                        : v1::CHECKPOINT_OP_NONE);
  exploit.set_lr(stage.chosen_lr());
  int64_t steps = stage.tau();
  // A stage searching by a family's prior continues from its last probe when
  // that is the chosen LR: the trainer's current state is that probe's end.
  const v1::Action& last = state_.action();
  if (SearchesByPrior(stage) && last.phase() == v1::PHASE_PROBE && !last.confirmation() &&
      last.stage() == stage.index() && last.probe_index() + 1 == stage.probes_size()) {
    const v1::Probe& p = stage.probes(last.probe_index());
    if (!p.diverged() && p.lr() == stage.chosen_lr() && p.training_loss().count() < stage.tau()) {
      state_.set_saved_best_probe(last.probe_index() + 1);
      exploit.set_checkpoint(v1::CHECKPOINT_OP_NONE);
    }
  }
  // Continue from the chosen probe's end state: its steps are already done.
  const v1::Probe* saved = SavedProbe(stage, state_.saved_best_probe());
  if (saved != nullptr && saved->lr() == stage.chosen_lr() &&
      saved->training_loss().count() < stage.tau()) {
    if (exploit.checkpoint() != v1::CHECKPOINT_OP_NONE) {
      exploit.set_checkpoint(v1::CHECKPOINT_OP_RESTORE_BEST);
    }
    steps -= saved->training_loss().count();
    state_.mutable_schedule()
        ->mutable_stages(state_.schedule().stages_size() - 1)
        ->set_continued_from_probe(true);
  }
  exploit.set_steps(std::min(steps, StageStepsLeft()));
  exploit.set_stage(stage.index());
  // The achieved validation loss is measured once, at the end of the stage
  // (for the validation objective, and for overfit_guard's comparison).
  if (stage.objective() == v1::OBJECTIVE_VALIDATION_LOSS || config().overfit_guard() > 0) {
    exploit.add_eval_steps(exploit.steps());
  }
  Issue(std::move(exploit));
  return absl::OkStatus();
}

v1::Action Job::Wait() const {
  v1::Action wait;
  wait.set_job_id(job().job_id());
  wait.set_action_id(state_.action().action_id());
  wait.set_phase(v1::PHASE_WAIT);
  wait.set_checkpoint(v1::CHECKPOINT_OP_NONE);
  wait.set_stage(state_.action().stage());
  wait.set_retry_after_ms(kWaitRetryMs);
  wait.set_steps_spent(job().steps_spent());
  return wait;
}

absl::StatusOr<v1::Action> Job::NextAction(int32_t worker_rank) const {
  if (worker_rank < 0 || worker_rank >= config().num_workers()) {
    return absl::InvalidArgumentError(absl::StrCat("worker_rank must be in [0, ",
                                                   config().num_workers(), "), got ", worker_rank));
  }
  const auto& ranks = job().reported_ranks();
  if (std::binary_search(ranks.begin(), ranks.end(), worker_rank)) return Wait();
  return state_.action();
}

absl::StatusOr<v1::Action> Job::ReportLosses(const v1::ReportLossesRequest& report, absl::Time now,
                                             bool* changed) {
  *changed = false;
  const v1::Action& action = state_.action();
  const int32_t rank = report.worker_rank();
  if (rank < 0 || rank >= config().num_workers()) {
    return absl::InvalidArgumentError(
        absl::StrCat("worker_rank must be in [0, ", config().num_workers(), "), got ", rank));
  }
  if (report.action_id() < job().first_action_id()) {
    return absl::FailedPreconditionError(
        absl::StrCat("action ", report.action_id(), " was not issued by job '", job().job_id(),
                     "', whose actions start at ", job().first_action_id(),
                     ": the report is for an earlier job of that id, or made up"));
  }
  if (report.action_id() > action.action_id()) {
    return absl::FailedPreconditionError(absl::StrCat("action ", report.action_id(),
                                                      " has not been issued; job '", job().job_id(),
                                                      "' waits on action ", action.action_id()));
  }
  if (report.action_id() < action.action_id()) return NextAction(rank);  // Already applied.
  if (action.phase() == v1::PHASE_DONE) {
    return absl::FailedPreconditionError(absl::StrCat("action ", action.action_id(),
                                                      " is DONE: job '", job().job_id(),
                                                      "' is finished and takes no more losses"));
  }
  if (report.losses_size() != action.steps()) {
    return absl::InvalidArgumentError(
        absl::StrCat("action ", action.action_id(), " has ", action.steps(), " steps: expected ",
                     action.steps(), " losses, got ", report.losses_size()));
  }
  if (report.eval_losses_size() != action.eval_steps_size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("action ", action.action_id(), " asks for ", action.eval_steps_size(),
                     " validation losses, got ", report.eval_losses_size()));
  }
  const auto& ranks = job().reported_ranks();
  if (std::binary_search(ranks.begin(), ranks.end(), rank)) {
    return Wait();  // A retry of this rank's report.
  }

  Undo undo(state_);
  absl::Status applied;
  if (config().num_workers() > 1) {
    applied = AddRankReport(report, now);
  } else {
    RankReport series;
    *series.mutable_losses() = report.losses();
    *series.mutable_eval_losses() = report.eval_losses();
    applied = Advance(series);
  }
  if (!applied.ok()) {
    undo.Restore();
    return applied;
  }
  *changed = true;
  return NextAction(rank);
}

absl::Status Job::AddRankReport(const v1::ReportLossesRequest& report, absl::Time now) {
  const v1::Action& action = state_.action();
  RankReport* sum = state_.mutable_rank_sum();
  auto* ranks = state_.mutable_job()->mutable_reported_ranks();
  if (ranks->empty()) {
    sum->Clear();
    sum->mutable_losses()->Resize(action.steps(), 0.0);
    sum->mutable_eval_losses()->Resize(action.eval_steps_size(), 0.0);
    state_.set_first_report_unix_ms(absl::ToUnixMillis(now));
  }
  double* losses = sum->mutable_losses()->mutable_data();
  for (int i = 0; i < report.losses_size(); ++i) losses[i] += report.losses(i);
  double* evals = sum->mutable_eval_losses()->mutable_data();
  for (int i = 0; i < report.eval_losses_size(); ++i) evals[i] += report.eval_losses(i);
  ranks->Add(report.worker_rank());
  std::sort(ranks->begin(), ranks->end());
  if (ranks->size() < config().num_workers()) return absl::OkStatus();
  return AdvanceOnRankMean();
}

absl::Status Job::AdvanceOnRankMean() {
  RankReport mean = std::move(*state_.mutable_rank_sum());
  const double n = job().reported_ranks_size();
  for (double& v : *mean.mutable_losses()) v /= n;
  for (double& v : *mean.mutable_eval_losses()) v /= n;
  return Advance(mean);
}

absl::StatusOr<bool> Job::ExpireRanks(absl::Time now) {
  const v1::JobConfig& c = config();
  const auto& ranks = job().reported_ranks();
  if (c.num_workers() <= 1 || c.rank_timeout_seconds() <= 0 || ranks.empty() ||
      state_.action().phase() == v1::PHASE_DONE) {
    return false;
  }
  const absl::Time first = absl::FromUnixMillis(state_.first_report_unix_ms());
  if (now - first < absl::Seconds(c.rank_timeout_seconds())) return false;
  Undo undo(state_);
  v1::Job* job = state_.mutable_job();
  job->clear_timed_out_ranks();
  for (int32_t r = 0; r < c.num_workers(); ++r) {
    if (!std::binary_search(ranks.begin(), ranks.end(), r)) job->add_timed_out_ranks(r);
  }
  job->set_rank_timeouts(job->rank_timeouts() + 1);
  if (absl::Status s = AdvanceOnRankMean(); !s.ok()) {
    undo.Restore();
    return s;
  }
  return true;
}

absl::Status Job::Advance(const RankReport& series) {
  const v1::Action& action = state_.action();
  v1::Job* job = state_.mutable_job();
  job->set_steps_spent(job->steps_spent() + action.steps());
  switch (action.phase()) {
    case v1::PHASE_WARMUP:
      job->set_model_steps(job->model_steps() + action.steps());
      return StartStage(0);
    case v1::PHASE_PROBE:
      return ProbeDone(series);
    case v1::PHASE_EXPLOIT:
      job->set_model_steps(job->model_steps() + action.steps());
      return ExploitDone(series);
    case v1::PHASE_COOLDOWN: {
      job->set_model_steps(job->model_steps() + action.steps());
      v1::Schedule* schedule = state_.mutable_schedule();
      *schedule->mutable_cooldown_training_loss() = Summarize(series.losses());
      if (series.eval_losses_size() > 0) {
        *schedule->mutable_cooldown_validation_loss() = Summarize(series.eval_losses());
      }
      const bool overfit = CooldownOverfit();
      if (overfit) {
        // The trainer goes back to the checkpoint saved before the cooldown.
        schedule->set_cooldown_rolled_back(true);
        job->set_model_steps(job->model_steps() - action.steps());
      }
      Finish(/*restore=*/overfit);
      return absl::OkStatus();
    }
    default:
      return absl::InternalError(
          absl::StrCat("action ", action.action_id(), " has no losses to apply"));
  }
}

v1::Probe Job::ForecastProbe(const v1::Stage& stage, const RankReport& series) const {
  const v1::Action& action = state_.action();
  const bool validation = stage.objective() == v1::OBJECTIVE_VALIDATION_LOSS;
  std::vector<double> t, y;
  if (validation) {
    t.assign(action.eval_steps().begin(), action.eval_steps().end());
    y.assign(series.eval_losses().begin(), series.eval_losses().end());
  } else {
    for (int64_t i = 1; i <= action.steps(); ++i) t.push_back(static_cast<double>(i));
    y.assign(series.losses().begin(), series.losses().end());
  }
  forecast::ForecastOptions options;
  options.method = ForecastMethod(config().forecaster());
  options.kind =
      validation ? forecast::SeriesKind::kValidationLoss : forecast::SeriesKind::kTrainingLoss;
  // divergence_factor 0: only NaN/Inf diverge, as documented.
  if (config().divergence_factor() == 0) options.divergence_ratio = 0;
  ComputeTimer forecast_timer(ComputeKind::kForecast);
  absl::StatusOr<forecast::Forecast> f =
      forecast::Predict(t, y, static_cast<double>(stage.tau()), options);
  forecast_timer.Stop();

  v1::Probe probe;
  probe.set_lr(action.lr());
  *probe.mutable_training_loss() = Summarize(series.losses());
  const bool exploded = Exploded(stage, probe.training_loss(), config().divergence_factor());
  // A series the forecaster cannot use is treated as a diverged probe.
  if (f.ok() && !f->diverged && std::isfinite(f->prediction) && !exploded) {
    probe.set_predicted_loss(f->prediction);
  } else {
    probe.set_diverged(true);
    probe.set_predicted_loss(std::numeric_limits<double>::infinity());
  }
  if (series.eval_losses_size() > 0) {
    *probe.mutable_validation_loss() = Summarize(series.eval_losses());
  }
  return probe;
}

absl::Status Job::ProbeDone(const RankReport& series) {
  if (state_.action().confirmation()) return ConfirmationDone(series);
  v1::Stage* stage = state_.mutable_schedule()->mutable_stages(state_.schedule().stages_size() - 1);
  v1::Probe made = ForecastProbe(*stage, series);
  v1::Probe* probe = stage->add_probes();
  *probe = std::move(made);
  if (SearchesByPrior(*stage) && stage->probes_size() == PriorProbes(config(), *stage) &&
      ContradictsPrior(state_, *stage, *probe)) {
    // The family's prior does not hold for this job: search as without one.
    stage->set_family_prior_contradicted(true);
    stage->set_family_followed(false);
    state_.mutable_job()->set_family_prior_dropped(true);
  }
  // With reuse_best_probe, the trainer keeps the end state of the probe the
  // stage would choose now (the choice rule with its tolerances): when
  // that is this probe, the next action tells it to save it.
  bool new_best = false;
  if (config().reuse_best_probe() && !probe->diverged() &&
      ProbeChoice(*stage, config(), job().current_lr()) == stage->probes_size()) {
    new_best = true;
    state_.set_saved_best_probe(stage->probes_size());
  }

  if (StageStepsLeft() == 0) return EndStages();
  absl::Status issued = ChooseOrProbeAgain(stage);
  if (issued.ok() && new_best) state_.mutable_action()->set_save_best(true);
  return issued;
}

absl::Status Job::ChooseOrProbeAgain(v1::Stage* stage) {
  absl::StatusOr<bo::Optimizer> optimizer =
      StageOptimizer(state_, job().current_lr());
  if (!optimizer.ok()) return Internal("building the stage optimizer", optimizer.status());
  const int32_t k = ProbesFor(config(), *stage);
  if (stage->probes_size() < k) {
    bool search_on = true;
    if (stage->probes_size() >= std::min(k, config().min_probes_per_stage())) {
      ComputeTimer gain_timer(ComputeKind::kBayesOpt);
      absl::StatusOr<double> gain = optimizer->ExpectedRelativeImprovement();
      gain_timer.Stop();
      if (!gain.ok()) return Internal("estimating the search's gain", gain.status());
      search_on = *gain >= config().early_stop_gain();
    }
    if (search_on) {
      absl::Status issued = IssueProbe(v1::CHECKPOINT_OP_RESTORE);
      // No LR left to probe, even at the smallest separation: choose now.
      if (!absl::IsResourceExhausted(issued)) return issued;
    }
    stage->set_search_stopped_early(true);
  }
  return Choose(stage, *optimizer);
}

absl::Status Job::Choose(v1::Stage* stage, const bo::Optimizer& optimizer) {
  ComputeTimer best_timer(ComputeKind::kBayesOpt);
  absl::StatusOr<double> best = optimizer.Best();
  best_timer.Stop();
  if (best.ok()) *best = RuledChoice(*stage, config(), job().current_lr(), *best);
  if (best.ok()) {
    // first_stage_confirmation: longer probes check the choice first.
    std::optional<double> confirm;
    if (!SearchesByPrior(*stage)) {
      confirm = NextConfirmationLr(*stage, config(), *best, StageStepsLeft());
    }
    if (confirm.has_value()) return IssueConfirmation(*confirm);
    stage->set_chosen_lr(*best);
    // The chosen LR's forecast: its probe's (the reference rule picks a
    // probe), or between two probes (first_stage_interpolation) the line's.
    bool probed = false;
    for (const v1::Probe& p : stage->probes()) {
      if (p.lr() == *best) stage->set_chosen_predicted_loss(p.predicted_loss()), probed = true;
    }
    if (!probed) stage->set_chosen_predicted_loss(InterpolatedForecast(*stage, *best).value_or(0));
  } else if (absl::IsNotFound(best.status())) {
    // Every probe diverged: fall back to the smallest LR allowed.
    stage->set_chosen_lr(config().lr_min());
  } else {
    return Internal("choosing the stage LR", best.status());
  }
  return IssueExploit();
}

absl::Status Job::IssueConfirmation(double lr) {
  const v1::Stage& stage = state_.schedule().stages(state_.schedule().stages_size() - 1);
  IssueProbeAction(stage, v1::CHECKPOINT_OP_RESTORE, lr, ConfirmationSteps(stage, config()),
                   /*confirmation=*/true);
  return absl::OkStatus();
}

absl::Status Job::ConfirmationDone(const RankReport& series) {
  v1::Stage* stage = state_.mutable_schedule()->mutable_stages(state_.schedule().stages_size() - 1);
  v1::Probe made = ForecastProbe(*stage, series);
  *stage->add_confirmations() = std::move(made);
  const v1::Probe* best = BestConfirmation(*stage);
  // reuse_best_probe: the trainer keeps the best confirmation's end state.
  const bool new_best =
      config().reuse_best_probe() && best == &stage->confirmations(stage->confirmations_size() - 1);
  if (new_best) state_.set_saved_best_probe(stage->probes_size() + stage->confirmations_size());

  if (StageStepsLeft() == 0) return EndStages();
  absl::Status issued;
  if (std::optional<double> lr =
          NextConfirmationLr(*stage, config(), stage->confirmations(0).lr(), StageStepsLeft())) {
    issued = IssueConfirmation(*lr);
  } else {
    // Every confirmation diverged: the smallest LR allowed, as in Choose.
    stage->set_chosen_lr(best != nullptr ? best->lr() : config().lr_min());
    stage->set_chosen_predicted_loss(best != nullptr ? best->predicted_loss() : 0);
    issued = IssueExploit();
  }
  if (issued.ok() && new_best) state_.mutable_action()->set_save_best(true);
  return issued;
}

absl::Status Job::ExploitDone(const RankReport& series) {
  v1::Stage* stage = state_.mutable_schedule()->mutable_stages(state_.schedule().stages_size() - 1);
  *stage->mutable_training_loss() = Summarize(series.losses());
  if (series.eval_losses_size() > 0) {
    *stage->mutable_validation_loss() = Summarize(series.eval_losses());
  }
  if (ExploitFailed(*stage)) return RollBack(stage);
  // The chosen probe's steps are part of the model's path.
  v1::Job* job = state_.mutable_job();
  job->set_model_steps(job->model_steps() + ContinuedProbeSteps(*stage));
  job->set_current_lr(stage->chosen_lr());
  return StartStage(stage->index() + 1);
}

bool Job::ExploitFailed(const v1::Stage& stage) const {
  if (stage.rolled_back_lrs_size() >= kMaxRollbacks || StageStepsLeft() < stage.tau() / 2) {
    return false;
  }
  // A stage without a search has no probe to compare with, only the
  // validation loss at its checkpoint.
  return (!stage.search_skipped() && ExploitCollapsed(stage)) || ExploitOverfit(stage);
}

namespace {

// The validation loss the main line had at the stage checkpoint of stage
// `index`: the end of the latest earlier stage that measured one; nullopt if
// none did.
std::optional<double> ValidationAtCheckpoint(const v1::Schedule& schedule, int index) {
  for (int i = std::min(index, schedule.stages_size()) - 1; i >= 0; --i) {
    const v1::LossSummary& v = schedule.stages(i).validation_loss();
    if (v.count() > 0 && std::isfinite(v.last())) return v.last();
  }
  return std::nullopt;
}

// Whether `after` lies more than `guard` (a fraction) above `before`.
bool RoseAbove(double before, double after, double guard) {
  return !std::isfinite(after) || after > before + guard * std::abs(before);
}

}  // namespace

bool Job::ExploitOverfit(const v1::Stage& stage) const {
  const double guard = config().overfit_guard();
  if (guard <= 0 || stage.validation_loss().count() == 0) return false;
  const std::optional<double> before = ValidationAtCheckpoint(state_.schedule(), stage.index());
  return before.has_value() && RoseAbove(*before, stage.validation_loss().last(), guard);
}

bool Job::CooldownOverfit() const {
  const double guard = config().overfit_guard();
  const v1::Schedule& schedule = state_.schedule();
  if (guard <= 0 || schedule.cooldown_validation_loss().count() == 0) return false;
  // The cooldown started from the last stage's end, or, when the budget ran
  // out inside that stage's search, from its checkpoint.
  const std::optional<double> before =
      ValidationAtCheckpoint(schedule, schedule.stages_size());
  return before.has_value() && RoseAbove(*before, schedule.cooldown_validation_loss().last(), guard);
}

bool Job::ExploitCollapsed(const v1::Stage& stage) const {
  const double guard = config().exploit_guard();
  if (guard <= 0) return false;
  // The chosen LR's own probe: what tau' steps at it reached (its forecast);
  // between two probes (first_stage_interpolation) the line joining theirs.
  std::optional<double> promised = InterpolatedForecast(stage, stage.chosen_lr());
  // A confirmation at the LR ran longer: its forecast is the better promise.
  for (const v1::Probe& p : stage.confirmations()) {
    if (!p.diverged() && p.lr() == stage.chosen_lr()) promised = p.predicted_loss();
  }
  if (!promised.has_value()) return false;
  // The exploitation's losses, as ExploitDone summarized them.
  double achieved;
  if (stage.objective() == v1::OBJECTIVE_VALIDATION_LOSS) {
    if (stage.validation_loss().count() == 0) return false;
    achieved = stage.validation_loss().last();
  } else {
    achieved = stage.training_loss().tail_mean();
  }
  const double bar = *promised + guard * std::abs(*promised);
  // tau steps at the LR ended well above what tau' steps at it forecast:
  // the main line collapsed or stalled (an LR past the training cliff).
  if (!std::isfinite(achieved) || achieved > bar) return true;
  // The first stage starts from the initialization (or the warmup's end),
  // where any usable LR makes progress: an exploitation that ends barely
  // below the stage checkpoint's loss stalled or collapsed, even when its
  // few-step probe promised no better (very short probes cannot tell).
  if (stage.index() == 0 && stage.objective() == v1::OBJECTIVE_TRAINING_LOSS) {
    const double start = CheckpointLoss(state_.schedule(), 0);
    return start > 0 && achieved > (1 - kMinFirstStageProgress) * start;
  }
  return false;
}

int64_t Job::ContinuedProbeSteps(const v1::Stage& stage) const {
  if (!stage.continued_from_probe()) return 0;
  return SavedProbe(stage, state_.saved_best_probe())->training_loss().count();
}

void Job::LowerChoice(v1::Stage* stage) {
  const double failed = stage->chosen_lr();
  stage->add_rolled_back_lrs(failed);
  stage->set_continued_from_probe(false);
  stage->clear_training_loss();
  stage->clear_validation_loss();
  // The best-forecast probe below the failed LR, else a decade below it.
  const v1::Probe* lower = BestProbe(*stage, failed);
  stage->set_chosen_lr(lower != nullptr ? lower->lr() : std::max(config().lr_min(), failed / 10));
  stage->set_chosen_predicted_loss(lower != nullptr ? lower->predicted_loss() : 0);
  // Without reuse_best_probe the trainer holds no best-probe state.
  if (lower == nullptr || !config().reuse_best_probe()) state_.set_saved_best_probe(0);
}

absl::Status Job::RollBack(v1::Stage* stage) {
  // The failed exploitation (the action just reported) is not on the model's
  // path.
  v1::Job* job = state_.mutable_job();
  job->set_model_steps(job->model_steps() - state_.action().steps());
  LowerChoice(stage);
  return IssueExploit();
}

void Job::UndoLastExploit() {
  v1::Stage* stage = state_.mutable_schedule()->mutable_stages(job().stage());
  // ExploitDone counted the exploitation's steps, and the chosen probe's
  // when the exploitation continued from it.
  v1::Job* job = state_.mutable_job();
  job->set_model_steps(job->model_steps() - state_.action().steps() -
                       ContinuedProbeSteps(*stage));
  LowerChoice(stage);
  job->set_current_lr(stage->chosen_lr());
}

}  // namespace autolrs::server
