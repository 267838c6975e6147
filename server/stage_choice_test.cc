#include "server/stage_choice.h"

#include <cmath>

#include "gtest/gtest.h"

namespace autolrs::server {
namespace {

// A stage of index `index` with probes (lr, forecast); a forecast < 0 marks
// a diverged probe.
v1::Stage MakeStage(int index, std::initializer_list<std::pair<double, double>> probes) {
  v1::Stage stage;
  stage.set_index(index);
  for (const auto& [lr, forecast] : probes) {
    v1::Probe* p = stage.add_probes();
    p->set_lr(lr);
    p->set_diverged(forecast < 0);
    p->set_predicted_loss(forecast < 0 ? 1e300 : forecast);
  }
  return stage;
}

TEST(StageChoiceTest, BestProbeSkipsDivergedProbesAndLrsAtOrAboveTheBound) {
  const v1::Stage stage = MakeStage(1, {{0.1, -1}, {0.05, 1.0}, {0.02, 1.1}, {0.01, 1.0}});
  ASSERT_NE(BestProbe(stage), nullptr);
  EXPECT_EQ(BestProbe(stage)->lr(), 0.05);  // The earliest of the tie.
  EXPECT_EQ(BestProbe(stage, 0.05)->lr(), 0.01);
  EXPECT_EQ(BestProbe(stage, 0.01), nullptr);
}

TEST(StageChoiceTest, FirstStageTakesTheSmallestNearTheBestLaterStagesTheLargest) {
  v1::JobConfig c;
  c.set_first_stage_choice_tolerance(0.1);
  c.set_choice_tolerance(0.05);
  c.set_tolerance_never_raises(true);
  // Within 10% of 1.0: 0.3, 0.1, 0.05 (0.01 is more than half a decade
  // below the best probe's 0.1).
  const v1::Stage first = MakeStage(0, {{0.3, 1.08}, {0.1, 1.0}, {0.05, 1.09}, {0.01, 1.01}});
  EXPECT_EQ(TolerantChoice(first, c, 0, 0.1), 0.05);
  // Within 5%: 0.3 and 0.1; the previous stage's LR 0.05 caps a raise.
  const v1::Stage later = MakeStage(2, {{0.3, 1.04}, {0.1, 1.0}, {0.05, 1.2}});
  EXPECT_EQ(TolerantChoice(later, c, 0.05, 0.1), 0.1);
  EXPECT_EQ(TolerantChoice(later, c, 0.3, 0.1), 0.3);
  c.set_tolerance_never_raises(false);
  EXPECT_EQ(TolerantChoice(later, c, 0.05, 0.1), 0.3);
  c.set_choice_tolerance(0);
  EXPECT_EQ(TolerantChoice(later, c, 0.05, 0.1), 0.1);
}

TEST(StageChoiceTest, FirstStageInterpolationTakesWhereTheLineCrossesTheTolerance) {
  v1::JobConfig c;
  c.set_first_stage_choice_tolerance(0.1);
  c.set_first_stage_interpolation(true);
  // Bar 1.1. The smallest probe within it is 0.1; the line from the probe
  // at 0.01 (1.3) to it (1.0) crosses 1.1 two thirds of the decade up.
  const v1::Stage gap = MakeStage(0, {{0.01, 1.3}, {0.1, 1.0}, {0.2, 1.05}});
  EXPECT_NEAR(TolerantChoice(gap, c, 0, 0.1), std::pow(10.0, -2 + 2.0 / 3), 1e-12);
  ASSERT_TRUE(InterpolatedForecast(gap, TolerantChoice(gap, c, 0, 0.1)).has_value());
  EXPECT_NEAR(*InterpolatedForecast(gap, TolerantChoice(gap, c, 0, 0.1)), 1.1, 1e-12);
  // Never more than half a decade below the best probe's LR.
  const v1::Stage steep = MakeStage(0, {{0.001, 1.2}, {0.1, 1.0}});
  EXPECT_NEAR(TolerantChoice(steep, c, 0, 0.1), std::pow(10.0, -1.5), 1e-12);
  // A probe below within the tolerance but under the floor: the floor.
  const v1::Stage flat = MakeStage(0, {{0.01, 1.05}, {0.1, 1.0}});
  EXPECT_NEAR(TolerantChoice(flat, c, 0, 0.1), std::pow(10.0, -1.5), 1e-12);
  // Nothing probed below (a diverged probe does not count): the probe's LR.
  EXPECT_EQ(TolerantChoice(MakeStage(0, {{0.01, -1}, {0.1, 1.0}}), c, 0, 0.1), 0.1);
  // Off: only probed LRs.
  c.set_first_stage_interpolation(false);
  EXPECT_EQ(TolerantChoice(gap, c, 0, 0.1), 0.1);
  // Later stages never interpolate.
  c.set_first_stage_interpolation(true);
  c.set_choice_tolerance(0.05);
  EXPECT_EQ(TolerantChoice(MakeStage(1, {{0.01, 1.3}, {0.1, 1.0}}), c, 0.1, 0.1), 0.1);
}

TEST(StageChoiceTest, FirstStageClampToLimitTakesTheLimitWhenAProbeBelowItIsWithinTheTolerance) {
  v1::JobConfig c;
  c.set_first_stage_choice_tolerance(0.1);
  c.set_first_stage_clamp_to_limit(true);
  // The Transformer's stage 0 with 8 probes (dev task, seed 2): bar 4.247;
  // 0.007254 (4.1705) is within it but below the limit 0.02471 / 10^0.5.
  const v1::Stage cliff = MakeStage(0, {{0.031, 4.1187},
                                        {0.0001, 5.7018},
                                        {0.02471, 3.8607},
                                        {0.007254, 4.1705},
                                        {0.1, 4.8645},
                                        {0.001415, 5.0884},
                                        {0.01516, 3.9820},
                                        {0.01902, 3.9300}});
  const double limit = 0.02471 * std::pow(10.0, -0.5);
  EXPECT_NEAR(TolerantChoice(cliff, c, 0, 0.02471), limit, 1e-15);
  // Its forecast lies on the line between the probes around it.
  ASSERT_TRUE(InterpolatedForecast(cliff, limit).has_value());
  EXPECT_GT(*InterpolatedForecast(cliff, limit), 3.9820);
  EXPECT_LT(*InterpolatedForecast(cliff, limit), 4.1705);
  // ProbeChoice: no probe at the limit, so none to continue from.
  EXPECT_EQ(ProbeChoice(cliff, c, 0), 0);
  // Off: the smallest probe above the limit.
  c.set_first_stage_clamp_to_limit(false);
  EXPECT_EQ(TolerantChoice(cliff, c, 0, 0.02471), 0.01516);
  c.set_first_stage_clamp_to_limit(true);
  // A probe below the limit outside the tolerance, or a diverged one: the
  // smallest probe within it, as without the option.
  const v1::Stage steep = MakeStage(0, {{0.007, 4.3}, {0.01516, 3.98}, {0.02471, 3.86}});
  EXPECT_EQ(TolerantChoice(steep, c, 0, 0.02471), 0.01516);
  const v1::Stage diverged = MakeStage(0, {{0.007, -1}, {0.01516, 3.98}, {0.02471, 3.86}});
  EXPECT_EQ(TolerantChoice(diverged, c, 0, 0.02471), 0.01516);
  // Later stages and first_stage_interpolation (which has its own rule at
  // the limit) are not affected.
  c.set_choice_tolerance(0.05);
  EXPECT_EQ(TolerantChoice(MakeStage(1, {{0.01, 1.01}, {0.1, 1.0}}), c, 0.1, 0.1), 0.1);
  c.set_first_stage_interpolation(true);
  EXPECT_NEAR(TolerantChoice(cliff, c, 0, 0.02471), limit, 1e-15);
}

TEST(StageChoiceTest, InterpolatedForecastJoinsProbesOverLog10Lr) {
  const v1::Stage stage = MakeStage(0, {{0.001, 2.0}, {0.1, 1.0}, {0.01, -1}});
  EXPECT_EQ(*InterpolatedForecast(stage, 0.1), 1.0);
  EXPECT_NEAR(*InterpolatedForecast(stage, 0.01), 1.5, 1e-12);  // Past the diverged probe.
  EXPECT_FALSE(InterpolatedForecast(stage, 0.0005).has_value());
  EXPECT_FALSE(InterpolatedForecast(stage, 0.2).has_value());
  EXPECT_FALSE(InterpolatedForecast(MakeStage(0, {}), 0.1).has_value());
}

TEST(StageChoiceTest, HoldKeepsThePreviousLrUnlessTheCandidateIsClearlyBetter) {
  v1::JobConfig c;
  c.set_hold_margin(0.05);
  const v1::Stage stage = MakeStage(1, {{0.1, 1.0}, {0.05, 0.97}, {0.02, 0.9}});
  EXPECT_EQ(Hold(stage, c, 0.1, 0.05), 0.1);  // 3% better: held.
  EXPECT_EQ(Hold(stage, c, 0.1, 0.02), 0.02);  // 10% better: taken.
  c.set_hold_margin(0);
  EXPECT_EQ(Hold(stage, c, 0.1, 0.05), 0.05);
}

TEST(StageChoiceTest, GuardRaiseNeedsTheHigherLrToBeatThePreviousOneByTheMargin) {
  v1::JobConfig c;
  c.set_raise_margin(0.02);
  c.set_choice_tolerance(0.05);
  c.set_tolerance_never_raises(true);
  // The GRU's stage: 0.04 forecasts best, 1.2% below the previous LR 0.02.
  const v1::Stage noise = MakeStage(1, {{0.02, 2.15}, {0.01, 2.13}, {0.04, 2.125}, {0.015, 2.14}});
  // Among 0.02 and below, 0.01 is best and 0.02 within 5% of it: held.
  EXPECT_EQ(GuardRaise(noise, c, 0.02, 0.04), 0.02);
  // Without the tolerance the best at or below the previous LR.
  c.set_choice_tolerance(0);
  EXPECT_EQ(GuardRaise(noise, c, 0.02, 0.04), 0.01);
  // A raise 5% below the previous LR's forecast clears the margin.
  const v1::Stage clear = MakeStage(1, {{0.02, 2.0}, {0.01, 2.1}, {0.04, 1.9}});
  EXPECT_EQ(GuardRaise(clear, c, 0.02, 0.04), 0.04);
  // Not a raise, the first stage, off, or no probe at the previous LR
  // (or it diverged): unchanged.
  EXPECT_EQ(GuardRaise(noise, c, 0.02, 0.01), 0.01);
  EXPECT_EQ(GuardRaise(MakeStage(0, {{0.02, 2.15}, {0.04, 2.14}}), c, 0.02, 0.04), 0.04);
  EXPECT_EQ(GuardRaise(MakeStage(1, {{0.03, 2.15}, {0.04, 2.14}}), c, 0.02, 0.04), 0.04);
  EXPECT_EQ(GuardRaise(MakeStage(1, {{0.02, -1}, {0.04, 2.14}}), c, 0.02, 0.04), 0.04);
  c.set_raise_margin(0);
  EXPECT_EQ(GuardRaise(noise, c, 0.02, 0.04), 0.04);
  // ProbeChoice applies it: the probe at 0.01 (the second).
  c.set_raise_margin(0.02);
  EXPECT_EQ(ProbeChoice(noise, c, 0.02), 2);
}

TEST(StageChoiceTest, ProbeChoiceAndSavedProbeCountProbesFromOne) {
  v1::JobConfig c;
  v1::Stage stage = MakeStage(1, {{0.1, 1.0}, {0.05, 0.9}});
  EXPECT_EQ(ProbeChoice(stage, c, 0.1), 2);
  EXPECT_EQ(ProbeChoice(MakeStage(1, {{0.1, -1}}), c, 0.1), 0);
  stage.add_confirmations()->set_lr(0.07);
  EXPECT_EQ(SavedProbe(stage, 0), nullptr);
  EXPECT_EQ(SavedProbe(stage, 2)->lr(), 0.05);
  EXPECT_EQ(SavedProbe(stage, 3)->lr(), 0.07);  // Confirmations after the probes.
  EXPECT_EQ(SavedProbe(stage, 4), nullptr);
}

}  // namespace
}  // namespace autolrs::server
