#include "server/job.h"

#include <cmath>
#include <limits>
#include <set>
#include <vector>

#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "server/job_test_util.h"
#include "testing/action_runner.h"
#include "testing/synthetic_trainer.h"

namespace autolrs::server {
namespace {

using autolrs::testing::RunAction;
using autolrs::testing::SyntheticTrainer;

TEST(JobTest, ReferenceDefaultsGiveDoublingStagesAndSwitchToValidationAfterTauMax) {
  v1::JobConfig c;
  c.set_lr_min(1e-3);
  c.set_lr_max(1.0);
  c.set_preset(v1::PRESET_REFERENCE);
  Job job = MustCreate(c);
  EXPECT_EQ(job.job().config().tau_initial(), 1000);
  EXPECT_EQ(job.job().config().tau_max(), 8000);
  EXPECT_EQ(job.job().config().probes_per_stage(), 10);
  EXPECT_EQ(job.job().config().forecaster(), v1::FORECASTER_REFERENCE_EXPONENTIAL);
  EXPECT_EQ(job.job().config().kappa(), 1e6);
  SyntheticTrainer trainer(1);
  // 5 stages of 10 probes + 1 exploit.
  std::vector<v1::Action> actions = Drive(job, trainer, 55);
  ASSERT_EQ(actions.size(), 55u);
  const int64_t taus[] = {1000, 2000, 4000, 8000, 8000};
  for (int s = 0; s < 5; ++s) {
    SCOPED_TRACE(s);
    for (int p = 0; p < 10; ++p) {
      const v1::Action& probe = actions[s * 11 + p];
      EXPECT_EQ(probe.phase(), v1::PHASE_PROBE);
      EXPECT_EQ(probe.stage(), s);
      EXPECT_EQ(probe.probe_index(), p);
      EXPECT_EQ(probe.steps(), taus[s] / 10);
      EXPECT_EQ(probe.checkpoint(), p == 0 ? v1::CHECKPOINT_OP_SAVE : v1::CHECKPOINT_OP_RESTORE);
      // Validation loss only after the first stage at tau_max: every tau'/16 steps.
      EXPECT_EQ(probe.eval_steps_size(), s == 4 ? 16 : 0);
      if (s == 4) {
        EXPECT_EQ(probe.eval_steps(0), 50);
        EXPECT_EQ(probe.eval_steps(15), 800);
      }
    }
    const v1::Action& exploit = actions[s * 11 + 10];
    EXPECT_EQ(exploit.phase(), v1::PHASE_EXPLOIT);
    EXPECT_EQ(exploit.checkpoint(), v1::CHECKPOINT_OP_RESTORE);
    EXPECT_EQ(exploit.steps(), taus[s]);
  }
  const v1::Schedule& schedule = job.state().schedule();
  ASSERT_EQ(schedule.stages_size(), 6);  // The sixth has just started.
  EXPECT_EQ(schedule.stages(3).objective(), v1::OBJECTIVE_TRAINING_LOSS);
  EXPECT_EQ(schedule.stages(4).objective(), v1::OBJECTIVE_VALIDATION_LOSS);
  EXPECT_EQ(schedule.stages(4).validation_loss().count(), 1);
  EXPECT_EQ(job.job().model_steps(), 1000 + 2000 + 4000 + 8000 + 8000);
  EXPECT_EQ(job.job().steps_spent(), 2 * (1000 + 2000 + 4000 + 8000 + 8000));
}

TEST(JobTest, AfterFirstStageSwitchJudgesLaterStagesByValidationLoss) {
  v1::JobConfig c = SmallConfig();
  c.set_objective_switch(v1::OBJECTIVE_SWITCH_AFTER_FIRST_STAGE);
  c.set_eval_points_per_probe(4);
  Job job = MustCreate(c);
  SyntheticTrainer trainer(3);
  // Stage 0: 4 probes and an exploitation; stage 1: 4 probes.
  const std::vector<v1::Action> actions = Drive(job, trainer, 9);
  ASSERT_EQ(actions.size(), 9u);
  for (int p = 0; p < 4; ++p) {
    EXPECT_EQ(actions[p].stage(), 0);
    EXPECT_EQ(actions[p].eval_steps_size(), 0) << p;
  }
  for (int p = 5; p < 9; ++p) {
    ASSERT_EQ(actions[p].phase(), v1::PHASE_PROBE);
    EXPECT_EQ(actions[p].stage(), 1);
    // Every tau'/4 steps of the 20-step probes of stage 1 (tau 200).
    EXPECT_EQ(std::vector<int64_t>(actions[p].eval_steps().begin(), actions[p].eval_steps().end()),
              (std::vector<int64_t>{5, 10, 15, 20}))
        << p;
  }
  const v1::Schedule& schedule = job.state().schedule();
  EXPECT_EQ(schedule.stages(0).objective(), v1::OBJECTIVE_TRAINING_LOSS);
  EXPECT_EQ(schedule.stages(1).objective(), v1::OBJECTIVE_VALIDATION_LOSS);
  // Stage 1's probes are forecast from their validation losses.
  for (const v1::Probe& p : schedule.stages(1).probes()) {
    EXPECT_EQ(p.validation_loss().count(), 4) << p.lr();
  }
}

TEST(JobTest, EveryProbeStatesItsLrAndStageChoosesTheLowestPrediction) {
  Job job = MustCreate(SmallConfig());
  SyntheticTrainer trainer(2);
  std::vector<v1::Action> actions = Drive(job, trainer, 5);
  std::set<double> lrs;
  for (int p = 0; p < 4; ++p) {
    EXPECT_GE(actions[p].lr(), 1e-3);
    EXPECT_LE(actions[p].lr(), 1.0);
    EXPECT_TRUE(lrs.insert(actions[p].lr()).second) << "LR probed twice";
    // Recommended preset: probes 1/(4k) of the 3-decade interval apart.
    for (int q = 0; q < p; ++q) {
      EXPECT_GE(std::abs(std::log10(actions[p].lr() / actions[q].lr())), 3.0 / 16 - 1e-9);
    }
  }
  const v1::Stage& stage = job.state().schedule().stages(0);
  ASSERT_EQ(stage.probes_size(), 4);
  const v1::Probe* best = nullptr;
  for (const v1::Probe& p : stage.probes()) {
    if (!p.diverged() && (best == nullptr || p.predicted_loss() < best->predicted_loss()))
      best = &p;
  }
  ASSERT_NE(best, nullptr);
  EXPECT_EQ(stage.chosen_lr(), best->lr());
  EXPECT_EQ(actions[4].phase(), v1::PHASE_EXPLOIT);
  EXPECT_EQ(actions[4].lr(), best->lr());
}

TEST(JobTest, WarmupRampsThenStartsTheFirstStage) {
  v1::JobConfig c = SmallConfig();
  c.set_warmup_steps(50);
  c.set_warmup_lr(0.1);
  Job job = MustCreate(c);
  const v1::Action warmup = *job.NextAction(0);
  EXPECT_EQ(warmup.phase(), v1::PHASE_WARMUP);
  EXPECT_EQ(warmup.stage(), -1);
  EXPECT_EQ(warmup.steps(), 50);
  EXPECT_EQ(warmup.checkpoint(), v1::CHECKPOINT_OP_NONE);
  EXPECT_DOUBLE_EQ(autolrs::testing::StepLearningRate(warmup, 1), 0.002);
  EXPECT_DOUBLE_EQ(autolrs::testing::StepLearningRate(warmup, 50), 0.1);
  SyntheticTrainer trainer(3);
  const v1::Action first = Step(job, warmup, trainer);
  EXPECT_EQ(first.phase(), v1::PHASE_PROBE);
  EXPECT_EQ(first.checkpoint(), v1::CHECKPOINT_OP_SAVE);
  EXPECT_EQ(job.job().model_steps(), 50);
  EXPECT_EQ(job.state().schedule().warmup_steps(), 50);
}

TEST(JobTest, TotalStepsEndsTheJobExactlyAtTheBudget) {
  v1::JobConfig c = SmallConfig();
  c.set_total_steps(1234);
  Job job = MustCreate(c);
  SyntheticTrainer trainer(4);
  std::vector<v1::Action> actions = Drive(job, trainer, 1000);
  ASSERT_EQ(actions.back().phase(), v1::PHASE_DONE);
  int64_t spent = 0;
  for (const v1::Action& a : actions) spent += a.steps();
  EXPECT_EQ(spent, 1234);
  EXPECT_EQ(job.job().steps_spent(), 1234);
  EXPECT_EQ(job.job().state(), v1::JOB_STATE_DONE);
  EXPECT_EQ(job.NextAction(0)->phase(), v1::PHASE_DONE);
  bool changed = true;
  v1::ReportLossesRequest late;
  late.set_action_id(actions.back().action_id());
  EXPECT_TRUE(
      absl::IsFailedPrecondition(job.ReportLosses(late, absl::UnixEpoch(), &changed).status()));
  EXPECT_FALSE(changed);
}

TEST(JobTest, SearchIsSkippedWhenTheBudgetCannotPayForIt) {
  v1::JobConfig c = SmallConfig();
  // Stage 0: 4 probes x 10 + 100; stage 1 would need 4 x 20 probe steps.
  c.set_total_steps(140 + 60);
  c.set_cooldown_fraction(0);
  Job job = MustCreate(c);
  SyntheticTrainer trainer(5);
  std::vector<v1::Action> actions = Drive(job, trainer, 100);
  ASSERT_EQ(actions.size(), 7u);  // 4 probes, exploit, exploit without search, DONE.
  EXPECT_EQ(actions[5].phase(), v1::PHASE_EXPLOIT);
  EXPECT_EQ(actions[5].checkpoint(), v1::CHECKPOINT_OP_NONE);
  EXPECT_EQ(actions[5].steps(), 60);
  EXPECT_EQ(actions[5].lr(), actions[4].lr());
  EXPECT_TRUE(job.state().schedule().stages(1).search_skipped());
}

TEST(JobTest, DivergedProbesArePenalizedAndNeverChosen) {
  v1::JobConfig c = SmallConfig();
  c.set_probes_per_stage(10);
  Job job = MustCreate(c);
  SyntheticTrainer trainer(6, /*divergence_lr=*/0.05);
  Drive(job, trainer, 11);
  const v1::Stage& stage = job.state().schedule().stages(0);
  int diverged = 0;
  for (const v1::Probe& p : stage.probes()) {
    EXPECT_EQ(p.diverged(), p.lr() > 0.05) << p.lr();
    diverged += p.diverged();
    if (p.diverged()) {
      EXPECT_TRUE(p.training_loss().non_finite());
    }
  }
  EXPECT_GT(diverged, 0);
  EXPECT_LE(stage.chosen_lr(), 0.05);
}

TEST(JobTest, ExplodingFiniteLossesCountAsDivergedUnlessTheFactorIsOff) {
  for (const bool reference : {false, true}) {
    SCOPED_TRACE(reference);
    v1::JobConfig c = SmallConfig();
    if (reference) c.set_preset(v1::PRESET_REFERENCE);
    Job job = MustCreate(c);
    v1::Action action = *job.NextAction(0);
    for (int p = 0; p < 2; ++p) {
      v1::ReportLossesRequest report;
      report.set_action_id(action.action_id());
      // Probe 0 descends from 1.0; probe 1 climbs to 5x the checkpoint loss.
      for (int i = 0; i < action.steps(); ++i) {
        report.add_losses(p == 0 ? 1.0 - 0.01 * i : 1.0 + 0.5 * i);
      }
      bool changed = false;
      action = *job.ReportLosses(report, absl::UnixEpoch(), &changed);
    }
    const v1::Stage& stage = job.state().schedule().stages(0);
    EXPECT_FALSE(stage.probes(0).diverged());
    EXPECT_EQ(stage.probes(1).diverged(), !reference);
  }
}

TEST(JobTest, LaterStagesStayBelowLrsThatDiverged) {
  v1::JobConfig c = SmallConfig();
  c.set_probes_per_stage(8);
  Job job = MustCreate(c);
  SyntheticTrainer trainer(11, /*divergence_lr=*/0.05);
  Drive(job, trainer, 3 * 9);
  const v1::Schedule& schedule = job.state().schedule();
  double smallest_diverged = std::numeric_limits<double>::infinity();
  for (const v1::Probe& p : schedule.stages(0).probes()) {
    if (p.diverged()) smallest_diverged = std::min(smallest_diverged, p.lr());
  }
  ASSERT_TRUE(std::isfinite(smallest_diverged)) << schedule.stages(0).DebugString();
  // Every later probe stays below every LR that diverged before it.
  for (int s = 1; s < 3; ++s) {
    for (const v1::Probe& p : schedule.stages(s).probes()) {
      EXPECT_LT(p.lr(), smallest_diverged) << "stage " << s;
    }
    for (const v1::Probe& p : schedule.stages(s).probes()) {
      if (p.diverged()) smallest_diverged = std::min(smallest_diverged, p.lr());
    }
  }
}

TEST(JobTest, WarmStartProbesThePreviousChoiceFirst) {
  for (const bool reference : {false, true}) {
    SCOPED_TRACE(reference);
    v1::JobConfig c = SmallConfig();
    if (reference) c.set_preset(v1::PRESET_REFERENCE);
    Job job = MustCreate(c);
    SyntheticTrainer trainer(12);
    std::vector<v1::Action> actions = Drive(job, trainer, 6);
    ASSERT_EQ(actions[4].phase(), v1::PHASE_EXPLOIT);
    ASSERT_EQ(actions[5].phase(), v1::PHASE_PROBE);
    EXPECT_EQ(actions[5].checkpoint(), v1::CHECKPOINT_OP_SAVE);
    EXPECT_EQ(actions[5].lr() == actions[4].lr(), !reference);
  }
}

TEST(JobTest, SearchEndsEarlyOnlyWhenAllowedAndLittleIsLeftToGain) {
  for (const int min_probes : {8, 3}) {
    SCOPED_TRACE(min_probes);
    v1::JobConfig c = SmallConfig();
    c.set_probes_per_stage(8);
    c.set_min_probes_per_stage(min_probes);
    c.set_early_stop_gain(0.5);  // Any realistic gain is below 50%.
    Job job = MustCreate(c);
    SyntheticTrainer trainer(13);
    std::vector<v1::Action> actions = Drive(job, trainer, min_probes + 1);
    EXPECT_EQ(actions.back().phase(), v1::PHASE_EXPLOIT);
    const v1::Stage& stage = job.state().schedule().stages(0);
    EXPECT_EQ(stage.probes_size(), min_probes);
    EXPECT_EQ(stage.search_stopped_early(), min_probes < 8);
  }
}

TEST(JobTest, ReuseBestProbeContinuesFromTheChosenProbe) {
  v1::JobConfig c = SmallConfig();
  c.set_reuse_best_probe(true);
  // The lowest forecast alone chooses (the tolerance rules with
  // reuse_best_probe: job_robustness_test).
  c.set_choice_tolerance(0);
  c.set_first_stage_choice_tolerance(0);
  Job job = MustCreate(c);
  SyntheticTrainer trainer(14);
  std::vector<v1::Action> actions = Drive(job, trainer, 5);
  const v1::Stage& stage = job.state().schedule().stages(0);
  // Every probe that was the best so far is saved by the action after it.
  double best = std::numeric_limits<double>::infinity();
  int best_index = -1;
  for (int p = 0; p < 4; ++p) {
    const bool new_best = !stage.probes(p).diverged() && stage.probes(p).predicted_loss() < best;
    if (new_best) best = stage.probes(p).predicted_loss(), best_index = p;
    EXPECT_EQ(actions[p + 1].save_best(), new_best) << p;
  }
  ASSERT_GE(best_index, 0);
  const v1::Action& exploit = actions[4];
  EXPECT_EQ(exploit.phase(), v1::PHASE_EXPLOIT);
  EXPECT_EQ(exploit.checkpoint(), v1::CHECKPOINT_OP_RESTORE_BEST);
  EXPECT_EQ(exploit.lr(), stage.probes(best_index).lr());
  EXPECT_EQ(exploit.steps(), 100 - 10);
  EXPECT_TRUE(stage.continued_from_probe());
  // The next stage starts from the exploit's end (Drive reported it): the
  // chosen probe's 10 steps and the exploit's 90 are the model's path.
  const v1::Action next = *job.NextAction(0);
  EXPECT_EQ(next.checkpoint(), v1::CHECKPOINT_OP_SAVE);
  EXPECT_EQ(job.job().model_steps(), 100);
  EXPECT_EQ(job.job().steps_spent(), 4 * 10 + 90);
}

TEST(JobTest, CooldownDecaysTheLastLrTowardZeroOverTheBudgetsLastSteps) {
  v1::JobConfig c = SmallConfig();
  c.set_total_steps(1000);
  c.set_cooldown_fraction(0.2);
  Job job = MustCreate(c);
  SyntheticTrainer trainer(15);
  std::vector<v1::Action> actions = Drive(job, trainer, 1000);
  ASSERT_GE(actions.size(), 3u);
  ASSERT_EQ(actions.back().phase(), v1::PHASE_DONE);
  const v1::Action& cooldown = actions[actions.size() - 2];
  ASSERT_EQ(cooldown.phase(), v1::PHASE_COOLDOWN);
  EXPECT_EQ(cooldown.steps(), 200);
  EXPECT_EQ(cooldown.steps_spent(), 800);
  EXPECT_EQ(cooldown.checkpoint(), v1::CHECKPOINT_OP_NONE);
  // The line reaches 0 one step after the last: no step trains at LR 0.
  EXPECT_DOUBLE_EQ(cooldown.lr(), cooldown.lr_ramp_start() / 201);
  const v1::Schedule& schedule = job.state().schedule();
  const v1::Stage& last = schedule.stages(schedule.stages_size() - 1);
  EXPECT_EQ(cooldown.lr_ramp_start(), last.chosen_lr());
  EXPECT_EQ(cooldown.lr_ramp_start(), job.job().current_lr());
  EXPECT_EQ(schedule.cooldown_steps(), 200);
  EXPECT_EQ(schedule.cooldown_lr(), last.chosen_lr());
  EXPECT_EQ(schedule.cooldown_training_loss().count(), 200);
  // Stages spent exactly the other 800 steps; the cooldown continues the main
  // line, so its steps are model steps.
  EXPECT_EQ(job.job().steps_spent(), 1000);
  const int64_t before = job.job().model_steps();
  EXPECT_GE(before, 200);
  std::vector<double> lrs;
  SyntheticTrainer replay(15);
  RunAction(cooldown, replay, 0, &lrs);
  ASSERT_EQ(lrs.size(), 200u);
  EXPECT_DOUBLE_EQ(lrs[0], cooldown.lr_ramp_start() * 200 / 201);
  EXPECT_DOUBLE_EQ(lrs[99], cooldown.lr_ramp_start() * 101 / 201);
  EXPECT_NEAR(lrs[199], cooldown.lr_ramp_start() / 201, 1e-12 * cooldown.lr_ramp_start());
  EXPECT_GT(lrs[199], 0);
}

TEST(JobTest, LaterStagesSearchAroundThePreviousChoiceWithTheirOwnK) {
  v1::JobConfig c = SmallConfig();
  c.set_probes_per_stage(6);
  c.set_later_stage_probes(3);
  c.set_search_radius(0.5);
  Job job = MustCreate(c);
  SyntheticTrainer trainer(16);
  // Stage 0: 6 probes + exploit; stages 1 and 2: 3 probes + exploit each.
  std::vector<v1::Action> actions = Drive(job, trainer, 7 + 4 + 4);
  ASSERT_EQ(actions.back().phase(), v1::PHASE_EXPLOIT);
  const v1::Schedule& schedule = job.state().schedule();
  ASSERT_EQ(schedule.stages_size(), 4);  // Reporting stage 2's exploit began stage 3.
  EXPECT_EQ(schedule.stages(0).probes_size(), 6);
  for (int s = 1; s < 3; ++s) {
    SCOPED_TRACE(s);
    EXPECT_EQ(schedule.stages(s).probes_size(), 3);
    const double previous = schedule.stages(s - 1).chosen_lr();
    for (const v1::Probe& p : schedule.stages(s).probes()) {
      EXPECT_LE(std::abs(std::log10(p.lr() / previous)), 0.5 + 1e-9) << p.lr();
      EXPECT_GE(p.lr(), c.lr_min());
    }
  }
}

TEST(JobTest, AConfigStoredBeforeLaterStageProbesUsesKInEveryStage) {
  v1::JobConfig c = SmallConfig();
  c.set_probes_per_stage(5);
  Job created = MustCreate(c);
  JobState stored = created.state();
  stored.mutable_job()->mutable_config()->clear_later_stage_probes();
  absl::StatusOr<Job> job = Job::FromState(stored);
  ASSERT_TRUE(job.ok()) << job.status();
  SyntheticTrainer trainer(18);
  Drive(*job, trainer, 12);  // Stage 0: 5 probes + exploit; stage 1 likewise.
  ASSERT_GE(job->state().schedule().stages_size(), 2);
  EXPECT_EQ(job->state().schedule().stages(1).probes_size(), 5);
}

// Runs `job` on flat series at 1 + 0.01 * (decades from LR 0.01) (every
// probe's forecast within 3% of the best) until stage `stage` has chosen.
void RunFlatSeriesUntilChosen(Job& job, int stage) {
  v1::Action action = *job.NextAction(0);
  const auto chosen = [&] {
    const v1::Schedule& s = job.state().schedule();
    return s.stages_size() > stage && s.stages(stage).chosen_lr() > 0;
  };
  while (!chosen() && action.phase() != v1::PHASE_DONE) {
    v1::ReportLossesRequest report;
    report.set_action_id(action.action_id());
    for (int i = 0; i < action.steps(); ++i) {
      report.add_losses(1 + 0.01 * std::abs(std::log10(action.lr()) + 2));
    }
    bool changed = false;
    absl::StatusOr<v1::Action> next = job.ReportLosses(report, absl::UnixEpoch(), &changed);
    ASSERT_TRUE(next.ok()) << next.status();
    action = *next;
  }
  ASSERT_TRUE(chosen()) << job.state().schedule().DebugString();
}

// The LR `stage`'s tolerance rule should take: the largest (or smallest, at
// most half a decade below the best probe's LR) of the probes whose forecast
// is within `tolerance` of the best; the largest at most max(best probe's
// LR, `cap`) when `cap` is given. The smallest as the recommended preset's
// first_stage_clamp_to_limit takes it: a probe within the tolerance below
// the half-decade limit makes the limit the LR.
double NearBestProbe(const v1::Stage& stage, double tolerance, bool largest,
                     double cap = std::numeric_limits<double>::infinity()) {
  double best = std::numeric_limits<double>::infinity(), best_lr = 0;
  for (const v1::Probe& p : stage.probes()) {
    if (p.predicted_loss() < best) best = p.predicted_loss(), best_lr = p.lr();
  }
  double lr = best_lr;
  cap = std::max(cap, best_lr);
  const double limit = best_lr * std::pow(10.0, -0.5);  // As the server computes it.
  for (const v1::Probe& p : stage.probes()) {
    if (p.predicted_loss() > best + tolerance * best) continue;
    if (largest) {
      if (p.lr() <= cap) lr = std::max(lr, p.lr());
    } else if (p.lr() >= limit) {
      lr = std::min(lr, p.lr());
    } else {
      return limit;
    }
  }
  return lr;
}

TEST(JobTest, ChoiceToleranceTakesTheLargestLrNearTheBestForecast) {
  std::vector<double> chosen;
  for (const double tolerance : {0.0, 0.01, 1.0}) {
    SCOPED_TRACE(tolerance);
    v1::JobConfig c = SmallConfig();
    c.set_probes_per_stage(5);
    c.set_forecaster(v1::FORECASTER_LAST_MEAN);  // The forecast is the series' level.
    c.set_choice_tolerance(tolerance);
    c.set_first_stage_choice_tolerance(0);  // The first stage uses choice_tolerance too.
    Job job = MustCreate(c);
    RunFlatSeriesUntilChosen(job, 0);
    const v1::Stage& stage = job.state().schedule().stages(0);
    ASSERT_EQ(stage.probes_size(), 5);
    EXPECT_EQ(stage.chosen_lr(), NearBestProbe(stage, tolerance, /*largest=*/true))
        << stage.DebugString();
    chosen.push_back(stage.chosen_lr());
  }
  // Same probes every time: a wider tolerance only moves the choice up, and
  // 100% reaches the largest probe.
  EXPECT_LE(chosen[0], chosen[1]);
  EXPECT_LT(chosen[1], chosen[2]);
}

TEST(JobTest, FirstStageChoiceToleranceTakesTheSmallestLrNearTheBestForecastInTheFirstStageOnly) {
  std::vector<double> chosen;
  double smallest_probe = std::numeric_limits<double>::infinity();
  for (const double tolerance : {0.0, 0.005, 1.0}) {
    SCOPED_TRACE(tolerance);
    v1::JobConfig c = SmallConfig();
    c.set_probes_per_stage(5);
    c.set_forecaster(v1::FORECASTER_LAST_MEAN);
    c.set_choice_tolerance(1.0);  // Off in the first stage while the first-stage rule is on.
    c.set_tolerance_never_raises(false);
    c.set_raise_margin(0);  // The tolerance alone chooses.
    c.set_first_stage_choice_tolerance(tolerance);
    c.set_exploit_guard(0);  // Flat series make no progress: no rollback here.
    Job job = MustCreate(c);
    RunFlatSeriesUntilChosen(job, 1);
    const v1::Stage& first = job.state().schedule().stages(0);
    ASSERT_EQ(first.probes_size(), 5);
    EXPECT_EQ(first.chosen_lr(),
              tolerance == 0 ? NearBestProbe(first, 1.0, /*largest=*/true)
                             : NearBestProbe(first, tolerance, /*largest=*/false))
        << first.DebugString();
    chosen.push_back(first.chosen_lr());
    for (const v1::Probe& p : first.probes()) smallest_probe = std::min(smallest_probe, p.lr());
    // The second stage takes the largest within choice_tolerance (100%).
    const v1::Stage& second = job.state().schedule().stages(1);
    EXPECT_EQ(second.chosen_lr(), NearBestProbe(second, 1.0, /*largest=*/true))
        << second.DebugString();
  }
  // Off, the first stage took the largest probe; 0.5% allows only the best
  // (or a smaller LR within 0.5% of it), and 100% a smaller one still, but
  // not the smallest probe: the flat series put every probe within 100% of
  // the best, and the rule stops half a decade below the best probe's LR.
  EXPECT_GT(chosen[0], chosen[1]);
  EXPECT_GE(chosen[1], chosen[2]);
  EXPECT_GT(chosen[2], smallest_probe);
}

TEST(JobTest, ToleranceNeverRaisesKeepsALaterStageAtOrBelowThePreviousOrBestLr) {
  for (const bool never_raises : {false, true}) {
    SCOPED_TRACE(never_raises);
    v1::JobConfig c = SmallConfig();
    c.set_probes_per_stage(5);
    c.set_forecaster(v1::FORECASTER_LAST_MEAN);
    // The first stage takes its best forecast (LR 0.01 is the flat series'
    // best); the later ones any LR within 100% of theirs.
    c.set_first_stage_choice_tolerance(1e-12);
    c.set_choice_tolerance(1.0);
    c.set_tolerance_never_raises(never_raises);
    c.set_raise_margin(0);  // The tolerance alone chooses.
    c.set_exploit_guard(0);  // Flat series make no progress: no rollback here.
    Job job = MustCreate(c);
    RunFlatSeriesUntilChosen(job, 1);
    const double first = job.state().schedule().stages(0).chosen_lr();
    const v1::Stage& second = job.state().schedule().stages(1);
    double top = 0;
    for (const v1::Probe& p : second.probes()) top = std::max(top, p.lr());
    ASSERT_GT(top, first) << "the window reaches above the first stage's LR";
    if (never_raises) {
      EXPECT_EQ(second.chosen_lr(), NearBestProbe(second, 1.0, /*largest=*/true, first))
          << second.DebugString();
      EXPECT_LT(second.chosen_lr(), top);
    } else {
      EXPECT_EQ(second.chosen_lr(), top) << second.DebugString();
    }
  }
}

TEST(JobTest, AllProbesDivergedFallsBackToLrMin) {
  Job job = MustCreate(SmallConfig());
  SyntheticTrainer trainer(7, /*divergence_lr=*/1e-4);
  std::vector<v1::Action> actions = Drive(job, trainer, 5);
  EXPECT_EQ(actions[4].phase(), v1::PHASE_EXPLOIT);
  EXPECT_EQ(actions[4].lr(), 1e-3);
}

TEST(JobTest, RanksWaitForEachOtherAndTheJobAdvancesOnTheMeanSeries) {
  v1::JobConfig c = SmallConfig();
  c.set_num_workers(3);
  Job job = MustCreate(c);
  const v1::Action first = *job.NextAction(0);
  for (int r = 1; r < 3; ++r) {
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*job.NextAction(r), first));
  }
  auto report = [&](int rank, double value) {
    v1::ReportLossesRequest req;
    req.set_action_id(first.action_id());
    req.set_worker_rank(rank);
    for (int i = 0; i < first.steps(); ++i) req.add_losses(value);
    bool changed = false;
    absl::StatusOr<v1::Action> next = job.ReportLosses(req, absl::UnixEpoch(), &changed);
    EXPECT_TRUE(next.ok()) << next.status();
    return std::make_pair(*next, changed);
  };
  auto [a0, changed0] = report(0, 1.0);
  EXPECT_EQ(a0.phase(), v1::PHASE_WAIT);
  EXPECT_EQ(a0.retry_after_ms(), kWaitRetryMs);
  EXPECT_TRUE(changed0);
  EXPECT_EQ(job.NextAction(0)->phase(), v1::PHASE_WAIT);
  EXPECT_EQ(job.NextAction(1)->phase(), v1::PHASE_PROBE);
  auto [again, changed_again] = report(0, 5.0);  // A retry: ignored.
  EXPECT_EQ(again.phase(), v1::PHASE_WAIT);
  EXPECT_FALSE(changed_again);
  report(1, 2.0);
  auto [a2, changed2] = report(2, 3.0);
  EXPECT_TRUE(changed2);
  EXPECT_EQ(a2.phase(), v1::PHASE_PROBE);
  EXPECT_EQ(a2.action_id(), first.action_id() + 1);
  EXPECT_EQ(job.NextAction(0)->action_id(), a2.action_id());
  EXPECT_DOUBLE_EQ(job.state().schedule().stages(0).probes(0).training_loss().first(), 2.0);
  EXPECT_EQ(job.state().pending_reports_size(), 0);
  EXPECT_EQ(job.job().reported_ranks_size(), 0);
  EXPECT_EQ(job.state().rank_sum().losses_size(), 0);
}

TEST(JobTest, ReportsAreCheckedAgainstTheAction) {
  Job job = MustCreate(SmallConfig());
  const v1::Action action = *job.NextAction(0);
  bool changed = true;
  v1::ReportLossesRequest req;
  req.set_action_id(action.action_id());
  req.add_losses(1.0);
  absl::Status short_series = job.ReportLosses(req, absl::UnixEpoch(), &changed).status();
  EXPECT_TRUE(absl::IsInvalidArgument(short_series));
  EXPECT_NE(short_series.message().find("expected 10 losses, got 1"), std::string::npos)
      << short_series;
  req.set_action_id(action.action_id() + 1);
  absl::Status future = job.ReportLosses(req, absl::UnixEpoch(), &changed).status();
  EXPECT_TRUE(absl::IsFailedPrecondition(future)) << future;
  req.set_action_id(action.action_id());
  req.set_worker_rank(1);
  EXPECT_TRUE(absl::IsInvalidArgument(job.ReportLosses(req, absl::UnixEpoch(), &changed).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(job.NextAction(-1).status()));
  req.set_worker_rank(0);
  req.clear_losses();
  for (int i = 0; i < 10; ++i) req.add_losses(1.0);
  req.add_eval_losses(1.0);
  EXPECT_TRUE(absl::IsInvalidArgument(job.ReportLosses(req, absl::UnixEpoch(), &changed).status()));
  EXPECT_FALSE(changed);
  EXPECT_EQ(job.state().schedule().stages(0).probes_size(), 0);
}

TEST(JobTest, AReportForAnAppliedActionChangesNothing) {
  Job job = MustCreate(SmallConfig());
  SyntheticTrainer trainer(8);
  const v1::Action first = *job.NextAction(0);
  const v1::ReportLossesRequest report = RunAction(first, trainer);
  bool changed = false;
  const v1::Action second = *job.ReportLosses(report, absl::UnixEpoch(), &changed);
  ASSERT_TRUE(changed);
  const JobState before = job.state();
  absl::StatusOr<v1::Action> retry = job.ReportLosses(report, absl::UnixEpoch(), &changed);
  ASSERT_TRUE(retry.ok());
  EXPECT_FALSE(changed);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*retry, second));
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(job.state(), before));
}

TEST(JobTest, SameSeedAndLossesGiveTheSameSchedule) {
  auto run = [](uint64_t seed) {
    v1::JobConfig c = SmallConfig();
    c.set_seed(seed);
    Job job = MustCreate(c);
    SyntheticTrainer trainer(99);
    Drive(job, trainer, 20);
    return job.state().schedule();
  };
  const v1::Schedule a = run(1), b = run(1), other = run(2);
  // Bytes, not MessageDifferencer: diverged probes hold NaN, which != NaN.
  EXPECT_EQ(a.SerializeAsString(), b.SerializeAsString());
  EXPECT_GT(a.stages_size(), 1);
  EXPECT_NE(a.stages(0).probes(0).lr(), other.stages(0).probes(0).lr());
}

TEST(JobTest, ResumesFromItsStoredState) {
  Job job = MustCreate(SmallConfig());
  SyntheticTrainer trainer(9);
  Drive(job, trainer, 3);
  absl::StatusOr<Job> resumed = Job::FromState(job.state());
  ASSERT_TRUE(resumed.ok());
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*resumed->NextAction(0),
                                                                 *job.NextAction(0)));
  EXPECT_TRUE(absl::IsInvalidArgument(Job::FromState(JobState()).status()));
}

}  // namespace
}  // namespace autolrs::server
