#ifndef AUTOLRS_BO_GAUSSIAN_PROCESS_H_
#define AUTOLRS_BO_GAUSSIAN_PROCESS_H_

#include <cstddef>
#include <vector>

#include "Eigen/Core"
#include "absl/status/statusor.h"

namespace autolrs::bo {

// A one-dimensional Gaussian-process regressor.
//
// Model, in normalized target units (targets y are standardized internally to
// zero mean and unit variance; see target_mean() and target_scale()):
//   f ~ GP(0, amplitude * Matern52(|x - x'| / length_scale))
//   y_i = f(x_i) + e_i,  e_i ~ N(0, noise)            (white noise)
// Inputs x are in whatever 1-D unit the caller chooses; the Optimizer passes
// log10(LR) mapped linearly onto [0, 1], which is what the default fit bounds
// (GpFitOptions) are scaled for.
//
// Thread-safety: immutable after construction; all const methods may be called
// concurrently.

// Matern 5/2 correlation at scaled distance r = |x - x'| / length_scale >= 0:
// (1 + sqrt(5) r + 5 r^2 / 3) * exp(-sqrt(5) r). Equals 1 at r = 0.
double Matern52(double r);

// Kernel hyperparameters, all in normalized target units.
struct GpHyperparameters {
  double length_scale = 1.0;  // input units, finite, > 0
  double amplitude = 1.0;     // signal variance, finite, > 0
  double noise = 1e-6;        // white-noise variance, finite, >= 0
};

// Box bounds for the maximum-likelihood fit. The amplitude is profiled out
// analytically (its optimum for given length scale and noise ratio has a closed
// form, clamped to its bounds); the search runs over log(length_scale) and
// log(noise / amplitude).
struct GpFitOptions {
  double min_length_scale = 0.01;
  double max_length_scale = 100.0;
  double min_amplitude = 0.01;
  double max_amplitude = 1000.0;
  double min_noise_ratio = 1e-6;  // noise / amplitude
  double max_noise_ratio = 100.0;
  // Local searches started from the best points of a coarse grid (>= 1).
  int restarts = 2;
};

// Posterior of the latent function f at one point (observation noise excluded).
struct GpPrediction {
  double mean = 0;
  double stddev = 0;
};

class GaussianProcess {
 public:
  // A GP with the given hyperparameters. INVALID_ARGUMENT when x and y differ in
  // size, are empty, hold a non-finite number, or a hyperparameter is out of its
  // domain. If the covariance is not numerically positive definite, a growing
  // diagonal jitter is added (see jitter()); INTERNAL if even that fails.
  static absl::StatusOr<GaussianProcess> Create(std::vector<double> x, std::vector<double> y,
                                                const GpHyperparameters& hyper);

  // A GP whose hyperparameters maximize the log marginal likelihood of the
  // normalized targets within the bounds of `options`. Deterministic: a coarse
  // grid over the (log) bounds, then bounded coordinate-wise golden-section
  // searches from its `restarts` best points. Same errors as Create, plus
  // INVALID_ARGUMENT for inconsistent bounds.
  static absl::StatusOr<GaussianProcess> Fit(std::vector<double> x, std::vector<double> y,
                                             const GpFitOptions& options = {});

  // Posterior of f at `x`, in the original target units.
  GpPrediction Predict(double x) const;
  // Posterior of f at `x`, in normalized target units.
  GpPrediction PredictNormalized(double x) const;
  // Posterior of f at many points, in normalized target units. Faster per point
  // than PredictNormalized. `mean` and `stddev` are resized to xs.size().
  void PredictNormalized(const Eigen::VectorXd& xs, Eigen::VectorXd* mean,
                         Eigen::VectorXd* stddev) const;

  // Log marginal likelihood of the normalized targets under hyperparameters().
  double log_marginal_likelihood() const { return log_marginal_likelihood_; }
  const GpHyperparameters& hyperparameters() const { return hyper_; }
  // Extra diagonal variance that was needed for the Cholesky factorization
  // (0 in the usual case).
  double jitter() const { return jitter_; }
  // Normalization of the targets: y_normalized = (y - target_mean()) /
  // target_scale(), computed without overflow even for |y| near DBL_MAX. The
  // scale is the population standard deviation of y, or max|y| (1 if y is all
  // zero) when y is numerically constant, so that constant targets normalize
  // to zeros.
  double target_mean() const { return y_magnitude_ * y_mean_; }
  double target_scale() const { return y_magnitude_ * y_scale_; }
  const std::vector<double>& x() const { return x_; }
  const Eigen::VectorXd& normalized_targets() const { return y_normalized_; }
  size_t size() const { return x_.size(); }

 private:
  GaussianProcess() = default;

  std::vector<double> x_;
  Eigen::VectorXd y_normalized_;
  // y = y_magnitude_ * (y_mean_ + y_scale_ * y_normalized): the mean and scale
  // are kept relative to max|y| so that nothing overflows.
  double y_magnitude_ = 1;
  double y_mean_ = 0;
  double y_scale_ = 1;
  GpHyperparameters hyper_;
  double jitter_ = 0;
  Eigen::MatrixXd cholesky_;  // lower factor L of K + jitter*I = L L^T
  Eigen::VectorXd alpha_;     // (K + jitter*I)^-1 y_normalized
  double log_marginal_likelihood_ = 0;
};

}  // namespace autolrs::bo

#endif  // AUTOLRS_BO_GAUSSIAN_PROCESS_H_
