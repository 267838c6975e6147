// Search options beyond the reference: hold_margin, raise_margin and
// widen_at_edge, on hand-made loss series.
#include <cmath>
#include <functional>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "server/job.h"
#include "server/job_test_util.h"
#include "server/stage_choice.h"

namespace autolrs::server {
namespace {

// Reports every action of `job` with the constant loss `loss(lr)` until
// stage `stage` has started; returns its first action.
v1::Action RunUntilStage(Job& job, int32_t stage, const std::function<double(double)>& loss) {
  v1::Action action = *job.NextAction(0);
  while (action.stage() < stage && action.phase() != v1::PHASE_DONE) {
    v1::ReportLossesRequest r;
    r.set_action_id(action.action_id());
    for (int64_t i = 0; i < action.steps(); ++i) r.add_losses(loss(action.lr()));
    bool changed = false;
    action = *job.ReportLosses(r, absl::UnixEpoch(), &changed);
  }
  return action;
}

// A loss with its valley at LR 0.1 (one decade from it: 2.0).
double ValleyAtATenth(double lr) { return 1.0 + std::abs(std::log10(lr) + 1); }

TEST(JobOptionsTest, MinProbeStepsLengthensShortProbesUpToTheStage) {
  for (const auto& [min_steps, expected] :
       std::vector<std::pair<int64_t, int64_t>>{{0, 3}, {7, 7}, {1000, 30}}) {
    SCOPED_TRACE(min_steps);
    v1::JobConfig c = SmallConfig();
    c.set_tau_initial(30);  // tau' = 3 at probe_ratio 0.1.
    c.set_min_probe_steps(min_steps);
    Job job = MustCreate(c);
    const v1::Action first = *job.NextAction(0);
    ASSERT_EQ(first.phase(), v1::PHASE_PROBE);
    EXPECT_EQ(first.steps(), expected);
    EXPECT_EQ(job.state().schedule().stages(0).tau_probe(), expected);
  }
  // The recommended preset's minimum.
  v1::JobConfig c = SmallConfig();
  c.set_tau_initial(30);
  EXPECT_EQ(MustCreate(c).NextAction(0)->steps(), 7);
}

v1::JobConfig HoldConfig(double margin) {
  v1::JobConfig c = SmallConfig();
  c.set_later_stage_probes(3);
  c.set_min_probes_per_stage(3);
  c.set_choice_tolerance(0);
  c.set_hold_margin(margin);
  return c;
}

TEST(JobOptionsTest, HoldMarginKeepsTheLrUnlessAnotherIsClearlyBetter) {
  for (const double second_probe : {0.97, 0.90}) {
    SCOPED_TRACE(second_probe);
    Job job = MustCreate(HoldConfig(0.05));
    v1::Action a = RunUntilStage(job, 1, [](double lr) { return 1.0 + lr; });
    const double held = job.job().current_lr();
    ASSERT_EQ(a.lr(), held);  // warm_start: the previous LR first.
    a = Report(job, a, 1.0);
    const double other = a.lr();
    a = Report(job, a, second_probe);
    a = Report(job, a, 0.99);
    ASSERT_EQ(a.phase(), v1::PHASE_EXPLOIT);
    // 3% better is within the 5% margin: hold. 10% better: move.
    EXPECT_EQ(a.lr(), second_probe == 0.97 ? held : other);
  }
}

TEST(JobOptionsTest, WithoutHoldMarginTheBestForecastWins) {
  Job job = MustCreate(HoldConfig(0));
  v1::Action a = RunUntilStage(job, 1, [](double lr) { return 1.0 + lr; });
  a = Report(job, a, 1.0);
  const double other = a.lr();
  a = Report(job, a, 0.97);
  a = Report(job, a, 0.99);
  EXPECT_EQ(a.lr(), other);
}

TEST(JobOptionsTest, RaiseMarginRaisesTheLrOnlyWhenTheHigherOneIsClearlyBetter) {
  for (const double raised : {0.99, 0.95}) {
    SCOPED_TRACE(raised);
    v1::JobConfig c = HoldConfig(0);
    c.set_raise_margin(0.02);
    Job job = MustCreate(c);
    v1::Action a = RunUntilStage(job, 1, [](double lr) { return 1.0 + lr; });
    const double held = job.job().current_lr();
    ASSERT_EQ(a.lr(), held);  // warm_start: the previous LR first.
    // Every higher LR forecasts `raised`, every lower one 1.05; the first
    // higher probe wins the tie.
    double higher = 0;
    while (a.phase() == v1::PHASE_PROBE) {
      if (a.lr() > held && higher == 0) higher = a.lr();
      a = Report(job, a, a.lr() == held ? 1.0 : a.lr() > held ? raised : 1.05);
    }
    ASSERT_GT(higher, 0) << "no probe above the previous LR";
    ASSERT_EQ(a.phase(), v1::PHASE_EXPLOIT);
    // 1% better is within the 2% margin: held. 5% better: raised.
    EXPECT_EQ(a.lr(), raised == 0.99 ? held : higher);
    EXPECT_EQ(job.state().schedule().stages(1).chosen_lr(), a.lr());
  }
}

TEST(JobOptionsTest, NoLaterStageProbesTrainsEveryLaterStageAtTheFirstChoice) {
  v1::JobConfig c = SmallConfig();
  c.set_later_stage_probes(0);
  c.set_total_steps(2000);
  Job job = MustCreate(c);
  v1::Action a = RunUntilStage(job, 1, ValleyAtATenth);
  const double first_choice = job.state().schedule().stages(0).chosen_lr();
  // Every later stage is one exploitation at the first stage's LR, then the
  // cooldown from it.
  while (a.phase() == v1::PHASE_EXPLOIT) {
    EXPECT_EQ(a.lr(), first_choice);
    EXPECT_TRUE(job.state().schedule().stages(a.stage()).search_skipped()) << a.stage();
    a = Report(job, a, 1.0);
  }
  ASSERT_EQ(a.phase(), v1::PHASE_COOLDOWN);
  EXPECT_EQ(a.lr_ramp_start(), first_choice);
  EXPECT_GE(job.state().schedule().stages_size(), 3);
  for (const v1::Stage& s : job.state().schedule().stages()) {
    if (s.index() > 0) {
      EXPECT_EQ(s.probes_size(), 0) << s.index();
    }
  }
}

TEST(JobOptionsTest, LaterStagesWithProbesBelowTheMinimumTrainWithoutASearch) {
  for (const int64_t min_steps : {0, 20}) {
    SCOPED_TRACE(min_steps);
    v1::JobConfig c = SmallConfig();
    c.set_tau_initial(50);  // tau' 7 (min_probe_steps), then 10, then 20.
    c.set_later_stage_min_probe_steps(min_steps);
    Job job = MustCreate(c);
    v1::Action a = RunUntilStage(job, 1, ValleyAtATenth);
    const double first_choice = job.state().schedule().stages(0).chosen_lr();
    // Stage 1 (tau' 10) searches only without the minimum; else it trains at
    // stage 0's choice.
    if (min_steps == 0) {
      EXPECT_EQ(a.phase(), v1::PHASE_PROBE);
    } else {
      EXPECT_EQ(a.phase(), v1::PHASE_EXPLOIT);
      EXPECT_EQ(a.lr(), first_choice);
      EXPECT_EQ(a.steps(), 100);
    }
    a = RunUntilStage(job, 2, ValleyAtATenth);
    const v1::Stage& stage1 = job.state().schedule().stages(1);
    EXPECT_EQ(stage1.tau_probe(), 10);
    EXPECT_EQ(stage1.search_skipped(), min_steps > 0);
    EXPECT_EQ(stage1.probes_size(), min_steps > 0 ? 0 : 4);
    // Stage 2's probes are 20 steps: it searches either way.
    EXPECT_EQ(job.state().schedule().stages(2).tau_probe(), 20);
    EXPECT_EQ(a.phase(), v1::PHASE_PROBE);
  }
}

TEST(JobOptionsTest, SearchNeedsWholeStageSkipsASearchWhoseStageWouldBeCutShort) {
  for (const bool whole : {false, true}) {
    SCOPED_TRACE(whole);
    v1::JobConfig c = SmallConfig();
    // 390 steps before the cooldown: stage 0 spends 4 x 10 + 100, which
    // leaves 250 for stage 1 (tau 200, probes 4 x 20): enough for its probes
    // and half its tau, not for all of it.
    c.set_total_steps(780);
    c.set_search_needs_whole_stage(whole);
    Job job = MustCreate(c);
    ASSERT_EQ(job.job().config().cooldown_fraction(), 0.5);
    const v1::Action a = RunUntilStage(job, 1, ValleyAtATenth);
    const v1::Stage& stage1 = job.state().schedule().stages(1);
    EXPECT_EQ(stage1.tau(), 200);
    EXPECT_EQ(stage1.search_skipped(), whole);
    if (whole) {
      EXPECT_EQ(a.phase(), v1::PHASE_EXPLOIT);
      EXPECT_EQ(a.lr(), job.state().schedule().stages(0).chosen_lr());
      EXPECT_EQ(a.steps(), 200);
    } else {
      EXPECT_EQ(a.phase(), v1::PHASE_PROBE);
      EXPECT_EQ(a.steps(), 20);
    }
  }
}

TEST(JobOptionsTest, WidenAtEdgeWalksPastTheWindow) {
  for (const bool widen : {false, true}) {
    SCOPED_TRACE(widen);
    v1::JobConfig c = SmallConfig();
    c.set_later_stage_probes(4);
    c.set_min_probes_per_stage(4);
    c.set_search_radius(0.3);
    c.set_widen_at_edge(widen);
    Job job = MustCreate(c);
    // Stage 0 settles near 0.1; then smaller is better everywhere, so the
    // best probe sits at the lower edge.
    v1::Action a = RunUntilStage(job, 1, ValleyAtATenth);
    const auto loss = [](double lr) { return 4.0 + std::log10(lr); };
    const double center = job.job().current_lr();
    double lowest = center;
    while (a.phase() == v1::PHASE_PROBE) {
      lowest = std::min(lowest, a.lr());
      a = Report(job, a, loss(a.lr()));
    }
    const double window_lo = center / std::pow(10.0, 0.3);
    if (widen) {
      EXPECT_LT(lowest, window_lo * 0.99) << "stayed in [" << window_lo << ", ...]";
    } else {
      EXPECT_GE(lowest, window_lo * 0.999);
    }
  }
}

TEST(JobOptionsTest, TheReferenceAndRecommendedPresetsLeaveThemOff) {
  for (const v1::Preset preset : {v1::PRESET_REFERENCE, v1::PRESET_RECOMMENDED}) {
    v1::JobConfig c = SmallConfig();
    c.set_preset(preset);
    Job job = MustCreate(c);
    EXPECT_EQ(job.job().config().hold_margin(), 0);
    EXPECT_FALSE(job.job().config().widen_at_edge());
  }
}

}  // namespace
}  // namespace autolrs::server

namespace autolrs::server {
namespace {

// Stage 0 of a job whose probes favour the largest LR (as 3-step probes from
// initialization do), run until its EXPLOIT.
v1::Action ExploitOfStageZero(Job& job) {
  v1::Action a = *job.NextAction(0);
  while (a.phase() == v1::PHASE_PROBE) a = Report(job, a, 2.0 - 0.1 * std::log10(a.lr()));
  return a;
}

v1::JobConfig GuardConfig(double guard) {
  v1::JobConfig c = SmallConfig();
  c.set_exploit_guard(guard);
  c.set_choice_tolerance(0);
  return c;
}

TEST(JobOptionsTest, ExploitGuardRollsBackACollapsedStageAndRetriesLower) {
  Job job = MustCreate(GuardConfig(0.1));
  const v1::Action exploit = ExploitOfStageZero(job);
  ASSERT_EQ(exploit.phase(), v1::PHASE_EXPLOIT);
  const double failed = exploit.lr();
  const int64_t model_steps = job.job().model_steps();
  // tau steps at the LR end far above what its probe reached: a collapse.
  const v1::Action retry = Report(job, exploit, 5.0);
  ASSERT_EQ(retry.phase(), v1::PHASE_EXPLOIT);
  EXPECT_EQ(retry.checkpoint(), v1::CHECKPOINT_OP_RESTORE);
  EXPECT_LT(retry.lr(), failed);
  EXPECT_EQ(retry.stage(), 0);
  const v1::Stage& stage = job.state().schedule().stages(0);
  ASSERT_EQ(stage.rolled_back_lrs_size(), 1);
  EXPECT_EQ(stage.rolled_back_lrs(0), failed);
  EXPECT_EQ(stage.chosen_lr(), retry.lr());
  EXPECT_EQ(job.job().model_steps(), model_steps);  // The failed steps were rolled back.
  EXPECT_EQ(job.job().steps_spent(), exploit.steps_spent() + exploit.steps());  // but paid.
  // A healthy retry moves on; the next stage stays below the failed LR.
  v1::Action next = Report(job, retry, 1.0);
  EXPECT_EQ(next.stage(), 1);
  EXPECT_EQ(job.job().current_lr(), retry.lr());
  while (next.phase() == v1::PHASE_PROBE && next.stage() == 1) {
    EXPECT_LT(next.lr(), failed);
    next = Report(job, next, 1.0);
  }
}

TEST(JobOptionsTest, ExploitGuardLeavesHealthyStagesAndOnlyTheReferenceTurnsItOff) {
  for (const double guard : {0.0, 0.1}) {
    SCOPED_TRACE(guard);
    Job job = MustCreate(GuardConfig(guard));
    const v1::Action exploit = ExploitOfStageZero(job);
    // With the guard off, even a collapse is kept.
    const double loss = guard > 0 ? 1.5 : 5.0;
    const v1::Action next = Report(job, exploit, loss);
    EXPECT_EQ(next.stage(), 1);
    EXPECT_EQ(job.state().schedule().stages(0).rolled_back_lrs_size(), 0);
  }
  EXPECT_EQ(MustCreate(SmallConfig()).job().config().exploit_guard(), 0.25);
  v1::JobConfig reference = SmallConfig();
  reference.set_preset(v1::PRESET_REFERENCE);
  EXPECT_EQ(MustCreate(reference).job().config().exploit_guard(), 0);
}

TEST(JobOptionsTest, ExploitGuardRollsBackAFirstStageThatMadeNoProgress) {
  Job job = MustCreate(GuardConfig(0.25));
  const v1::Action exploit = ExploitOfStageZero(job);
  ASSERT_EQ(exploit.phase(), v1::PHASE_EXPLOIT);
  // The probes started near 2.1 (their first losses); tau steps ending at
  // 2.08 are within the guard of the chosen probe's forecast (2.0) but made
  // almost no progress from the initialization: a stall.
  const v1::Action retry = Report(job, exploit, 2.08);
  ASSERT_EQ(retry.phase(), v1::PHASE_EXPLOIT);
  EXPECT_EQ(retry.stage(), 0);
  EXPECT_LT(retry.lr(), exploit.lr());
  EXPECT_EQ(job.state().schedule().stages(0).rolled_back_lrs_size(), 1);
  // Progress of more than 5% is kept.
  const v1::Action next = Report(job, retry, 1.9);
  EXPECT_EQ(next.stage(), 1);
}

TEST(JobOptionsTest, AnInterpolatedFirstStageChoiceCarriesTheLinesForecastToTheGuard) {
  v1::JobConfig c = GuardConfig(0.1);
  c.set_first_stage_interpolation(true);
  Job job = MustCreate(c);
  const v1::Action exploit = ExploitOfStageZero(job);
  ASSERT_EQ(exploit.phase(), v1::PHASE_EXPLOIT);
  const v1::Stage& stage = job.state().schedule().stages(0);
  // The forecasts lie on one line over log10 LR that reaches the 10%
  // tolerance far below: the choice is half a decade below the best probe,
  // between two probes, and its forecast is the line's.
  const v1::Probe* best = BestProbe(stage);
  ASSERT_NE(best, nullptr);
  EXPECT_NEAR(exploit.lr(), best->lr() / std::sqrt(10.0), 1e-12);
  for (const v1::Probe& p : stage.probes()) EXPECT_NE(p.lr(), exploit.lr());
  EXPECT_NEAR(stage.chosen_predicted_loss(), 2.0 - 0.1 * std::log10(exploit.lr()), 1e-9);
  // The exploit guard compares with that forecast.
  const v1::Action retry = Report(job, exploit, 5.0);
  ASSERT_EQ(retry.phase(), v1::PHASE_EXPLOIT);
  EXPECT_LT(retry.lr(), exploit.lr());
  EXPECT_EQ(job.state().schedule().stages(0).rolled_back_lrs_size(), 1);
}

TEST(JobOptionsTest, ExploitGuardRollsBackAtMostTwicePerStage) {
  Job job = MustCreate(GuardConfig(0.1));
  v1::Action a = ExploitOfStageZero(job);
  for (int i = 0; i < kMaxRollbacks; ++i) {
    a = Report(job, a, 5.0);
    ASSERT_EQ(a.stage(), 0) << i;
    ASSERT_EQ(a.phase(), v1::PHASE_EXPLOIT);
  }
  a = Report(job, a, 5.0);
  EXPECT_EQ(a.stage(), 1);
  EXPECT_EQ(job.state().schedule().stages(0).rolled_back_lrs_size(), kMaxRollbacks);
}

}  // namespace
}  // namespace autolrs::server
