// JobConfig.overfit_guard: the main line's validation loss may not rise from
// one stage (or the cooldown) to the next; on hand-made loss series.
#include <cstdint>
#include <cmath>

#include "gtest/gtest.h"
#include "server/job.h"
#include "server/job_test_util.h"

namespace autolrs::server {
namespace {

// Probes report 1.0 (stage 0: decreasing in the LR, so that it picks a large
// one), until the stage's EXPLOIT, which is returned.
v1::Action ProbeUntilExploit(Job& job, v1::Action a) {
  while (a.phase() == v1::PHASE_PROBE) {
    EXPECT_EQ(a.eval_steps_size(), 0);  // The objective is the training loss.
    a = Report(job, a, a.stage() == 0 ? 2.0 - 0.1 * std::log10(a.lr()) : 1.0, 0);
  }
  return a;
}

// Small stages; exploit_guard off, so that only overfit_guard rolls back.
v1::JobConfig GuardConfig(double guard, int64_t total_steps) {
  v1::JobConfig c = SmallConfig();
  c.set_overfit_guard(guard);
  c.set_exploit_guard(0);
  c.set_choice_tolerance(0);
  c.set_total_steps(total_steps);
  return c;
}

TEST(JobOverfitTest, RollsBackAStageWhoseValidationLossRoseAndRetriesLower) {
  Job job = MustCreate(GuardConfig(0.01, 0));
  v1::Action a = ProbeUntilExploit(job, *job.NextAction(0));
  ASSERT_EQ(a.phase(), v1::PHASE_EXPLOIT);
  // Every exploitation asks for the validation loss after its last step.
  ASSERT_EQ(a.eval_steps_size(), 1);
  EXPECT_EQ(a.eval_steps(0), a.steps());
  a = ProbeUntilExploit(job, Report(job, a, 1.0, 0.5));
  ASSERT_EQ(a.stage(), 1);
  ASSERT_EQ(a.phase(), v1::PHASE_EXPLOIT);
  const double failed = a.lr();
  const int64_t model_steps = job.job().model_steps();
  // Stage 1 ends with validation loss 0.6 > 0.5 * 1.01: it overfit.
  const v1::Action retry = Report(job, a, 0.8, 0.6);
  ASSERT_EQ(retry.phase(), v1::PHASE_EXPLOIT);
  EXPECT_EQ(retry.stage(), 1);
  EXPECT_EQ(retry.checkpoint(), v1::CHECKPOINT_OP_RESTORE);
  EXPECT_LT(retry.lr(), failed);
  const v1::Stage& stage = job.state().schedule().stages(1);
  ASSERT_EQ(stage.rolled_back_lrs_size(), 1);
  EXPECT_EQ(stage.rolled_back_lrs(0), failed);
  EXPECT_EQ(stage.validation_loss().count(), 0);
  EXPECT_EQ(job.job().model_steps(), model_steps);
  // Within 1% of the checkpoint's 0.5: kept.
  const v1::Action next = Report(job, retry, 0.8, 0.504);
  EXPECT_EQ(next.stage(), 2);
  EXPECT_EQ(job.job().current_lr(), retry.lr());
  EXPECT_EQ(job.state().schedule().stages(1).validation_loss().last(), 0.504);
}

TEST(JobOverfitTest, OffAsksForNoValidationAndKeepsAStageThatOverfit) {
  Job job = MustCreate(GuardConfig(0, 600));
  v1::Action a = ProbeUntilExploit(job, *job.NextAction(0));
  EXPECT_EQ(a.eval_steps_size(), 0);
  a = Report(job, a, 1.0, 0);
  // 160 steps are left before the cooldown: stage 1 cannot pay for a search
  // and continues without a checkpoint of its own.
  ASSERT_EQ(a.phase(), v1::PHASE_EXPLOIT);
  EXPECT_TRUE(job.state().schedule().stages(1).search_skipped());
  EXPECT_EQ(a.checkpoint(), v1::CHECKPOINT_OP_NONE);
  a = Report(job, a, 1.0, 0);
  ASSERT_EQ(a.phase(), v1::PHASE_COOLDOWN);
  EXPECT_EQ(a.checkpoint(), v1::CHECKPOINT_OP_NONE);
  EXPECT_EQ(a.eval_steps_size(), 0);
  a = Report(job, a, 1.0, 0);
  EXPECT_EQ(a.phase(), v1::PHASE_DONE);
  EXPECT_EQ(a.checkpoint(), v1::CHECKPOINT_OP_NONE);
}

// Runs a job of 600 steps (stage 0: 140, stage 1 without a search: 160,
// cooldown: 300) with the guard on; stage 0 ends at validation loss 0.5,
// stage 1 at `stage1_val`; returns the action after stage 1.
v1::Action RunToCooldown(Job& job, double stage1_val) {
  v1::Action a = ProbeUntilExploit(job, *job.NextAction(0));
  a = Report(job, a, 1.0, 0.5);
  EXPECT_EQ(a.phase(), v1::PHASE_EXPLOIT);
  EXPECT_TRUE(job.state().schedule().stages(1).search_skipped());
  // Without a search the stage has no checkpoint yet: the guard saves one.
  EXPECT_EQ(a.checkpoint(), v1::CHECKPOINT_OP_SAVE);
  EXPECT_EQ(a.steps(), 160);
  return Report(job, a, 0.9, stage1_val);
}

TEST(JobOverfitTest, KeepsTheCooldownWhenItsValidationLossFell) {
  Job job = MustCreate(GuardConfig(0.01, 600));
  v1::Action a = RunToCooldown(job, 0.45);
  ASSERT_EQ(a.phase(), v1::PHASE_COOLDOWN);
  // The main line is saved first, and evaluated at the end.
  EXPECT_EQ(a.checkpoint(), v1::CHECKPOINT_OP_SAVE);
  ASSERT_EQ(a.eval_steps_size(), 1);
  EXPECT_EQ(a.eval_steps(0), 300);
  a = Report(job, a, 0.7, 0.40);
  EXPECT_EQ(a.phase(), v1::PHASE_DONE);
  EXPECT_EQ(a.checkpoint(), v1::CHECKPOINT_OP_NONE);
  EXPECT_FALSE(job.state().schedule().cooldown_rolled_back());
  EXPECT_EQ(job.job().model_steps(), 100 + 160 + 300);
}

TEST(JobOverfitTest, GoesBackToTheStateBeforeACooldownThatOverfit) {
  Job job = MustCreate(GuardConfig(0.01, 600));
  v1::Action a = RunToCooldown(job, 0.45);
  ASSERT_EQ(a.phase(), v1::PHASE_COOLDOWN);
  a = Report(job, a, 0.3, 0.46);  // 0.46 > 0.45 * 1.01
  EXPECT_EQ(a.phase(), v1::PHASE_DONE);
  EXPECT_EQ(a.checkpoint(), v1::CHECKPOINT_OP_RESTORE);
  EXPECT_TRUE(job.state().schedule().cooldown_rolled_back());
  EXPECT_EQ(job.job().model_steps(), 100 + 160);
  EXPECT_EQ(job.job().steps_spent(), 600);
}

TEST(JobOverfitTest, CoolsDownFromTheLastStagesCheckpointWhenThatStageOverfit) {
  Job job = MustCreate(GuardConfig(0.01, 600));
  const double stage1_lr = [&] {
    v1::Action a = ProbeUntilExploit(job, *job.NextAction(0));
    return a.lr();  // Stage 1, without a search, keeps stage 0's LR.
  }();
  Job fresh = MustCreate(GuardConfig(0.01, 600));
  v1::Action a = RunToCooldown(fresh, 0.6);
  // No steps are left to retry stage 1: the cooldown restores its
  // checkpoint and decays from a decade lower (stage 1 probed nothing).
  ASSERT_EQ(a.phase(), v1::PHASE_COOLDOWN);
  EXPECT_EQ(a.checkpoint(), v1::CHECKPOINT_OP_RESTORE);
  EXPECT_DOUBLE_EQ(a.lr_ramp_start(), stage1_lr / 10);
  const v1::Stage& stage = fresh.state().schedule().stages(1);
  ASSERT_EQ(stage.rolled_back_lrs_size(), 1);
  EXPECT_EQ(stage.rolled_back_lrs(0), stage1_lr);
  EXPECT_EQ(fresh.job().model_steps(), 100);
  // The cooldown is compared with stage 0's end, where it started.
  a = Report(fresh, a, 0.7, 0.49);
  EXPECT_EQ(a.phase(), v1::PHASE_DONE);
  EXPECT_EQ(a.checkpoint(), v1::CHECKPOINT_OP_NONE);
  EXPECT_EQ(fresh.job().model_steps(), 100 + 300);
}

}  // namespace
}  // namespace autolrs::server
