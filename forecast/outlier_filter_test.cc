#include "forecast/outlier_filter.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace autolrs {
namespace forecast {
namespace {

std::vector<double> Steps(int n) {
  std::vector<double> t(n);
  std::iota(t.begin(), t.end(), 1.0);
  return t;
}

std::vector<int> All(int n) {
  std::vector<int> v(n);
  std::iota(v.begin(), v.end(), 0);
  return v;
}

bool Contains(const std::vector<int>& v, int x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

// A smooth decreasing curve with small seeded noise.
std::vector<double> Curve(int n, double noise, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> normal(0, noise);
  std::vector<double> y(n);
  for (int i = 0; i < n; ++i) y[i] = 1.0 + 0.5 * std::exp(-0.02 * i) + normal(rng);
  return y;
}

TEST(SmoothQuadraticTest, ReproducesAQuadratic) {
  const std::vector<double> t = Steps(20);
  std::vector<double> y;
  for (double v : t) y.push_back(0.5 - 0.03 * v + 0.001 * v * v);
  const std::vector<double> s = SmoothQuadratic(t, y, All(20));
  for (int i = 0; i < 20; ++i) EXPECT_NEAR(s[i], y[i], 1e-10);
}

TEST(SmoothQuadraticTest, IgnoresPointsNotKeptAndEvaluatesThemToo) {
  const std::vector<double> t = Steps(10);
  std::vector<double> y;
  for (double v : t) y.push_back(2.0 + 0.1 * v);
  y[4] = 100;  // not kept
  std::vector<int> kept = All(10);
  kept.erase(kept.begin() + 4);
  const std::vector<double> s = SmoothQuadratic(t, y, kept);
  EXPECT_NEAR(s[4], 2.5, 1e-10);
}

TEST(SmoothQuadraticTest, LowersTheDegreeForFewPoints) {
  const std::vector<double> t = {1, 2, 3};
  const std::vector<double> y = {1, 3, 2};
  std::vector<double> s = SmoothQuadratic(t, y, {0, 2});  // a line
  EXPECT_NEAR(s[1], 1.5, 1e-12);
  s = SmoothQuadratic(t, y, {1});  // a constant
  EXPECT_NEAR(s[0], 3, 1e-12);
  EXPECT_NEAR(s[2], 3, 1e-12);
  s = SmoothQuadratic(t, y, {});
  EXPECT_EQ(s, std::vector<double>(3, 0.0));
}

TEST(ReferenceOutlierFilterTest, DropsOutliersOnlyInTheFirstHalf) {
  const int n = 100;
  const std::vector<double> t = Steps(n);
  std::vector<double> y = Curve(n, 0.002, 1);
  for (int i : {5, 20, 40}) y[i] += 1.0;  // droppable
  y[80] += 1.0;                           // in the second half: kept
  const std::vector<int> kept = ReferenceOutlierFilter(t, y, ReferenceTrainingFilter());
  for (int i : {5, 20, 40}) EXPECT_FALSE(Contains(kept, i)) << i;
  EXPECT_TRUE(Contains(kept, 80));
  for (int i = 49; i < n; ++i) EXPECT_TRUE(Contains(kept, i)) << i;
  EXPECT_TRUE(std::is_sorted(kept.begin(), kept.end()));
  // 10 passes of round(3% of what is left) = 3 points at most per pass.
  EXPECT_GE(kept.size(), 70u);
}

TEST(ReferenceOutlierFilterTest, PassCountFollowsRoundHalfEven) {
  // 50 points: round(1.5) = 2 per pass, so one pass drops two of three
  // outliers (the two largest).
  const int n = 50;
  const std::vector<double> t = Steps(n);
  std::vector<double> y = Curve(n, 0.0, 1);
  y[3] += 3.0;
  y[6] += 2.0;
  y[9] += 1.0;
  ReferenceFilterOptions options;
  options.passes = 1;
  const std::vector<int> kept = ReferenceOutlierFilter(t, y, options);
  EXPECT_EQ(kept.size(), 48u);
  EXPECT_FALSE(Contains(kept, 3));
  EXPECT_FALSE(Contains(kept, 6));
  EXPECT_TRUE(Contains(kept, 9));
  // 10 points: round(0.3) = 0, so nothing is dropped (the reference code
  // would drop every droppable point here and empty short series).
  const std::vector<int> short_kept = ReferenceOutlierFilter(
      Steps(10), std::vector<double>(y.begin(), y.begin() + 10), ReferenceTrainingFilter());
  EXPECT_EQ(short_kept.size(), 10u);
}

TEST(ReferenceOutlierFilterTest, ValidationDropsOnlyTheWorstPoint) {
  const int n = 16;
  std::vector<double> t;
  for (int i = 1; i <= n; ++i) t.push_back(50.0 * i);
  std::vector<double> y = Curve(n, 0.0, 1);
  y[2] += 1.0;
  y[4] += 0.5;
  const std::vector<int> kept = ReferenceOutlierFilter(t, y, ReferenceValidationFilter());
  EXPECT_EQ(kept.size(), 15u);
  EXPECT_FALSE(Contains(kept, 2));
  // The worst point in the second half is not droppable: nothing goes.
  std::vector<double> y2 = Curve(n, 0.0, 1);
  y2[12] += 1.0;
  EXPECT_EQ(ReferenceOutlierFilter(t, y2, ReferenceValidationFilter()).size(), 16u);
}

TEST(ReferenceOutlierFilterTest, NeverEmptiesTheSeries) {
  for (int n : {0, 1, 2, 3, 4, 6, 40}) {
    ReferenceFilterOptions options;
    options.drop_count = 5;  // as aggressive as possible
    options.droppable_fraction = 1.0;
    options.passes = 50;
    const std::vector<int> kept =
        ReferenceOutlierFilter(Steps(n), std::vector<double>(Curve(n, 0.1, 2)), options);
    EXPECT_EQ(kept.size(), static_cast<size_t>(std::min(n, 3))) << n;
  }
}

TEST(RobustOutlierFilterTest, DropsSpikesAnywhere) {
  const int n = 100;
  std::vector<double> y = Curve(n, 0.01, 3);
  for (int i : {2, 50, 97}) y[i] += 0.5;
  y[70] -= 0.4;
  const std::vector<int> kept = RobustOutlierFilter(y);
  for (int i : {2, 50, 70, 97}) EXPECT_FALSE(Contains(kept, i)) << i;
  EXPECT_GE(kept.size(), 90u);
}

TEST(RobustOutlierFilterTest, KeepsCleanNoisySeries) {
  const std::vector<double> y = Curve(200, 0.01, 4);
  // Gaussian noise beyond 4 robust sigmas (of a median residual) is rare.
  EXPECT_GE(RobustOutlierFilter(y).size(), 198u);
}

TEST(RobustOutlierFilterTest, DropsAtMostTheAllowedFraction) {
  std::vector<double> y = Curve(40, 0.0, 5);
  for (int i = 0; i < 40; i += 4) y[i] += 1.0;  // 10 spikes
  RobustFilterOptions options;
  options.max_drop_fraction = 0.1;
  EXPECT_EQ(RobustOutlierFilter(y, options).size(), 36u);
}

TEST(RobustOutlierFilterTest, ShortSeriesAreUntouched) {
  std::vector<double> y = {1, 1, 100, 1, 1};
  EXPECT_EQ(RobustOutlierFilter(y).size(), 5u);
  y.push_back(1);                                // 6 points: long enough for a 5-point median
  EXPECT_EQ(RobustOutlierFilter(y).size(), 6u);  // 10% of 6 rounds down to 0
  y.resize(10, 1.0);
  const std::vector<int> kept = RobustOutlierFilter(y);
  EXPECT_EQ(kept.size(), 9u);
  EXPECT_FALSE(Contains(kept, 2));
}

}  // namespace
}  // namespace forecast
}  // namespace autolrs
