#ifndef AUTOLRS_SERVER_FAMILY_PRIOR_H_
#define AUTOLRS_SERVER_FAMILY_PRIOR_H_

// How a job of a family uses its prior (JobState.family_prior, the family's
// runs when the job was created) stage by stage: the Job state machine's
// family rules, kept apart from it. Pure functions; thread-compatible.

#include <cstdint>
#include <optional>

#include "autolrs/v1/job.pb.h"
#include "server/family.h"
#include "server/job_state.pb.h"

namespace autolrs::server {

// The family's view at the progress of `stage`'s middle:
// (start_steps_spent + tau / 2) / total_steps. nullopt when the job has no
// prior, dropped it, or has no total_steps.
std::optional<PriorPoint> StagePrior(const JobState& state, const v1::Stage& stage);

// Sets `stage`'s family_lr (the prior's LR, within the job's interval) and
// family_followed (at least two runs, spread within family_agreement), when
// the job's prior holds at the stage; else leaves them unset.
void PlanFamilyStage(const JobState& state, v1::Stage& stage);

// Whether `stage` searches by the prior: it has a family_lr and no probe of
// it contradicted the prior.
bool SearchesByPrior(const v1::Stage& stage);

// Probes of a stage that SearchesByPrior: 1 when followed, else
// family_probes.
int32_t PriorProbes(const v1::JobConfig& config, const v1::Stage& stage);

// The log10-LR window [lo, hi] a stage that SearchesByPrior searches:
// family_lr within max(family_window, half the runs' spread) decades,
// intersected with [lr_min, lr_max] (the stage's interval). When that is
// empty, the window's width below lr_max.
struct LrWindow {
  double lo = 0;
  double hi = 0;
};
LrWindow PriorWindow(const JobState& state, const v1::Stage& stage, double lr_min, double lr_max);

// Whether `first`, the probe of the family's LR (the last of its prior
// probes) of a stage that SearchesByPrior, contradicts the prior: it
// diverged, or, in the first stage, its forecast
// lies outside the runs' forecasts there, [low / (1 + family_tolerance),
// high * (1 + family_tolerance)] (family_tolerance 0: only divergence).
// Later stages start from a model the job's fewer probes brought further
// than the family's runs were at the same progress, so only divergence
// counts there.
bool ContradictsPrior(const JobState& state, const v1::Stage& stage, const v1::Probe& first);

}  // namespace autolrs::server

#endif  // AUTOLRS_SERVER_FAMILY_PRIOR_H_
