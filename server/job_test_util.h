#ifndef AUTOLRS_SERVER_JOB_TEST_UTIL_H_
#define AUTOLRS_SERVER_JOB_TEST_UTIL_H_

#include <vector>

#include "autolrs/v1/job.pb.h"
#include "server/job.h"
#include "testing/synthetic_trainer.h"

namespace autolrs::server {

// A small, fast config: tau 100 doubling to 400, k = 4, seed 7, no
// first-stage confirmations.
v1::JobConfig SmallConfig();

// Job::Create that fails the test on error.
Job MustCreate(const v1::JobConfig& config, const char* id = "job");

// Reports `action` as run by `trainer` (rank 0) and returns the next action;
// fails the test unless the report is applied.
v1::Action Step(Job& job, const v1::Action& action, testing::SyntheticTrainer& trainer);

// Reports `action` (rank 0) with training loss `loss` at every step and
// validation loss `val` at every evaluation it asks for; returns the next
// action (an empty one, and the test fails, if the report is refused).
v1::Action Report(Job& job, const v1::Action& action, double loss, double val = 0);

// Runs the job until DONE or `max_actions`; returns every action issued.
std::vector<v1::Action> Drive(Job& job, testing::SyntheticTrainer& trainer, int max_actions);

}  // namespace autolrs::server

#endif  // AUTOLRS_SERVER_JOB_TEST_UTIL_H_
