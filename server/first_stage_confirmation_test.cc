#include "server/first_stage_confirmation.h"

#include <cmath>
#include <limits>

#include "gtest/gtest.h"

namespace autolrs::server {
namespace {

v1::JobConfig Config(double factor) {
  v1::JobConfig c;
  c.set_lr_min(1e-4);
  c.set_lr_max(1.0);
  c.set_first_stage_confirmation(factor);
  return c;
}

v1::Stage FirstStage(int64_t tau = 100, int64_t tau_probe = 10) {
  v1::Stage s;
  s.set_index(0);
  s.set_tau(tau);
  s.set_tau_probe(tau_probe);
  return s;
}

void Confirm(v1::Stage* stage, double lr, double forecast) {
  v1::Probe* p = stage->add_confirmations();
  p->set_lr(lr);
  if (std::isfinite(forecast)) {
    p->set_predicted_loss(forecast);
  } else {
    p->set_diverged(true);
    p->set_predicted_loss(std::numeric_limits<double>::infinity());
  }
}

constexpr int64_t kPlenty = 1'000'000;

TEST(FirstStageConfirmationTest, StepsAreTheFactorTimesTauPrimeWithinTau) {
  EXPECT_EQ(ConfirmationSteps(FirstStage(100, 10), Config(4)), 40);
  EXPECT_EQ(ConfirmationSteps(FirstStage(100, 10), Config(50)), 100);
  // At least one step longer than a search probe.
  EXPECT_EQ(ConfirmationSteps(FirstStage(100, 10), Config(1)), 11);
  EXPECT_EQ(ConfirmationSteps(FirstStage(10, 10), Config(1)), 10);
}

TEST(FirstStageConfirmationTest, OffOrLaterStagesOrSkippedSearchesDoNotConfirm) {
  EXPECT_FALSE(NextConfirmationLr(FirstStage(), Config(0), 0.1, kPlenty).has_value());
  v1::Stage later = FirstStage();
  later.set_index(1);
  EXPECT_FALSE(NextConfirmationLr(later, Config(4), 0.1, kPlenty).has_value());
  v1::Stage skipped = FirstStage();
  skipped.set_search_skipped(true);
  EXPECT_FALSE(NextConfirmationLr(skipped, Config(4), 0.1, kPlenty).has_value());
}

TEST(FirstStageConfirmationTest, TheFirstConfirmsTheSearchChoiceThenHalfADecadeLower) {
  v1::Stage stage = FirstStage();
  EXPECT_EQ(NextConfirmationLr(stage, Config(4), 0.1, kPlenty), 0.1);
  Confirm(&stage, 0.1, 2.0);
  std::optional<double> next = NextConfirmationLr(stage, Config(4), 0.1, kPlenty);
  ASSERT_TRUE(next.has_value());
  EXPECT_NEAR(*next, 0.1 / std::sqrt(10.0), 1e-12);
}

TEST(FirstStageConfirmationTest, StepsDownOnlyWhileTheLowerLrForecastsBetter) {
  v1::Stage stage = FirstStage();
  Confirm(&stage, 0.1, 2.0);
  Confirm(&stage, 0.0316, 1.5);  // Lower was better: go on.
  std::optional<double> next = NextConfirmationLr(stage, Config(4), 0.1, kPlenty);
  ASSERT_TRUE(next.has_value());
  EXPECT_NEAR(*next, 0.01, 1e-3);
  Confirm(&stage, 0.01, 1.51);  // A tie (within 1%): go on.
  ASSERT_TRUE(NextConfirmationLr(stage, Config(4), 0.1, kPlenty).has_value());
  Confirm(&stage, 0.00316, 1.7);  // Lower was worse: stop.
  EXPECT_FALSE(NextConfirmationLr(stage, Config(4), 0.1, kPlenty).has_value());
  EXPECT_EQ(BestConfirmation(stage)->lr(), 0.0316);
}

TEST(FirstStageConfirmationTest, ADivergedConfirmationStepsDownAndIsNeverBest) {
  v1::Stage stage = FirstStage();
  Confirm(&stage, 0.1, std::numeric_limits<double>::infinity());
  ASSERT_TRUE(NextConfirmationLr(stage, Config(4), 0.1, kPlenty).has_value());
  Confirm(&stage, 0.0316, 1.5);
  EXPECT_TRUE(NextConfirmationLr(stage, Config(4), 0.1, kPlenty).has_value());
  EXPECT_EQ(BestConfirmation(stage)->lr(), 0.0316);
  v1::Stage all_diverged = FirstStage();
  Confirm(&all_diverged, 0.1, std::numeric_limits<double>::infinity());
  EXPECT_EQ(BestConfirmation(all_diverged), nullptr);
}

TEST(FirstStageConfirmationTest, AtMostFourAndNeverBelowLrMin) {
  v1::Stage stage = FirstStage();
  double lr = 1.0;
  double forecast = 3.0;
  for (int i = 0; i < kMaxConfirmations; ++i) {
    std::optional<double> next = NextConfirmationLr(stage, Config(4), 1.0, kPlenty);
    ASSERT_TRUE(next.has_value()) << i;
    lr = *next;
    Confirm(&stage, lr, forecast -= 0.5);
  }
  EXPECT_FALSE(NextConfirmationLr(stage, Config(4), 1.0, kPlenty).has_value());

  v1::Stage low = FirstStage();
  Confirm(&low, 2e-4, 2.0);
  EXPECT_EQ(NextConfirmationLr(low, Config(4), 2e-4, kPlenty), 1e-4);
  Confirm(&low, 1e-4, 1.0);
  // At lr_min already: nothing lower to try.
  EXPECT_FALSE(NextConfirmationLr(low, Config(4), 2e-4, kPlenty).has_value());
}

TEST(FirstStageConfirmationTest, RunsOnlyIfHalfAStageIsLeftAfterIt) {
  v1::Stage stage = FirstStage(100, 10);  // 40-step confirmations.
  EXPECT_TRUE(NextConfirmationLr(stage, Config(4), 0.1, 90).has_value());
  EXPECT_FALSE(NextConfirmationLr(stage, Config(4), 0.1, 89).has_value());
}

}  // namespace
}  // namespace autolrs::server
