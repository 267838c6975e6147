#ifndef AUTOLRS_SERVER_FIRST_STAGE_CONFIRMATION_H_
#define AUTOLRS_SERVER_FIRST_STAGE_CONFIRMATION_H_

#include <cstdint>
#include <optional>

#include "autolrs/v1/job.pb.h"

namespace autolrs::server {

// JobConfig.first_stage_confirmation: after the first stage's search, longer
// probes confirm its choice. From initialization, tau' steps favour large LRs
// that stall or collapse over tau steps (an LR cliff where the loss plateaus
// high without diverging). The confirmations probe the search's choice, then
// half a decade lower, and lower again while the lower LR forecasts better
// or ties;
// the stage trains with the best of them. Pure functions of the stage and the
// resolved config; thread-compatible.

// Most confirmation probes per job (the search's choice and three steps down).
inline constexpr int kMaxConfirmations = 4;
// Each step down divides the LR by 10^kConfirmationStepDecades.
inline constexpr double kConfirmationStepDecades = 0.5;
// A lower LR forecasting at most this fraction above the LR before it is a
// tie, and a tie steps down again: LRs past a cliff stall at one plateau.
inline constexpr double kConfirmationTie = 0.01;

// Steps of one confirmation probe of `stage`: round(first_stage_confirmation *
// tau'), at least tau' + 1 and at most tau.
int64_t ConfirmationSteps(const v1::Stage& stage, const v1::JobConfig& config);

// The LR of `stage`'s next confirmation probe, or nullopt when its
// confirmations are over: the last step down forecast worse than the LR
// before it by more than kConfirmationTie (or they do not apply: off, not the first stage, or the
// search chose nothing). `search_choice`: the LR the search chose (the first
// confirmation's). `steps_left`: the steps the stage may still spend; a
// confirmation runs only if it leaves half a stage for the exploitation.
std::optional<double> NextConfirmationLr(const v1::Stage& stage, const v1::JobConfig& config,
                                         double search_choice, int64_t steps_left);

// The confirmation with the lowest forecast (the earliest on ties), nullptr
// when there is none or all diverged.
const v1::Probe* BestConfirmation(const v1::Stage& stage);

}  // namespace autolrs::server

#endif  // AUTOLRS_SERVER_FIRST_STAGE_CONFIRMATION_H_
