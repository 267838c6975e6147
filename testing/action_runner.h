#ifndef AUTOLRS_TESTING_ACTION_RUNNER_H_
#define AUTOLRS_TESTING_ACTION_RUNNER_H_

#include <vector>

#include "autolrs/v1/job.pb.h"
#include "autolrs/v1/service.pb.h"
#include "testing/synthetic_trainer.h"

namespace autolrs::testing {

// Runs `action` on `trainer` exactly as a real trainer must (best-probe save,
// checkpoint op,
// the action's LR from the first step on, warmup ramp, evaluations after the
// listed steps) and returns the report of it for `worker_rank`. If `lrs` is
// given, the LR of every step is appended to it.
v1::ReportLossesRequest RunAction(const v1::Action& action, SyntheticTrainer& trainer,
                                  int worker_rank = 0, std::vector<double>* lrs = nullptr);

// The LR of step `i` (1-based) of `action`.
double StepLearningRate(const v1::Action& action, int64_t i);

}  // namespace autolrs::testing

#endif  // AUTOLRS_TESTING_ACTION_RUNNER_H_
