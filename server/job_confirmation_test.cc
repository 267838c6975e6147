// The first stage's confirmations (JobConfig.first_stage_confirmation)
// through the Job state machine.
#include <cmath>
#include <vector>

#include "gtest/gtest.h"
#include "server/first_stage_confirmation.h"
#include "server/job.h"
#include "server/job_test_util.h"

namespace autolrs::server {
namespace {

// A network with an LR cliff: above `cliff` the excess loss drops at once
// but stalls at 1.0 (training collapsed); below it the excess loss decays at
// rate lr per step toward 0.2. Over 10 steps the stalled LRs look best, over
// 40 the others win. Keeps the stage and best-probe checkpoints.
class CliffTrainer {
 public:
  explicit CliffTrainer(double cliff) : cliff_(cliff) {}

  v1::ReportLossesRequest Run(const v1::Action& action) {
    if (action.save_best()) best_ = g_;
    if (action.checkpoint() == v1::CHECKPOINT_OP_SAVE) saved_ = g_;
    if (action.checkpoint() == v1::CHECKPOINT_OP_RESTORE) g_ = saved_;
    if (action.checkpoint() == v1::CHECKPOINT_OP_RESTORE_BEST) g_ = best_;
    v1::ReportLossesRequest report;
    report.set_job_id(action.job_id());
    report.set_action_id(action.action_id());
    int next_eval = 0;
    for (int64_t i = 1; i <= action.steps(); ++i) {
      const double lr = action.phase() == v1::PHASE_COOLDOWN
                            ? action.lr() * (1 - double(i) / double(action.steps() + 1))
                            : action.lr();
      report.add_losses(0.1 + g_);
      if (lr > cliff_) {
        g_ = std::max(1.0, g_ * 0.5);
      } else {
        g_ = 0.2 + (g_ - 0.2) * (1 - std::min(0.5, lr));
      }
      if (next_eval < action.eval_steps_size() && action.eval_steps(next_eval) == i) {
        report.add_eval_losses(0.12 + g_);
        ++next_eval;
      }
    }
    return report;
  }

 private:
  const double cliff_;
  double g_ = 2.0, saved_ = 2.0, best_ = 2.0;
};

v1::JobConfig CliffConfig() {
  v1::JobConfig c;
  c.set_lr_min(1e-3);
  c.set_lr_max(1.0);
  c.set_tau_initial(100);  // tau' = 10, confirmations of 40 steps.
  c.set_tau_max(400);
  c.set_probes_per_stage(6);
  c.set_seed(3);
  c.set_total_steps(2000);
  c.set_first_stage_confirmation(4);
  return c;
}

// Drives `job` with `trainer` until the first stage's exploitation; returns
// every action up to and including it.
std::vector<v1::Action> UntilFirstExploit(Job& job, CliffTrainer& trainer) {
  std::vector<v1::Action> actions = {*job.NextAction(0)};
  while (actions.back().phase() == v1::PHASE_PROBE && actions.size() < 30) {
    bool changed = false;
    absl::StatusOr<v1::Action> next =
        job.ReportLosses(trainer.Run(actions.back()), absl::UnixEpoch(), &changed);
    EXPECT_TRUE(next.ok()) << next.status();
    if (!next.ok()) break;
    actions.push_back(*next);
  }
  return actions;
}

TEST(JobConfirmationTest, LongerProbesConfirmTheFirstChoice) {
  Job job = MustCreate(CliffConfig());
  CliffTrainer trainer(/*cliff=*/0.1);
  const std::vector<v1::Action> actions = UntilFirstExploit(job, trainer);
  const v1::Stage& stage = job.state().schedule().stages(0);
  ASSERT_EQ(stage.probes_size(), 6);
  ASSERT_GE(stage.confirmations_size(), 2);
  // The search fell for the cliff: its choice is above it.
  EXPECT_GT(stage.confirmations(0).lr(), 0.1);
  for (int i = 0; i < stage.confirmations_size(); ++i) {
    const v1::Action& a = actions[stage.probes_size() + i];
    EXPECT_EQ(a.phase(), v1::PHASE_PROBE);
    EXPECT_TRUE(a.confirmation());
    EXPECT_EQ(a.checkpoint(), v1::CHECKPOINT_OP_RESTORE);
    EXPECT_EQ(a.steps(), 40);
    EXPECT_EQ(a.probe_index(), stage.probes_size() + i);
    EXPECT_EQ(a.lr(), stage.confirmations(i).lr());
    if (i > 0) {
      EXPECT_NEAR(std::log10(stage.confirmations(i - 1).lr() / a.lr()), 0.5, 1e-9);
    }
  }
  // The longer probes saw the stall: the stage trains below the cliff.
  EXPECT_LT(stage.chosen_lr(), 0.1);
  EXPECT_EQ(stage.chosen_lr(), BestConfirmation(stage)->lr());
  EXPECT_EQ(stage.chosen_predicted_loss(), BestConfirmation(stage)->predicted_loss());
  EXPECT_EQ(actions.back().phase(), v1::PHASE_EXPLOIT);
  EXPECT_EQ(actions.back().lr(), stage.chosen_lr());
  EXPECT_EQ(actions.back().checkpoint(), v1::CHECKPOINT_OP_RESTORE);
  EXPECT_EQ(actions.back().steps(), 100);
}

TEST(JobConfirmationTest, WithoutConfirmationsTheSearchChoiceFallsOffTheCliff) {
  v1::JobConfig c = CliffConfig();
  c.set_first_stage_confirmation(0);
  Job job = MustCreate(c);
  CliffTrainer trainer(0.1);
  const std::vector<v1::Action> actions = UntilFirstExploit(job, trainer);
  const v1::Stage& stage = job.state().schedule().stages(0);
  EXPECT_EQ(stage.confirmations_size(), 0);
  EXPECT_GT(stage.chosen_lr(), 0.1);
  EXPECT_EQ(actions.back().phase(), v1::PHASE_EXPLOIT);
}

TEST(JobConfirmationTest, ReuseBestProbeContinuesFromTheBestConfirmation) {
  v1::JobConfig c = CliffConfig();
  c.set_reuse_best_probe(true);
  Job job = MustCreate(c);
  CliffTrainer trainer(0.1);
  const std::vector<v1::Action> actions = UntilFirstExploit(job, trainer);
  const v1::Stage& stage = job.state().schedule().stages(0);
  ASSERT_GE(stage.confirmations_size(), 2);
  const v1::Probe* best = BestConfirmation(stage);
  ASSERT_NE(best, nullptr);
  // The action after the best confirmation told the trainer to keep it.
  int best_index = 0;
  while (&stage.confirmations(best_index) != best) ++best_index;
  EXPECT_TRUE(actions[stage.probes_size() + best_index + 1].save_best());
  const v1::Action& exploit = actions.back();
  ASSERT_EQ(exploit.phase(), v1::PHASE_EXPLOIT);
  EXPECT_EQ(exploit.checkpoint(), v1::CHECKPOINT_OP_RESTORE_BEST);
  EXPECT_EQ(exploit.steps(), 100 - 40);
  const int64_t model_steps_before = job.job().model_steps();
  bool changed = false;
  ASSERT_TRUE(job.ReportLosses(trainer.Run(exploit), absl::UnixEpoch(), &changed).ok());
  EXPECT_TRUE(stage.continued_from_probe());
  EXPECT_EQ(job.job().model_steps(), model_steps_before + 100);
}

TEST(JobConfirmationTest, OffByDefaultAndNeverInLaterStages) {
  v1::JobConfig c = CliffConfig();
  c.clear_first_stage_confirmation();
  c.set_preset(v1::PRESET_REFERENCE);
  c.set_probes_per_stage(4);
  Job reference = MustCreate(c);
  EXPECT_EQ(reference.job().config().first_stage_confirmation(), 0);
  c.set_preset(v1::PRESET_RECOMMENDED);
  EXPECT_EQ(MustCreate(c).job().config().first_stage_confirmation(), 0);

  Job job = MustCreate(CliffConfig());
  CliffTrainer trainer(0.1);
  v1::Action action = *job.NextAction(0);
  for (int i = 0; i < 60 && action.phase() != v1::PHASE_DONE; ++i) {
    EXPECT_TRUE(!action.confirmation() || action.stage() == 0);
    bool changed = false;
    action = *job.ReportLosses(trainer.Run(action), absl::UnixEpoch(), &changed);
  }
  EXPECT_EQ(action.phase(), v1::PHASE_DONE);
  EXPECT_EQ(job.job().steps_spent(), 2000);
  for (const v1::Stage& s : job.state().schedule().stages()) {
    if (s.index() > 0) {
      EXPECT_EQ(s.confirmations_size(), 0);
    }
  }
}

TEST(JobConfirmationTest, ATightBudgetSkipsTheConfirmations) {
  v1::JobConfig c = CliffConfig();
  // Stage 0's search spends 60; a 40-step confirmation must leave 50.
  c.set_total_steps(140);
  c.set_cooldown_fraction(0);
  Job job = MustCreate(c);
  CliffTrainer trainer(0.1);
  const std::vector<v1::Action> actions = UntilFirstExploit(job, trainer);
  EXPECT_EQ(job.state().schedule().stages(0).confirmations_size(), 0);
  EXPECT_EQ(actions.back().phase(), v1::PHASE_EXPLOIT);
  EXPECT_EQ(actions.back().steps(), 80);
}

}  // namespace
}  // namespace autolrs::server
