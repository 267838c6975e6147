#ifndef AUTOLRS_SERVER_JOB_OBSERVER_H_
#define AUTOLRS_SERVER_JOB_OBSERVER_H_

#include <cstdint>

#include "absl/strings/string_view.h"
#include "server/job_state.pb.h"

namespace autolrs::server {

// What of a job's state the observer compares across one change, cheap to
// take (O(1): no copy of the schedule).
struct JobMilestones {
  bool done = false;
  int32_t stages = 0;          // schedule().stages_size()
  double last_chosen_lr = 0;   // The last stage's chosen_lr (0: not chosen).
  int32_t last_rollbacks = 0;  // The last stage's rolled_back_lrs_size().
  int64_t rank_timeouts = 0;   // job().rank_timeouts()
  int64_t cooldown_steps = 0;  // schedule().cooldown_steps()
};

JobMilestones MilestonesOf(const JobState& state);

// Told about every committed change of a job by the Scheduler, after the
// store accepted it and before the call answers (with the job's lock held:
// implementations must be quick and must not call the Scheduler). Calls
// for one job are serialized; calls for different jobs are concurrent, so
// implementations must be thread-safe.
class JobObserver {
 public:
  virtual ~JobObserver() = default;
  // A job was created (stored, version 1).
  virtual void OnJobCreated(const JobState& state) = 0;
  // A stored change: `before` is what the job was before it, `after` its
  // new state.
  virtual void OnJobChanged(const JobMilestones& before, const JobState& after) = 0;
  // A job was deleted; `state` is its last state.
  virtual void OnJobDeleted(const JobState& state) = 0;
};

}  // namespace autolrs::server

#endif  // AUTOLRS_SERVER_JOB_OBSERVER_H_
