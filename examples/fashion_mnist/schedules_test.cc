#include "examples/fashion_mnist/schedules.h"

#include <cmath>

#include "gtest/gtest.h"

namespace autolrs::examples {
namespace {

TEST(ParseBaselineScheduleTest, KnownAndUnknownNames) {
  EXPECT_EQ(*ParseBaselineSchedule("constant"), BaselineSchedule::kConstant);
  EXPECT_EQ(*ParseBaselineSchedule("step"), BaselineSchedule::kStep);
  EXPECT_EQ(*ParseBaselineSchedule("cosine"), BaselineSchedule::kCosine);
  EXPECT_EQ(*ParseBaselineSchedule("wsd"), BaselineSchedule::kWsd);
  EXPECT_EQ(ParseBaselineSchedule("autolrs").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseBaselineSchedule("").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(BaselineLearningRateTest, ConstantIsThePeakEverywhere) {
  for (int64_t t : {0, 1, 50, 99}) {
    EXPECT_EQ(BaselineLearningRate(BaselineSchedule::kConstant, 0.05, t, 100), 0.05);
  }
}

TEST(BaselineLearningRateTest, StepDecaysTenfoldAtHalfAndThreeQuarters) {
  const auto lr = [](int64_t t) {
    return BaselineLearningRate(BaselineSchedule::kStep, 0.1, t, 1000);
  };
  EXPECT_DOUBLE_EQ(lr(0), 0.1);
  EXPECT_DOUBLE_EQ(lr(499), 0.1);
  EXPECT_DOUBLE_EQ(lr(500), 0.01);
  EXPECT_DOUBLE_EQ(lr(749), 0.01);
  EXPECT_DOUBLE_EQ(lr(750), 0.001);
  EXPECT_DOUBLE_EQ(lr(999), 0.001);
}

TEST(BaselineLearningRateTest, StepWithOddTotalUsesFloors) {
  // S = 7: decays at t = 3 and t = 5.
  EXPECT_DOUBLE_EQ(BaselineLearningRate(BaselineSchedule::kStep, 1.0, 2, 7), 1.0);
  EXPECT_DOUBLE_EQ(BaselineLearningRate(BaselineSchedule::kStep, 1.0, 3, 7), 0.1);
  EXPECT_DOUBLE_EQ(BaselineLearningRate(BaselineSchedule::kStep, 1.0, 4, 7), 0.1);
  EXPECT_NEAR(BaselineLearningRate(BaselineSchedule::kStep, 1.0, 5, 7), 0.01, 1e-15);
}

TEST(BaselineLearningRateTest, WsdHoldsThePeakThenCoolsDownLinearlyOverTheSecondHalf) {
  const auto lr = [](int64_t t, int64_t s) {
    return BaselineLearningRate(BaselineSchedule::kWsd, 0.3, t, s);
  };
  // S = 10: the peak for steps 0-4, then 0.3 * 5/6, 4/6, ..., 1/6.
  for (int64_t t = 0; t < 5; ++t) EXPECT_EQ(lr(t, 10), 0.3) << t;
  for (int64_t k = 0; k < 5; ++k) EXPECT_NEAR(lr(5 + k, 10), 0.3 * (5 - k) / 6.0, 1e-15) << k;
  // S = 7: 3 steps at the peak, a 4-step cooldown (round(0.5 * 7), as the
  // server counts it).
  EXPECT_EQ(lr(2, 7), 0.3);
  EXPECT_NEAR(lr(3, 7), 0.3 * 4 / 5.0, 1e-15);
  EXPECT_NEAR(lr(6, 7), 0.3 / 5.0, 1e-15);
  // No step trains at LR 0; t past the end is clamped.
  EXPECT_NEAR(lr(99, 7), 0.3 / 5.0, 1e-15);
}

TEST(BaselineLearningRateTest, CosineFollowsTheFormula) {
  const int64_t s = 1000;
  EXPECT_DOUBLE_EQ(BaselineLearningRate(BaselineSchedule::kCosine, 0.2, 0, s), 0.2);
  EXPECT_NEAR(BaselineLearningRate(BaselineSchedule::kCosine, 0.2, 500, s), 0.1, 1e-15);
  EXPECT_NEAR(BaselineLearningRate(BaselineSchedule::kCosine, 0.2, 250, s),
              0.1 * (1 + std::cos(M_PI / 4)), 1e-15);
  const double last = BaselineLearningRate(BaselineSchedule::kCosine, 0.2, s - 1, s);
  EXPECT_GT(last, 0);
  EXPECT_LT(last, 1e-5);
  // Monotone non-increasing.
  double previous = 1;
  for (int64_t t = 0; t < s; ++t) {
    const double lr = BaselineLearningRate(BaselineSchedule::kCosine, 0.2, t, s);
    EXPECT_LE(lr, previous) << t;
    previous = lr;
  }
}

TEST(BaselineLearningRateTest, ClampsStepsOutsideTheRun) {
  EXPECT_DOUBLE_EQ(BaselineLearningRate(BaselineSchedule::kCosine, 0.2, -5, 10), 0.2);
  EXPECT_DOUBLE_EQ(BaselineLearningRate(BaselineSchedule::kStep, 1.0, 10, 10),
                   BaselineLearningRate(BaselineSchedule::kStep, 1.0, 9, 10));
}

}  // namespace
}  // namespace autolrs::examples
