#ifndef AUTOLRS_SERVER_STAGE_CHOICE_H_
#define AUTOLRS_SERVER_STAGE_CHOICE_H_

#include <cstdint>
#include <limits>
#include <optional>

#include "autolrs/v1/job.pb.h"

// The rules that pick a stage's LR among its probes, on top of the stage
// choice rule (the lowest forecast): pure functions of the stage and the
// job's resolved config, for Job. LRs are compared exactly: a returned LR is
// one of the stage's probes' (or the one passed in), except the first
// stage's with first_stage_interpolation or first_stage_clamp_to_limit,
// which may lie between two probes.

namespace autolrs::server {

// The stage's non-diverged probe below LR `below` with the lowest forecast
// (the earliest on ties); nullptr when there is none.
const v1::Probe* BestProbe(const v1::Stage& stage,
                           double below = std::numeric_limits<double>::infinity());

// The tolerance rules on the LR `chosen` by the stage choice rule: the first
// stage, with first_stage_choice_tolerance, takes the smallest LR near the
// best forecast (short probes from the initialization favour large LRs; at
// most half a decade below the best probe's; with first_stage_interpolation
// possibly between two probes, where the line joining their forecasts over
// log10 LR crosses the tolerance; else with first_stage_clamp_to_limit the
// half-decade limit itself when a probe below it is within the tolerance);
// otherwise, with
// choice_tolerance, the largest (greedy stage-wise choice favours small
// ones), in a later stage with tolerance_never_raises at most the larger of
// `chosen` and `current_lr` (the previous stage's LR; 0 for none).
double TolerantChoice(const v1::Stage& stage, const v1::JobConfig& c, double current_lr,
                      double chosen);

// With hold_margin, the LR a later stage takes instead of `candidate`: the
// previous stage's (`current_lr`) unless the candidate's forecast beats that
// LR's own probe by more than the margin (relative). Greedy stage-wise
// choice favours smaller LRs, which look better over one stage (Wu et al.
// 2018); holding the LR until a change clearly pays leaves the decay to the
// cooldown.
double Hold(const v1::Stage& stage, const v1::JobConfig& c, double current_lr, double candidate);

// With raise_margin, the LR a later stage takes instead of `candidate`
// when it lies above the previous stage's (`current_lr`): `candidate` if its
// forecast is more than the margin (relative) below that LR's own probe's,
// else the choice among the probes at or below `current_lr`: the lowest
// forecast there, then TolerantChoice (whose tolerance still counts from
// the stage's best forecast, the rejected raise's included), at most
// `current_lr`. `candidate` unchanged when it is not above `current_lr` or
// either LR has no non-diverged probe.
double GuardRaise(const v1::Stage& stage, const v1::JobConfig& c, double current_lr,
                  double candidate);

// The LR the stage takes when the stage choice rule picked `chosen`: the
// tolerance rules (TolerantChoice), then raise_margin (GuardRaise), then
// hold_margin (Hold), in that order.
double RuledChoice(const v1::Stage& stage, const v1::JobConfig& c, double current_lr,
                   double chosen);

// The probe the stage would choose now under the lowest-predicted rule and
// RuledChoice: 1 + its index, 0 when every probe diverged.
int32_t ProbeChoice(const v1::Stage& stage, const v1::JobConfig& c, double current_lr);

// The forecast at `lr` on the straight lines joining the stage's
// non-diverged probes' forecasts over log10 LR: a probe's own forecast at
// its LR (the first such probe's); nullopt outside the probed range.
std::optional<double> InterpolatedForecast(const v1::Stage& stage, double lr);

// The probe `saved` (1 + its index, counting the stage's confirmations after
// its probes; JobState.saved_best_probe) of `stage`; nullptr for 0 or out of
// range.
const v1::Probe* SavedProbe(const v1::Stage& stage, int32_t saved);

}  // namespace autolrs::server

#endif  // AUTOLRS_SERVER_STAGE_CHOICE_H_
