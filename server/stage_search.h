#ifndef AUTOLRS_SERVER_STAGE_SEARCH_H_
#define AUTOLRS_SERVER_STAGE_SEARCH_H_

// How a stage's search is set up: how many LRs it probes, the interval its
// Bayesian optimizer searches, and the optimizer itself, rebuilt from the
// stage's probes whenever the job needs it (a job keeps no optimizer between
// calls: its state is the schedule). Pure functions of the job's state,
// except for the compute-time accounting (ComputeTimer); thread-compatible.

#include <cstdint>

#include "absl/status/statusor.h"
#include "autolrs/v1/job.pb.h"
#include "bo/optimizer.h"
#include "server/job_state.pb.h"

namespace autolrs::server {

// k of `stage`: 0 for a later stage whose tau_probe is below
// later_stage_min_probe_steps; else with a family's prior, PriorProbes; else
// probes_per_stage for the first stage, later_stage_probes after (unset in
// configs stored before that field existed: probes_per_stage). 0 for a later
// stage: no search.
int32_t ProbesFor(const v1::JobConfig& c, const v1::Stage& stage);

// The upper end (an LR, linear units) of stage `stage`'s search interval:
// lr_max, or with remember_divergence the geometric mean of the smallest LR
// that diverged (or whose exploitation was rolled back) in an earlier stage
// and the largest LR below it that did not. Never below the LRs stage
// `stage` has already probed, nor within 0.1 decade of lr_min; at most
// lr_max.
double SearchCeiling(const v1::JobConfig& c, const v1::Schedule& schedule, int32_t stage);

// The optimizer of the schedule's last stage (which must exist), holding its
// probes as observations (a diverged probe as NaN, which the optimizer turns
// into a penalty). The interval: [lr_min, SearchCeiling]; a family prior's
// window when the stage SearchesByPrior; with search_radius, a later stage's
// window of that many decades around `current_lr` (the previous stage's
// choice; 0 for none), widened at the edge with widen_at_edge.
// min_probe_separation, a fraction of the job's interval, is rescaled to
// keep the same distance in decades inside the narrower window. Errors: the
// optimizer's (INVALID_ARGUMENT for options it refuses).
absl::StatusOr<bo::Optimizer> StageOptimizer(const JobState& state, double current_lr);

// The optimizer's next probe. Where the told LRs leave no room at the
// configured separation, the separation halves (down to the optimizer's
// minimum) rather than failing: every valid config runs to its end.
// RESOURCE_EXHAUSTED only when no room is left even then.
absl::StatusOr<double> AskWithRoom(const bo::Optimizer& optimizer);

}  // namespace autolrs::server

#endif  // AUTOLRS_SERVER_STAGE_SEARCH_H_
