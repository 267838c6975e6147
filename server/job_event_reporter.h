#ifndef AUTOLRS_SERVER_JOB_EVENT_REPORTER_H_
#define AUTOLRS_SERVER_JOB_EVENT_REPORTER_H_

#include "server/job_observer.h"
#include "server/metrics.h"

namespace autolrs::server {

// Turns job changes into one info log line per state change and counts them
// in `metrics` (autolrs_job_events_total, autolrs_jobs_live; when not null):
//
//   info    job_created       job_id lr_min lr_max total_steps tau_initial
//                             probes_per_stage num_workers
//   info    stage_chosen      job_id stage lr [forecast] probes tau [search_skipped]
//                             [stopped_early] [rolled_back_lr: a re-choice after
//                             exploit_guard rolled that LR back]
//   info    cooldown_started  job_id lr steps
//   warning rank_timed_out    job_id ranks (the missing ones, comma-separated)
//                             timeouts stage
//   info    job_done          job_id stages steps_spent model_steps lr
//   info    job_deleted       job_id was_done
//
// Every line carries `tenant` when the job has one (see TenantOf in the .cc).
// Nothing is logged per step, per probe or per report.
//
// Thread-safe. Does not own `metrics`, which must outlive it.
class JobEventReporter final : public JobObserver {
 public:
  explicit JobEventReporter(ServerMetrics* metrics) : metrics_(metrics) {}

  void OnJobCreated(const JobState& state) override;
  void OnJobChanged(const JobMilestones& before, const JobState& after) override;
  void OnJobDeleted(const JobState& state) override;

 private:
  void Count(absl::string_view event);

  ServerMetrics* const metrics_;
};

}  // namespace autolrs::server

#endif  // AUTOLRS_SERVER_JOB_EVENT_REPORTER_H_
