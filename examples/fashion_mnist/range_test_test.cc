#include "examples/fashion_mnist/range_test.h"

#include <cmath>
#include <limits>

#include "gtest/gtest.h"

namespace autolrs::examples {
namespace {

TEST(RangeTestTest, LrGrowsExponentiallyFromMinToMax) {
  RangeTest t({1e-5, 10, 7, 4});
  EXPECT_DOUBLE_EQ(t.Lr(0), 1e-5);
  EXPECT_NEAR(t.Lr(6), 10, 1e-12);
  EXPECT_NEAR(t.Lr(3), 1e-5 * std::pow(1e6, 0.5), 1e-12);
}

TEST(RangeTestTest, RunsAllStepsWithoutDivergence) {
  RangeTest t({1e-5, 10, 5, 4});
  for (int i = 0; i < 4; ++i) EXPECT_FALSE(t.Add(1.0 - 0.1 * i));
  EXPECT_TRUE(t.Add(0.5));
  EXPECT_FALSE(t.diverged());
  // The smoothed loss is lowest at the last step: peak = its LR / 10.
  EXPECT_NEAR(t.SuggestedPeak(), 1.0, 1e-12);
}

TEST(RangeTestTest, SmoothingIsABiasCorrectedMovingAverage) {
  RangeTest t({1e-5, 10, 100, 4});
  EXPECT_DOUBLE_EQ(t.beta(), 0.95);
  t.Add(2.0);
  t.Add(1.0);
  EXPECT_DOUBLE_EQ(t.smoothed()[0], 2.0);
  const double avg = 0.95 * 0.05 * 2.0 + 0.05 * 1.0;
  EXPECT_NEAR(t.smoothed()[1], avg / (1 - 0.95 * 0.95), 1e-12);
}

TEST(RangeTestTest, StopsAtDivergenceAndSuggestsTheMinimumOverTen) {
  RangeTest t({1e-5, 10, 1000, 4});
  // Loss falls to 0.1 near 1e-2, then explodes.
  int64_t stopped = -1;
  for (int64_t i = 0; i < 1000; ++i) {
    const double x = std::log10(t.Lr(i));
    const double loss = x < -2 ? 0.1 + (x + 2) * (x + 2) : 0.1 * std::pow(10.0, 3 * (x + 2));
    if (t.Add(loss)) {
      stopped = i;
      break;
    }
  }
  ASSERT_GE(stopped, 0);
  EXPECT_TRUE(t.diverged());
  EXPECT_LT(stopped, 999);
  // The smoothed minimum lags the raw one (1e-2) a little: peak in [1e-3, 1e-2].
  EXPECT_GE(t.SuggestedPeak(), 1e-3);
  EXPECT_LE(t.SuggestedPeak(), 1e-2 / 2);
}

TEST(RangeTestTest, NonFiniteLossStops) {
  RangeTest t({1e-5, 10, 10, 4});
  EXPECT_FALSE(t.Add(1.0));
  EXPECT_TRUE(t.Add(std::numeric_limits<double>::quiet_NaN()));
  EXPECT_TRUE(t.diverged());
  EXPECT_DOUBLE_EQ(t.SuggestedPeak(), 1e-6);
}

}  // namespace
}  // namespace autolrs::examples
