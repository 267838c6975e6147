#include "forecast/exponential_fit.h"

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"

namespace autolrs {
namespace forecast {
namespace {

struct Series {
  std::vector<double> t, y;
};

// y = a*exp(b*t) + c at t = t0, t0 + dt, ..., plus N(0, noise^2), seeded.
Series Make(double a, double b, double c, int n, double t0 = 1, double dt = 1, double noise = 0,
            unsigned seed = 7) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> normal(0, noise > 0 ? noise : 1);
  Series s;
  for (int i = 0; i < n; ++i) {
    const double t = t0 + i * dt;
    s.t.push_back(t);
    s.y.push_back(a * std::exp(b * t) + c + (noise > 0 ? normal(rng) : 0));
  }
  return s;
}

TEST(ExponentialFitTest, RecoversExactParameters) {
  const Series s = Make(2.0, -0.05, 0.3, 100);
  absl::StatusOr<ExponentialFit> fit = FitExponential(s.t, s.y);
  ASSERT_TRUE(fit.ok()) << fit.status();
  EXPECT_NEAR(fit->b, -0.05, 1e-5);
  EXPECT_NEAR(fit->a, 2.0, 1e-4);
  EXPECT_NEAR(fit->c, 0.3, 1e-5);
  EXPECT_LT(fit->sse, 1e-10);
  EXPECT_NEAR(fit->Evaluate(1000), 0.3, 1e-5);
}

TEST(ExponentialFitTest, RecoversFastAndSlowDecays) {
  for (double b : {-0.5, -0.2, -0.01}) {
    const Series s = Make(1.5, b, 0.2, 100);
    absl::StatusOr<ExponentialFit> fit = FitExponential(s.t, s.y);
    ASSERT_TRUE(fit.ok()) << fit.status();
    EXPECT_NEAR(fit->b, b, 1e-4 * std::abs(b)) << "b=" << b;
    EXPECT_NEAR(fit->a, 1.5, 1e-3) << "b=" << b;
    EXPECT_NEAR(fit->c, 0.2, 1e-3) << "b=" << b;
  }
}

TEST(ExponentialFitTest, RecoversParametersUnderNoise) {
  const Series s = Make(1.0, -0.04, 0.5, 200, 1, 1, /*noise=*/0.01);
  absl::StatusOr<ExponentialFit> fit = FitExponential(s.t, s.y);
  ASSERT_TRUE(fit.ok()) << fit.status();
  EXPECT_NEAR(fit->b, -0.04, 0.004);
  EXPECT_NEAR(fit->a, 1.0, 0.05);
  EXPECT_NEAR(fit->c, 0.5, 0.01);
  // The SSE is about n * noise^2.
  EXPECT_NEAR(fit->sse, 200 * 1e-4, 200 * 1e-4 * 0.3);
}

TEST(ExponentialFitTest, WorksOnValidationOffsetsAndLargeTimes) {
  // 16 evaluations every 50 steps of an 800-step probe.
  const Series s = Make(0.8, -0.004, 0.6, 16, 50, 50);
  absl::StatusOr<ExponentialFit> fit = FitExponential(s.t, s.y);
  ASSERT_TRUE(fit.ok()) << fit.status();
  EXPECT_NEAR(fit->b, -0.004, 1e-6);
  EXPECT_NEAR(fit->c, 0.6, 1e-5);
  // Far from t = 0 the amplitude at t = 0 may be huge; Evaluate stays exact.
  const Series late = Make(1e-30, -0.1, 0.2, 50, 600, 1);
  absl::StatusOr<ExponentialFit> late_fit = FitExponential(late.t, late.y);
  ASSERT_TRUE(late_fit.ok()) << late_fit.status();
  EXPECT_NEAR(late_fit->Evaluate(600), late.y[0], 1e-9);
  EXPECT_NEAR(late_fit->Evaluate(5000), 0.2, 1e-9);
}

TEST(ExponentialFitTest, EvaluateMatchesParameters) {
  const Series s = Make(3.0, -0.1, 1.0, 30, 1, 1, 0.05);
  absl::StatusOr<ExponentialFit> fit = FitExponential(s.t, s.y);
  ASSERT_TRUE(fit.ok()) << fit.status();
  for (double t : {1.0, 7.5, 30.0, 300.0}) {
    EXPECT_NEAR(fit->Evaluate(t), fit->a * std::exp(fit->b * t) + fit->c, 1e-9);
  }
  double sse = 0;
  for (size_t i = 0; i < s.t.size(); ++i) {
    sse += std::pow(s.y[i] - fit->Evaluate(s.t[i]), 2);
  }
  EXPECT_NEAR(fit->sse, sse, 1e-9);
}

TEST(ExponentialFitTest, NonNegativeConstraintOnC) {
  // True c is negative: unconstrained recovers it, constrained pins c = 0.
  const Series s = Make(2.0, -0.02, -0.5, 100);
  absl::StatusOr<ExponentialFit> free_fit = FitExponential(s.t, s.y);
  ASSERT_TRUE(free_fit.ok());
  EXPECT_NEAR(free_fit->c, -0.5, 1e-4);
  ExponentialFitOptions options;
  options.nonnegative_c = true;
  absl::StatusOr<ExponentialFit> fit = FitExponential(s.t, s.y, options);
  ASSERT_TRUE(fit.ok());
  EXPECT_EQ(fit->c, 0.0);
  EXPECT_LT(fit->b, 0.0);
  EXPECT_GT(fit->sse, free_fit->sse);
  // When the constraint is inactive it changes nothing.
  const Series pos = Make(2.0, -0.05, 0.3, 100);
  absl::StatusOr<ExponentialFit> pos_fit = FitExponential(pos.t, pos.y, options);
  ASSERT_TRUE(pos_fit.ok());
  EXPECT_NEAR(pos_fit->c, 0.3, 1e-5);
}

TEST(ExponentialFitTest, RateStaysWithinBounds) {
  const Series s = Make(2.0, -0.5, 0.3, 50);
  ExponentialFitOptions options;
  options.min_rate = 0.01;
  options.max_rate = 0.1;
  absl::StatusOr<ExponentialFit> fit = FitExponential(s.t, s.y, options);
  ASSERT_TRUE(fit.ok());
  EXPECT_GE(-fit->b, 0.01 * (1 - 1e-9));
  EXPECT_LE(-fit->b, 0.1 * (1 + 1e-9));
  EXPECT_NEAR(-fit->b, 0.1, 1e-3);  // the optimum is at the upper bound
}

TEST(ExponentialFitTest, IncreasingSeriesGivesNegativeAmplitude) {
  const Series s = Make(-1.0, -0.05, 2.0, 60);
  absl::StatusOr<ExponentialFit> fit = FitExponential(s.t, s.y);
  ASSERT_TRUE(fit.ok());
  EXPECT_NEAR(fit->a, -1.0, 1e-3);
  EXPECT_NEAR(fit->c, 2.0, 1e-4);
}

TEST(ExponentialFitTest, ConstantSeries) {
  const std::vector<double> t = {1, 2, 3, 4, 5};
  const std::vector<double> y(5, 0.7);
  absl::StatusOr<ExponentialFit> fit = FitExponential(t, y);
  ASSERT_TRUE(fit.ok());
  EXPECT_NEAR(fit->Evaluate(1000), 0.7, 1e-12);
  EXPECT_NEAR(fit->sse, 0, 1e-20);
  EXPECT_LT(fit->b, 0);
}

TEST(ExponentialFitTest, ThreePointsSuffice) {
  const Series s = Make(1.0, -0.3, 0.1, 3);
  absl::StatusOr<ExponentialFit> fit = FitExponential(s.t, s.y);
  ASSERT_TRUE(fit.ok());
  EXPECT_LT(fit->sse, 1e-12);
  EXPECT_NEAR(fit->b, -0.3, 1e-4);
}

TEST(ExponentialFitTest, RejectsBadInput) {
  const std::vector<double> t = {1, 2, 3, 4};
  const std::vector<double> y = {4, 3, 2, 1};
  EXPECT_EQ(FitExponential(t, {4, 3, 2}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FitExponential({1, 2}, {2, 1}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FitExponential({1, 2, 2, 3}, y).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FitExponential({1, 3, 2, 4}, y).status().code(), absl::StatusCode::kInvalidArgument);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(FitExponential(t, {4, nan, 2, 1}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FitExponential({1, 2, 3, std::numeric_limits<double>::infinity()}, y).status().code(),
            absl::StatusCode::kInvalidArgument);
  ExponentialFitOptions options;
  options.grid_points = 2;
  EXPECT_EQ(FitExponential(t, y, options).status().code(), absl::StatusCode::kInvalidArgument);
  options = {};
  options.min_rate = 1.0;
  options.max_rate = 0.1;
  EXPECT_EQ(FitExponential(t, y, options).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace forecast
}  // namespace autolrs
