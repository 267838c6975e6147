#include "bo/gaussian_process.h"

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "Eigen/Cholesky"
#include "Eigen/Core"
#include "absl/status/status.h"
#include "gtest/gtest.h"

namespace autolrs::bo {
namespace {

// Standard normal draws that are the same on every platform (Box-Muller on
// mt19937_64 bits; std::normal_distribution is implementation-defined).
class Normal {
 public:
  explicit Normal(uint64_t seed) : rng_(seed) {}
  double Uniform() { return ((rng_() >> 11) + 0.5) * 0x1.0p-53; }
  double operator()() {
    const double r = std::sqrt(-2.0 * std::log(Uniform()));
    return r * std::cos(2.0 * M_PI * Uniform());
  }

 private:
  std::mt19937_64 rng_;
};

// Draws y ~ GP(0, Matern52(length) + noise I) at x.
std::vector<double> SamplePrior(const std::vector<double>& x, double length, double noise,
                                uint64_t seed) {
  const int n = x.size();
  Eigen::MatrixXd k(n, n);
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < n; ++j) {
      k(i, j) = Matern52(std::abs(x[i] - x[j]) / length) + (i == j ? noise : 0);
    }
  }
  const Eigen::MatrixXd l = k.llt().matrixL();
  Normal normal(seed);
  Eigen::VectorXd z(n);
  for (int i = 0; i < n; ++i) z[i] = normal();
  const Eigen::VectorXd y = l * z;
  return std::vector<double>(y.data(), y.data() + n);
}

TEST(Matern52Test, KnownValues) {
  EXPECT_DOUBLE_EQ(Matern52(0.0), 1.0);
  // (1 + sqrt(5) + 5/3) * exp(-sqrt(5)).
  EXPECT_NEAR(Matern52(1.0), 0.5239941088318203, 1e-15);
  EXPECT_LT(Matern52(2.0), Matern52(1.0));
  EXPECT_GT(Matern52(10.0), 0.0);
}

TEST(GaussianProcessTest, MatchesHandComputedTwoPointPosterior) {
  // y = {1, 3} normalizes to {-1, 1} (mean 2, population stddev 1).
  const GpHyperparameters hyper{/*length_scale=*/0.5, /*amplitude=*/2.0,
                                /*noise=*/0.1};
  absl::StatusOr<GaussianProcess> gp = GaussianProcess::Create({0.0, 1.0}, {1.0, 3.0}, hyper);
  ASSERT_TRUE(gp.ok()) << gp.status();
  EXPECT_DOUBLE_EQ(gp->target_mean(), 2.0);
  EXPECT_DOUBLE_EQ(gp->target_scale(), 1.0);
  EXPECT_EQ(gp->jitter(), 0.0);

  // By hand: K = [[d, c], [c, d]], d = 2 + 0.1, c = 2 Matern52(1 / 0.5);
  // k* = 2 [Matern52(0.25 / 0.5), Matern52(0.75 / 0.5)] at x* = 0.25.
  const double d = 2.1;
  const double c = 2 * Matern52(2.0);
  const double det = d * d - c * c;
  const double k0 = 2 * Matern52(0.5), k1 = 2 * Matern52(1.5);
  // K^-1 = [[d, -c], [-c, d]] / det; alpha = K^-1 [-1, 1].
  const double a0 = (-d - c) / det, a1 = (c + d) / det;
  const double mean = 2.0 + k0 * a0 + k1 * a1;
  const double var = 2.0 - (d * k0 * k0 - 2 * c * k0 * k1 + d * k1 * k1) / det;
  const double lml = -0.5 * (-a0 + a1) - 0.5 * std::log(det) - std::log(2 * M_PI);

  const GpPrediction p = gp->Predict(0.25);
  EXPECT_NEAR(p.mean, mean, 1e-12);
  EXPECT_NEAR(p.stddev, std::sqrt(var), 1e-12);
  EXPECT_NEAR(gp->log_marginal_likelihood(), lml, 1e-12);
  // The same numbers, computed independently in double precision.
  EXPECT_NEAR(p.mean, 1.4014462195837927, 1e-12);
  EXPECT_NEAR(p.stddev, 0.7959676444965816, 1e-12);
  EXPECT_NEAR(gp->log_marginal_likelihood(), -3.1196607024725385, 1e-12);

  const GpPrediction pn = gp->PredictNormalized(0.25);
  EXPECT_NEAR(pn.mean, mean - 2.0, 1e-12);
  EXPECT_NEAR(pn.stddev, std::sqrt(var), 1e-12);
}

TEST(GaussianProcessTest, BatchPredictionMatchesSinglePoints) {
  absl::StatusOr<GaussianProcess> gp =
      GaussianProcess::Create({0.1, 0.4, 0.45, 0.9}, {3.0, 1.0, 1.5, 4.0}, {0.2, 1.5, 1e-3});
  ASSERT_TRUE(gp.ok()) << gp.status();
  Eigen::VectorXd xs = Eigen::VectorXd::LinSpaced(11, -0.5, 1.5);
  Eigen::VectorXd mean, stddev;
  gp->PredictNormalized(xs, &mean, &stddev);
  ASSERT_EQ(mean.size(), 11);
  ASSERT_EQ(stddev.size(), 11);
  for (int i = 0; i < 11; ++i) {
    const GpPrediction p = gp->PredictNormalized(xs[i]);
    EXPECT_DOUBLE_EQ(mean[i], p.mean);
    EXPECT_DOUBLE_EQ(stddev[i], p.stddev);
  }
}

TEST(GaussianProcessTest, InterpolatesWithTinyNoise) {
  const std::vector<double> x = {0.0, 0.3, 0.7, 1.0};
  const std::vector<double> y = {2.0, -1.0, 0.5, 3.0};
  absl::StatusOr<GaussianProcess> gp = GaussianProcess::Create(x, y, {0.3, 1.0, 1e-10});
  ASSERT_TRUE(gp.ok()) << gp.status();
  for (size_t i = 0; i < x.size(); ++i) {
    const GpPrediction p = gp->Predict(x[i]);
    EXPECT_NEAR(p.mean, y[i], 1e-6);
    EXPECT_LT(p.stddev, 1e-3);
  }
  EXPECT_GT(gp->Predict(0.5).stddev, 0.05);
}

TEST(GaussianProcessTest, RevertsToPriorFarFromData) {
  absl::StatusOr<GaussianProcess> gp =
      GaussianProcess::Create({0.0, 1.0, 2.0}, {1.0, 2.0, 6.0}, {0.5, 4.0, 0});
  ASSERT_TRUE(gp.ok()) << gp.status();
  const GpPrediction p = gp->Predict(1000.0);
  EXPECT_NEAR(p.mean, gp->target_mean(), 1e-12);
  EXPECT_NEAR(p.mean, 3.0, 1e-12);
  EXPECT_NEAR(p.stddev, 2.0 * gp->target_scale(), 1e-12);
}

TEST(GaussianProcessTest, JitterRescuesDuplicateInputsWithoutNoise) {
  absl::StatusOr<GaussianProcess> gp =
      GaussianProcess::Create({0.5, 0.5, 0.2}, {1.0, 1.0, 2.0}, {0.3, 1.0, /*noise=*/0.0});
  ASSERT_TRUE(gp.ok()) << gp.status();
  EXPECT_GT(gp->jitter(), 0.0);
  EXPECT_LE(gp->jitter(), 1e-6);
  const GpPrediction p = gp->Predict(0.5);
  EXPECT_NEAR(p.mean, 1.0, 1e-3);
  EXPECT_TRUE(std::isfinite(p.stddev));
}

TEST(GaussianProcessTest, HugeTargetsDoNotOverflow) {
  const std::vector<double> y = {DBL_MAX, -DBL_MAX, 1e308, -1e300};
  absl::StatusOr<GaussianProcess> gp =
      GaussianProcess::Create({0.0, 0.3, 0.6, 1.0}, y, {0.3, 1.0, 1e-6});
  ASSERT_TRUE(gp.ok()) << gp.status();
  EXPECT_TRUE(std::isfinite(gp->target_mean()));
  EXPECT_TRUE(std::isfinite(gp->target_scale()));
  const Eigen::VectorXd& z = gp->normalized_targets();
  EXPECT_NEAR(z.mean(), 0.0, 1e-12);
  EXPECT_NEAR(std::sqrt(z.array().square().mean()), 1.0, 1e-12);
  EXPECT_GT(z[0], z[2]);
  EXPECT_LT(z[1], z[3]);
  const GpPrediction p = gp->Predict(0.45);
  EXPECT_TRUE(std::isfinite(p.mean));
  EXPECT_TRUE(std::isfinite(p.stddev));
}

TEST(GaussianProcessTest, ConstantTargetsNormalizeToZeros) {
  absl::StatusOr<GaussianProcess> gp = GaussianProcess::Fit({0.1, 0.5, 0.9}, {5.0, 5.0, 5.0});
  ASSERT_TRUE(gp.ok()) << gp.status();
  EXPECT_EQ(gp->normalized_targets().cwiseAbs().maxCoeff(), 0.0);
  EXPECT_DOUBLE_EQ(gp->Predict(0.3).mean, 5.0);
  EXPECT_DOUBLE_EQ(gp->Predict(100.0).mean, 5.0);
}

TEST(GaussianProcessTest, RejectsBadInput) {
  const GpHyperparameters ok;
  EXPECT_EQ(GaussianProcess::Create({}, {}, ok).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GaussianProcess::Create({1.0}, {1.0, 2.0}, ok).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GaussianProcess::Create({NAN}, {1.0}, ok).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GaussianProcess::Create({1.0}, {INFINITY}, ok).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GaussianProcess::Create({1.0}, {1.0}, {0.0, 1.0, 0.0}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GaussianProcess::Create({1.0}, {1.0}, {1.0, -1.0, 0.0}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GaussianProcess::Create({1.0}, {1.0}, {1.0, 1.0, NAN}).status().code(),
            absl::StatusCode::kInvalidArgument);
  GpFitOptions bad;
  bad.min_length_scale = 2;
  bad.max_length_scale = 1;
  EXPECT_EQ(GaussianProcess::Fit({1.0}, {1.0}, bad).status().code(),
            absl::StatusCode::kInvalidArgument);
  bad = GpFitOptions();
  bad.min_noise_ratio = 0;
  EXPECT_EQ(GaussianProcess::Fit({1.0}, {1.0}, bad).status().code(),
            absl::StatusCode::kInvalidArgument);
  bad = GpFitOptions();
  bad.restarts = 0;
  EXPECT_EQ(GaussianProcess::Fit({1.0}, {1.0}, bad).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Sampled data with a known length scale: 120 points over twenty length
// scales (over a much shorter domain the length scale is not identifiable).
TEST(GaussianProcessFitTest, RecoversKnownLengthScale) {
  for (double length : {0.05, 1.0, 5.0}) {
    double log_sum = 0;
    for (uint64_t seed = 1; seed <= 6; ++seed) {
      std::mt19937_64 rng(seed);
      std::vector<double> x(120);
      for (double& v : x) v = (rng() >> 11) * 0x1.0p-53 * 20.0 * length;
      const std::vector<double> y = SamplePrior(x, length, 1e-4, seed + 100);
      absl::StatusOr<GaussianProcess> gp = GaussianProcess::Fit(x, y);
      ASSERT_TRUE(gp.ok()) << gp.status();
      const double ratio = gp->hyperparameters().length_scale / length;
      EXPECT_GT(ratio, 0.7) << "length " << length << " seed " << seed;
      EXPECT_LT(ratio, 1.4) << "length " << length << " seed " << seed;
      EXPECT_LT(gp->hyperparameters().noise, 0.01);
      log_sum += std::log(ratio);
    }
    const double geometric_mean = std::exp(log_sum / 6);
    EXPECT_GT(geometric_mean, 0.85) << "length " << length;
    EXPECT_LT(geometric_mean, 1.15) << "length " << length;
  }
}

TEST(GaussianProcessFitTest, BeatsEveryPointOfAFineGridWithinBounds) {
  const std::vector<double> x = {0.0, 0.12, 0.3, 0.33, 0.5, 0.71, 0.8, 1.0};
  const std::vector<double> y = {3.0, 2.2, 1.1, 1.3, 0.9, 1.8, 2.5, 4.0};
  const GpFitOptions options;
  absl::StatusOr<GaussianProcess> fitted = GaussianProcess::Fit(x, y, options);
  ASSERT_TRUE(fitted.ok()) << fitted.status();
  const GpHyperparameters& h = fitted->hyperparameters();
  EXPECT_GE(h.length_scale, options.min_length_scale);
  EXPECT_LE(h.length_scale, options.max_length_scale);
  EXPECT_GE(h.amplitude, options.min_amplitude);
  EXPECT_LE(h.amplitude, options.max_amplitude);
  EXPECT_GE(h.noise, options.min_noise_ratio * h.amplitude * (1 - 1e-9));
  EXPECT_LE(h.noise, options.max_noise_ratio * h.amplitude * (1 + 1e-9));
  for (int i = 0; i <= 20; ++i) {
    for (int j = 0; j <= 20; ++j) {
      for (int k = 0; k <= 10; ++k) {
        GpHyperparameters g;
        g.length_scale = 0.01 * std::pow(1e4, i / 20.0);
        g.amplitude = 0.01 * std::pow(1e5, k / 10.0);
        g.noise = g.amplitude * 1e-6 * std::pow(1e8, j / 20.0);
        absl::StatusOr<GaussianProcess> other = GaussianProcess::Create(x, y, g);
        ASSERT_TRUE(other.ok());
        EXPECT_GE(fitted->log_marginal_likelihood(), other->log_marginal_likelihood() - 1e-3)
            << "length " << g.length_scale << " amplitude " << g.amplitude << " noise " << g.noise;
      }
    }
  }
}

TEST(GaussianProcessFitTest, IsDeterministic) {
  const std::vector<double> x = {0.9, 0.1, 0.5, 0.45};
  const std::vector<double> y = {1.0, 2.0, 0.5, 0.6};
  absl::StatusOr<GaussianProcess> a = GaussianProcess::Fit(x, y);
  absl::StatusOr<GaussianProcess> b = GaussianProcess::Fit(x, y);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->hyperparameters().length_scale, b->hyperparameters().length_scale);
  EXPECT_EQ(a->hyperparameters().noise, b->hyperparameters().noise);
  EXPECT_EQ(a->Predict(0.3).mean, b->Predict(0.3).mean);
}

}  // namespace
}  // namespace autolrs::bo
