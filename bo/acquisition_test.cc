#include "bo/acquisition.h"

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <random>
#include <vector>

#include "Eigen/Core"
#include "absl/status/status.h"
#include "gtest/gtest.h"

namespace autolrs::bo {
namespace {

BatchObjective Pointwise(std::function<double(double)> f) {
  return [f](const Eigen::VectorXd& xs, Eigen::VectorXd* values) {
    values->resize(xs.size());
    for (Eigen::Index i = 0; i < xs.size(); ++i) (*values)[i] = f(xs[i]);
  };
}

double Uniform(std::mt19937_64& rng) { return (rng() >> 11) * 0x1.0p-53; }

TEST(AcquisitionValueTest, LowerConfidenceBound) {
  AcquisitionParams p;
  p.kind = AcquisitionKind::kLowerConfidenceBound;
  p.kappa = 2.0;
  EXPECT_DOUBLE_EQ(AcquisitionValue(p, 1.0, 0.5), 0.0);
  EXPECT_DOUBLE_EQ(AcquisitionValue(p, -1.0, 0.25), 1.5);
  p.kappa = 1e6;  // the reference default: stddev dominates
  EXPECT_GT(AcquisitionValue(p, 100.0, 1e-3), AcquisitionValue(p, -100.0, 0.0));
}

TEST(AcquisitionValueTest, Exploration) {
  AcquisitionParams p;
  p.kind = AcquisitionKind::kExploration;
  EXPECT_DOUBLE_EQ(AcquisitionValue(p, -5.0, 0.3), 0.3);
  EXPECT_DOUBLE_EQ(AcquisitionValue(p, 5.0, 0.0), 0.0);
}

TEST(ExpectedImprovementTest, KnownValues) {
  // At mean == best: stddev * pdf(0).
  EXPECT_NEAR(ExpectedImprovement(0.0, 1.0, 0.0, 0.0), 0.3989422804014327, 1e-15);
  EXPECT_NEAR(ExpectedImprovement(3.0, 2.0, 3.0, 0.0), 2 * 0.3989422804014327, 1e-15);
  // No uncertainty: the plain improvement, or nothing.
  EXPECT_DOUBLE_EQ(ExpectedImprovement(-1.0, 0.0, 0.0, 0.0), 1.0);
  EXPECT_DOUBLE_EQ(ExpectedImprovement(1.0, 0.0, 0.0, 0.0), 0.0);
  // xi shifts the target.
  EXPECT_DOUBLE_EQ(ExpectedImprovement(-1.0, 0.0, 0.0, 0.25), 0.75);
  // Far worse than best: vanishes but stays >= 0 and finite.
  const double tiny = ExpectedImprovement(100.0, 1.0, 0.0, 0.0);
  EXPECT_GE(tiny, 0.0);
  EXPECT_LT(tiny, 1e-300);
}

TEST(ExpectedImprovementTest, MatchesNumericalIntegral) {
  const double mean = 0.3, stddev = 0.7, best = 0.5, xi = 0.01;
  // E[max(best - xi - f, 0)] by the trapezoid rule over +-12 stddev.
  double integral = 0;
  const int steps = 200000;
  const double lo = mean - 12 * stddev, hi = mean + 12 * stddev;
  const double h = (hi - lo) / steps;
  for (int i = 0; i <= steps; ++i) {
    const double f = lo + i * h;
    const double z = (f - mean) / stddev;
    const double density = std::exp(-0.5 * z * z) / (stddev * std::sqrt(2 * M_PI));
    const double w = (i == 0 || i == steps) ? 0.5 : 1.0;
    integral += w * h * std::max(best - xi - f, 0.0) * density;
  }
  EXPECT_NEAR(ExpectedImprovement(mean, stddev, best, xi), integral, 1e-8);
}

TEST(ExpectedImprovementTest, GrowsWithUncertaintyAndWithLowerMean) {
  EXPECT_LT(ExpectedImprovement(0.0, 0.1, 0.0, 0.01), ExpectedImprovement(0.0, 0.2, 0.0, 0.01));
  EXPECT_LT(ExpectedImprovement(0.1, 0.1, 0.0, 0.01), ExpectedImprovement(0.0, 0.1, 0.0, 0.01));
}

TEST(MaximizeOnIntervalTest, FindsInteriorMaximumPrecisely) {
  absl::StatusOr<IntervalMaximum> m = MaximizeOnInterval(
      Pointwise([](double x) { return -(x - 0.3137) * (x - 0.3137); }), 0.0, 1.0, {}, 0.0);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_NEAR(m->x, 0.3137, 1e-7);
  EXPECT_NEAR(m->value, 0.0, 1e-12);
}

TEST(MaximizeOnIntervalTest, FindsNarrowPeakBetweenGridPoints) {
  // Width well below a grid step, offset from every grid point.
  const double peak = 0.50123;
  absl::StatusOr<IntervalMaximum> m = MaximizeOnInterval(
      Pointwise([&](double x) { return std::exp(-(x - peak) * (x - peak) / (2 * 0.003 * 0.003)); }),
      0.0, 1.0, {}, 0.0);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_NEAR(m->x, peak, 1e-7);
}

TEST(MaximizeOnIntervalTest, MonotoneObjectiveEndsAtTheBound) {
  absl::StatusOr<IntervalMaximum> m =
      MaximizeOnInterval(Pointwise([](double x) { return x; }), -2.0, 3.0, {}, 0.0);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->x, 3.0);
  m = MaximizeOnInterval(Pointwise([](double x) { return -x; }), -2.0, 3.0, {}, 0.0);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->x, -2.0);
}

TEST(MaximizeOnIntervalTest, ExcludedMaximumMovesToTheNearestAllowedPoint) {
  const std::vector<double> excluded = {0.3, 1.0};
  absl::StatusOr<IntervalMaximum> m = MaximizeOnInterval(
      Pointwise([](double x) { return -(x - 0.31) * (x - 0.31); }), 0.0, 1.0, excluded, 0.05);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_GE(std::abs(m->x - 0.3), 0.05);
  EXPECT_NEAR(m->x, 0.35, 1e-9);
  // Increasing objective with the upper bound excluded: the ball's edge.
  m = MaximizeOnInterval(Pointwise([](double x) { return x; }), 0.0, 1.0, excluded, 0.05);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_GE(1.0 - m->x, 0.05);
  EXPECT_NEAR(m->x, 0.95, 1e-12);
}

TEST(MaximizeOnIntervalTest, ConstantObjectiveTiesGoToTheSmallestX) {
  absl::StatusOr<IntervalMaximum> m =
      MaximizeOnInterval(Pointwise([](double) { return 7.0; }), 0.0, 1.0, {0.0}, 0.1);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_GE(m->x, 0.1);
  EXPECT_NEAR(m->x, 0.1, 1e-12);
}

TEST(MaximizeOnIntervalTest, NonFiniteObjectiveStillGivesAFeasiblePoint) {
  const std::vector<double> excluded = {0.0, 0.5};
  for (double bad :
       {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity(),
        -std::numeric_limits<double>::infinity()}) {
    absl::StatusOr<IntervalMaximum> m =
        MaximizeOnInterval(Pointwise([&](double) { return bad; }), 0.0, 1.0, excluded, 0.2);
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_GE(m->x, 0.0);
    EXPECT_LE(m->x, 1.0);
    for (double e : excluded) EXPECT_GE(std::abs(m->x - e), 0.2);
  }
}

TEST(MaximizeOnIntervalTest, DegenerateIntervalIsItsOnlyPoint) {
  absl::StatusOr<IntervalMaximum> m =
      MaximizeOnInterval(Pointwise([](double x) { return x; }), 0.25, 0.25, {}, 0.0);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->x, 0.25);
}

TEST(MaximizeOnIntervalTest, ErrorsOnEmptyFeasibleSetAndBadArguments) {
  const BatchObjective f = Pointwise([](double x) { return x; });
  EXPECT_EQ(MaximizeOnInterval(f, 0.0, 1.0, {0.25, 0.75}, 0.3).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(MaximizeOnInterval(f, 1.0, 0.0, {}, 0.0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MaximizeOnInterval(f, 0.0, INFINITY, {}, 0.0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MaximizeOnInterval(f, 0.0, 1.0, {}, -1.0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MaximizeOnInterval(f, 0.0, 1.0, {NAN}, 0.1).status().code(),
            absl::StatusCode::kInvalidArgument);
  MaximizeOptions bad;
  bad.grid_points = 1;
  EXPECT_EQ(MaximizeOnInterval(f, 0.0, 1.0, {}, 0.0, bad).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Random wiggly objectives and random exclusions: the result is always
// feasible and at least as good as every feasible point of a fine grid, up to
// what a local search between grid points can miss.
TEST(MaximizeOnIntervalTest, FuzzFeasibleAndNearOptimal) {
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 2000; ++trial) {
    const double lo = -1.0 + 2.0 * Uniform(rng);
    const double hi = lo + 1e-3 + 3.0 * Uniform(rng);
    double a[3], w[3], phase[3];
    for (int k = 0; k < 3; ++k) {
      a[k] = Uniform(rng);
      w[k] = 1.0 + 20.0 * Uniform(rng);
      phase[k] = 6.3 * Uniform(rng);
    }
    auto f = [&](double x) {
      double s = 0;
      for (int k = 0; k < 3; ++k) s += a[k] * std::sin(w[k] * x + phase[k]);
      return s;
    };
    std::vector<double> excluded(rng() % 30);
    for (double& e : excluded) e = lo + (hi - lo) * Uniform(rng);
    if (!excluded.empty() && rng() % 4 == 0) excluded.push_back(hi);
    const double d = (hi - lo) * 0.01 * Uniform(rng);
    double grid_best = -INFINITY;
    for (int i = 0; i <= 4000; ++i) {
      const double x = lo + (hi - lo) * i / 4000;
      bool feasible = true;
      for (double e : excluded) feasible &= std::abs(x - e) >= d;
      if (feasible) grid_best = std::max(grid_best, f(x));
    }
    // Default options refine the 3 best grid maxima; refining all of them
    // must find the global maximum.
    MaximizeOptions all;
    all.refine_starts = 1000;
    for (const MaximizeOptions& options : {MaximizeOptions(), all}) {
      absl::StatusOr<IntervalMaximum> m =
          MaximizeOnInterval(Pointwise(f), lo, hi, excluded, d, options);
      ASSERT_TRUE(m.ok()) << m.status();
      ASSERT_GE(m->x, lo);
      ASSERT_LE(m->x, hi);
      for (double e : excluded) ASSERT_GE(std::abs(m->x - e), d) << trial;
      EXPECT_EQ(m->value, f(m->x));
      const double slack = options.refine_starts == 1000 ? 1e-9 : 2e-2;
      EXPECT_GE(m->value, grid_best - slack) << "trial " << trial;
    }
  }
}

}  // namespace
}  // namespace autolrs::bo
