#include "server/job_observer.h"

namespace autolrs::server {

JobMilestones MilestonesOf(const JobState& state) {
  JobMilestones m;
  m.done = state.job().state() == v1::JOB_STATE_DONE;
  m.stages = state.schedule().stages_size();
  if (m.stages > 0) {
    const v1::Stage& last = state.schedule().stages(m.stages - 1);
    m.last_chosen_lr = last.chosen_lr();
    m.last_rollbacks = last.rolled_back_lrs_size();
  }
  m.rank_timeouts = state.job().rank_timeouts();
  m.cooldown_steps = state.schedule().cooldown_steps();
  return m;
}

}  // namespace autolrs::server
