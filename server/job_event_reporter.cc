#include "server/job_event_reporter.h"

#include <string>

#include "absl/strings/str_join.h"
#include "server/log.h"

namespace autolrs::server {
namespace {

// The tenant owning the job (Job.tenant); empty on a server without a token
// file, and every line then omits the field.
std::string TenantOf(const JobState& state) { return state.job().tenant(); }

LogLine& Identify(LogLine& line, const JobState& state) {
  line.Add("job_id", state.job().job_id());
  if (std::string tenant = TenantOf(state); !tenant.empty()) line.Add("tenant", tenant);
  return line;
}

void LogStageChosen(const JobState& state, int32_t index, bool rollback) {
  const v1::Stage& stage = state.schedule().stages(index);
  LogLine line(LogLevel::kInfo, "stage_chosen");
  Identify(line, state).Add("stage", stage.index()).Add("lr", stage.chosen_lr());
  // 0: the choice had no forecast (search skipped, or a rollback to an LR
  // no probe tried).
  if (stage.chosen_predicted_loss() != 0) line.Add("forecast", stage.chosen_predicted_loss());
  line.Add("probes", stage.probes_size()).Add("tau", stage.tau());
  if (stage.confirmations_size() > 0) line.Add("confirmations", stage.confirmations_size());
  if (stage.search_skipped()) line.Add("search_skipped", true);
  if (stage.search_stopped_early()) line.Add("stopped_early", true);
  if (rollback) {
    line.Add("rolled_back_lr", stage.rolled_back_lrs(stage.rolled_back_lrs_size() - 1));
  }
}

}  // namespace

void JobEventReporter::Count(absl::string_view event) {
  if (metrics_ != nullptr) metrics_->RecordJobEvent(event);
}

void JobEventReporter::OnJobCreated(const JobState& state) {
  const v1::JobConfig& c = state.job().config();
  LogLine line(LogLevel::kInfo, "job_created");
  Identify(line, state)
      .Add("lr_min", c.lr_min())
      .Add("lr_max", c.lr_max())
      .Add("total_steps", c.total_steps())
      .Add("tau_initial", c.tau_initial())
      .Add("probes_per_stage", c.probes_per_stage())
      .Add("num_workers", c.num_workers());
  Count("job_created");
  if (metrics_ != nullptr && state.job().state() != v1::JOB_STATE_DONE) metrics_->AddLiveJobs(1);
}

void JobEventReporter::OnJobChanged(const JobMilestones& before, const JobState& after) {
  const JobMilestones now = MilestonesOf(after);
  if (now.rank_timeouts > before.rank_timeouts) {
    LogLine line(LogLevel::kWarning, "rank_timed_out");
    Identify(line, after)
        .Add("ranks", absl::StrJoin(after.job().timed_out_ranks(), ","))
        .Add("timeouts", now.rank_timeouts)
        .Add("stage", after.job().stage());
    Count("rank_timed_out");
  }
  // Stages whose choice this change made: the last stage known before, if
  // it had none yet (or had one rolled back), and every newer stage.
  const int32_t first = before.stages == 0 ? 0 : before.stages - 1;
  for (int32_t i = first; i < now.stages; ++i) {
    const v1::Stage& stage = after.schedule().stages(i);
    if (stage.chosen_lr() == 0) continue;
    const bool was_last_before = i == before.stages - 1;
    const bool rollback = was_last_before && stage.rolled_back_lrs_size() > before.last_rollbacks;
    if (was_last_before && before.last_chosen_lr != 0 && !rollback) continue;
    LogStageChosen(after, i, rollback);
    Count("stage_chosen");
  }
  if (now.cooldown_steps > 0 && before.cooldown_steps == 0) {
    LogLine line(LogLevel::kInfo, "cooldown_started");
    Identify(line, after)
        .Add("lr", after.schedule().cooldown_lr())
        .Add("steps", now.cooldown_steps);
    Count("cooldown_started");
  }
  if (now.done && !before.done) {
    LogLine line(LogLevel::kInfo, "job_done");
    Identify(line, after)
        .Add("stages", now.stages)
        .Add("steps_spent", after.job().steps_spent())
        .Add("model_steps", after.job().model_steps())
        .Add("lr", after.job().current_lr());
    // overfit_guard undid the cooldown: the model kept is the one before it.
    if (after.schedule().cooldown_rolled_back()) line.Add("cooldown_rolled_back", true);
    Count("job_done");
    if (metrics_ != nullptr) metrics_->AddLiveJobs(-1);
  }
}

void JobEventReporter::OnJobDeleted(const JobState& state) {
  const bool was_done = state.job().state() == v1::JOB_STATE_DONE;
  LogLine line(LogLevel::kInfo, "job_deleted");
  Identify(line, state).Add("was_done", was_done);
  Count("job_deleted");
  if (metrics_ != nullptr && !was_done) metrics_->AddLiveJobs(-1);
}

}  // namespace autolrs::server
