#include "server/job_test_util.h"

#include "gtest/gtest.h"
#include "testing/action_runner.h"

namespace autolrs::server {

v1::JobConfig SmallConfig() {
  v1::JobConfig c;
  c.set_lr_min(1e-3);
  c.set_lr_max(1.0);
  c.set_tau_initial(100);
  c.set_tau_max(400);
  c.set_probes_per_stage(4);
  c.set_seed(7);
  // Tests of the first stage's search see its choice exploited directly;
  // job_confirmation_test covers the confirmations.
  c.set_first_stage_confirmation(0);
  // Tests of the protocol's shape report no validation losses where the
  // training loss is the objective; job_overfit_test covers the guard.
  c.set_overfit_guard(0);
  return c;
}

Job MustCreate(const v1::JobConfig& config, const char* id) {
  absl::StatusOr<Job> job = Job::Create(id, config);
  EXPECT_TRUE(job.ok()) << job.status();
  return *std::move(job);
}

v1::Action Step(Job& job, const v1::Action& action, testing::SyntheticTrainer& trainer) {
  bool changed = false;
  absl::StatusOr<v1::Action> next =
      job.ReportLosses(testing::RunAction(action, trainer), absl::UnixEpoch(), &changed);
  EXPECT_TRUE(next.ok()) << next.status();
  EXPECT_TRUE(changed);
  return next.ok() ? *next : v1::Action();
}

v1::Action Report(Job& job, const v1::Action& action, double loss, double val) {
  v1::ReportLossesRequest r;
  r.set_action_id(action.action_id());
  for (int64_t i = 0; i < action.steps(); ++i) r.add_losses(loss);
  for (int i = 0; i < action.eval_steps_size(); ++i) r.add_eval_losses(val);
  bool changed = false;
  absl::StatusOr<v1::Action> next = job.ReportLosses(r, absl::UnixEpoch(), &changed);
  EXPECT_TRUE(next.ok()) << next.status();
  return next.ok() ? *next : v1::Action();
}

std::vector<v1::Action> Drive(Job& job, testing::SyntheticTrainer& trainer, int max_actions) {
  std::vector<v1::Action> actions;
  v1::Action action = *job.NextAction(0);
  while (action.phase() != v1::PHASE_DONE && actions.size() < max_actions) {
    actions.push_back(action);
    action = Step(job, action, trainer);
    if (action.phase() == v1::PHASE_UNSPECIFIED) break;  // Step failed.
  }
  if (action.phase() == v1::PHASE_DONE) actions.push_back(action);
  return actions;
}

}  // namespace autolrs::server
