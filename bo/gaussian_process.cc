#include "bo/gaussian_process.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "Eigen/Cholesky"
#include "Eigen/Core"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "bo/golden_section.h"

namespace autolrs::bo {

double Matern52(double r) {
  const double a = 2.23606797749978969641 * r;  // sqrt(5) r
  return (1.0 + a + a * a / 3.0) * std::exp(-a);
}

namespace {

constexpr double kLog2Pi = 1.83787706640934548356;
constexpr double kNegInf = -std::numeric_limits<double>::infinity();

// Targets standardized relative to their magnitude m = max|y|:
// y = magnitude * (mean + scale * normalized).
struct Normalization {
  double magnitude = 1;
  double mean = 0;
  double scale = 1;
  Eigen::VectorXd normalized;
};

Normalization Normalize(const std::vector<double>& y) {
  Normalization out;
  const int n = static_cast<int>(y.size());
  double magnitude = 0;
  for (double v : y) magnitude = std::max(magnitude, std::abs(v));
  if (magnitude > 0) out.magnitude = magnitude;
  Eigen::VectorXd z(n);
  for (int i = 0; i < n; ++i) z[i] = y[i] / out.magnitude;  // in [-1, 1]
  out.mean = z.mean();
  const double stddev = std::sqrt((z.array() - out.mean).square().mean());
  // Below this, the spread is rounding noise of the magnitude: treat as constant.
  out.scale = stddev > 1e-12 ? stddev : 1.0;
  out.normalized = (z.array() - out.mean) / out.scale;
  return out;
}

// The Matern 5/2 correlation matrix of x for a length scale (symmetric, unit
// diagonal). Scalar std::exp on the upper triangle: faster here than Eigen's
// vectorized exp over the full matrix, and without temporaries.
void FillCorrelation(const std::vector<double>& x, double length_scale, Eigen::MatrixXd* r) {
  const int n = static_cast<int>(x.size());
  r->resize(n, n);
  const double inv = 1.0 / length_scale;
  for (int j = 0; j < n; ++j) {
    (*r)(j, j) = 1.0;
    for (int i = 0; i < j; ++i) {
      (*r)(i, j) = (*r)(j, i) = Matern52(std::abs(x[i] - x[j]) * inv);
    }
  }
}

absl::Status ValidateData(const std::vector<double>& x, const std::vector<double>& y) {
  if (x.empty()) return absl::InvalidArgumentError("no training points");
  if (x.size() != y.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("x has ", x.size(), " points but y has ", y.size(), " targets"));
  }
  for (size_t i = 0; i < x.size(); ++i) {
    if (!std::isfinite(x[i]) || !std::isfinite(y[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat("training point ", i, " is not finite: x=", x[i], " y=", y[i]));
    }
  }
  return absl::OkStatus();
}

// The fit's search state: a point in (log length scale, log noise ratio).
struct Candidate {
  double log_length = 0;
  double log_ratio = 0;
  double value = kNegInf;
  double amplitude = 1;
};

class LikelihoodSearch {
 public:
  LikelihoodSearch(const std::vector<double>& x, const Eigen::VectorXd& y,
                   const GpFitOptions& options)
      : x_(x), y_(y), options_(options) {}

  // The correlation matrix for a length scale (cached for the last one, since
  // the noise-ratio search keeps it fixed).
  const Eigen::MatrixXd& Correlation(double log_length) {
    if (log_length != cached_log_length_ || cached_.size() == 0) {
      FillCorrelation(x_, std::exp(log_length), &cached_);
      cached_log_length_ = log_length;
    }
    return cached_;
  }

  // Sets c->value to the log marginal likelihood of the normalized targets
  // under covariance amplitude * (R + ratio * I), with the amplitude profiled
  // out: its maximizer y^T (R + ratio I)^-1 y / n, clamped to its bounds, is
  // stored in c->amplitude. -inf if the matrix is not positive definite.
  void Evaluate(Candidate* c) {
    const int n = static_cast<int>(y_.size());
    const double ratio = std::exp(c->log_ratio);
    llt_.compute(Correlation(c->log_length) + ratio * Eigen::MatrixXd::Identity(n, n));
    c->value = kNegInf;
    if (llt_.info() != Eigen::Success) return;
    w_ = y_;
    llt_.matrixL().solveInPlace(w_);
    const double q = w_.squaredNorm();
    const double log_det = 2.0 * llt_.matrixLLT().diagonal().array().log().sum();
    if (!std::isfinite(log_det)) return;
    const double s = std::clamp(q / n, options_.min_amplitude, options_.max_amplitude);
    c->amplitude = s;
    c->value = -0.5 * (q / s + n * std::log(s) + log_det + n * kLog2Pi);
  }

  // Maximizes over one coordinate (0: length, 1: ratio) by golden-section
  // search on [center - half_width, center + half_width] clamped to [lo, hi].
  // Keeps *c if nothing better is found.
  void LineSearch(Candidate* c, int coordinate, double half_width, double lo, double hi) {
    auto at = [&](double v) {
      Candidate t = *c;
      (coordinate == 0 ? t.log_length : t.log_ratio) = v;
      Evaluate(&t);
      return t;
    };
    const double center = coordinate == 0 ? c->log_length : c->log_ratio;
    double a = std::max(lo, center - half_width);
    double b = std::min(hi, center + half_width);
    constexpr double kTolerance = 0.05;  // in log units: about 5 percent
    const Candidate best = GoldenSectionMaximize(a, b, kTolerance, std::numeric_limits<int>::max(),
                                                 at, [](const Candidate& t) { return t.value; })
                               .second;
    if (best.value > c->value) *c = best;
  }

 private:
  const std::vector<double>& x_;
  const Eigen::VectorXd& y_;
  const GpFitOptions& options_;
  Eigen::MatrixXd cached_;
  double cached_log_length_ = 0;
  Eigen::LLT<Eigen::MatrixXd> llt_;
  Eigen::VectorXd w_;
};

absl::Status ValidateFitOptions(const GpFitOptions& o) {
  auto bad_range = [](double lo, double hi) {
    return !(std::isfinite(lo) && std::isfinite(hi) && lo > 0 && lo <= hi);
  };
  if (bad_range(o.min_length_scale, o.max_length_scale)) {
    return absl::InvalidArgumentError("length scale bounds must be finite with 0 < min <= max");
  }
  if (bad_range(o.min_amplitude, o.max_amplitude)) {
    return absl::InvalidArgumentError("amplitude bounds must be finite with 0 < min <= max");
  }
  if (bad_range(o.min_noise_ratio, o.max_noise_ratio)) {
    return absl::InvalidArgumentError("noise ratio bounds must be finite with 0 < min <= max");
  }
  if (o.restarts < 1) {
    return absl::InvalidArgumentError("restarts must be at least 1");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<GaussianProcess> GaussianProcess::Create(std::vector<double> x,
                                                        std::vector<double> y,
                                                        const GpHyperparameters& hyper) {
  if (absl::Status s = ValidateData(x, y); !s.ok()) return s;
  if (!(std::isfinite(hyper.length_scale) && hyper.length_scale > 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("length_scale must be finite and > 0, got ", hyper.length_scale));
  }
  if (!(std::isfinite(hyper.amplitude) && hyper.amplitude > 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("amplitude must be finite and > 0, got ", hyper.amplitude));
  }
  if (!(std::isfinite(hyper.noise) && hyper.noise >= 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("noise must be finite and >= 0, got ", hyper.noise));
  }
  GaussianProcess gp;
  Normalization norm = Normalize(y);
  gp.y_magnitude_ = norm.magnitude;
  gp.y_mean_ = norm.mean;
  gp.y_scale_ = norm.scale;
  gp.y_normalized_ = std::move(norm.normalized);
  gp.hyper_ = hyper;
  gp.x_ = std::move(x);

  const int n = static_cast<int>(gp.x_.size());
  Eigen::MatrixXd k;
  FillCorrelation(gp.x_, hyper.length_scale, &k);
  k *= hyper.amplitude;
  k.diagonal().array() += hyper.noise;
  // Jitter fallback: 0, then 1e-10 .. 1 times the amplitude.
  double jitter = 0;
  for (int attempt = 0;; ++attempt) {
    Eigen::MatrixXd kj = k;
    kj.diagonal().array() += jitter;
    Eigen::LLT<Eigen::MatrixXd> llt(kj);
    if (llt.info() == Eigen::Success && (llt.matrixLLT().diagonal().array() > 0).all()) {
      gp.cholesky_ = llt.matrixL();
      gp.alpha_ = llt.solve(gp.y_normalized_);
      break;
    }
    if (attempt == 11) {
      return absl::InternalError("covariance matrix is not positive definite even with jitter");
    }
    jitter = hyper.amplitude * std::pow(10.0, attempt - 10);
  }
  gp.jitter_ = jitter;
  const double log_det = 2.0 * gp.cholesky_.diagonal().array().log().sum();
  gp.log_marginal_likelihood_ = -0.5 * (gp.y_normalized_.dot(gp.alpha_) + log_det + n * kLog2Pi);
  return gp;
}

absl::StatusOr<GaussianProcess> GaussianProcess::Fit(std::vector<double> x, std::vector<double> y,
                                                     const GpFitOptions& options) {
  if (absl::Status s = ValidateData(x, y); !s.ok()) return s;
  if (absl::Status s = ValidateFitOptions(options); !s.ok()) return s;

  const Eigen::VectorXd normalized = Normalize(y).normalized;
  LikelihoodSearch search(x, normalized, options);
  const double length_lo = std::log(options.min_length_scale);
  const double length_hi = std::log(options.max_length_scale);
  const double ratio_lo = std::log(options.min_noise_ratio);
  const double ratio_hi = std::log(options.max_noise_ratio);

  // Coarse grid, length-major so that each correlation matrix is built once.
  constexpr int kLengthGrid = 8;
  constexpr int kRatioGrid = 5;
  const double length_step = (length_hi - length_lo) / (kLengthGrid - 1);
  const double ratio_step = (ratio_hi - ratio_lo) / (kRatioGrid - 1);
  std::vector<Candidate> grid;
  grid.reserve(kLengthGrid * kRatioGrid);
  for (int i = 0; i < kLengthGrid; ++i) {
    for (int j = 0; j < kRatioGrid; ++j) {
      Candidate c;
      c.log_length = length_lo + i * length_step;
      c.log_ratio = ratio_lo + j * ratio_step;
      search.Evaluate(&c);
      grid.push_back(c);
    }
  }
  // Best first; ties keep grid order, so the result is deterministic.
  std::stable_sort(grid.begin(), grid.end(),
                   [](const Candidate& a, const Candidate& b) { return a.value > b.value; });

  Candidate best = grid.front();
  const int starts = std::min<int>(options.restarts, grid.size());
  for (int s = 0; s < starts; ++s) {
    Candidate c = grid[s];
    if (!std::isfinite(c.value)) break;
    // Coordinate sweeps with brackets of one grid step, then narrower.
    for (int sweep = 0; sweep < 3; ++sweep) {
      const double shrink = 1.0 / (1 << sweep);
      search.LineSearch(&c, 0, length_step * shrink, length_lo, length_hi);
      search.LineSearch(&c, 1, ratio_step * shrink, ratio_lo, ratio_hi);
    }
    if (c.value > best.value) best = c;
  }

  GpHyperparameters hyper;
  if (std::isfinite(best.value)) {
    hyper.length_scale = std::exp(best.log_length);
    hyper.amplitude = best.amplitude;
    hyper.noise = best.amplitude * std::exp(best.log_ratio);
  } else {
    // Nothing factorized (only possible with extreme bounds): fall back to the
    // middle of the box and let Create's jitter handle it.
    hyper.length_scale = std::sqrt(options.min_length_scale * options.max_length_scale);
    hyper.amplitude = std::sqrt(options.min_amplitude * options.max_amplitude);
    hyper.noise = hyper.amplitude * options.max_noise_ratio;
  }
  return Create(std::move(x), std::move(y), hyper);
}

void GaussianProcess::PredictNormalized(const Eigen::VectorXd& xs, Eigen::VectorXd* mean,
                                        Eigen::VectorXd* stddev) const {
  const int n = static_cast<int>(x_.size());
  const int m = static_cast<int>(xs.size());
  mean->resize(m);
  stddev->resize(m);
  const double inv = 1.0 / hyper_.length_scale;
  // Chunks of test points keep the temporaries small (large Eigen temporaries
  // cost a page fault per page on every call).
  constexpr int kChunk = 32;
  Eigen::MatrixXd k(n, kChunk);
  for (int start = 0; start < m; start += kChunk) {
    const int count = std::min(kChunk, m - start);
    for (int j = 0; j < count; ++j) {
      for (int i = 0; i < n; ++i) {
        k(i, j) = hyper_.amplitude * Matern52(std::abs(xs[start + j] - x_[i]) * inv);
      }
    }
    auto block = k.leftCols(count);
    mean->segment(start, count).noalias() = block.transpose() * alpha_;
    cholesky_.triangularView<Eigen::Lower>().solveInPlace(block);
    for (int j = 0; j < count; ++j) {
      const double variance = hyper_.amplitude - block.col(j).squaredNorm();
      (*stddev)[start + j] = std::sqrt(std::max(variance, 0.0));
    }
  }
}

GpPrediction GaussianProcess::PredictNormalized(double x) const {
  Eigen::VectorXd xs(1);
  xs[0] = x;
  Eigen::VectorXd mean, stddev;
  PredictNormalized(xs, &mean, &stddev);
  return {mean[0], stddev[0]};
}

GpPrediction GaussianProcess::Predict(double x) const {
  const GpPrediction p = PredictNormalized(x);
  return {y_magnitude_ * (y_mean_ + y_scale_ * p.mean), y_magnitude_ * y_scale_ * p.stddev};
}

}  // namespace autolrs::bo
