#include "bo/optimizer.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "Eigen/Core"
#include "absl/base/casts.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "bo/acquisition.h"
#include "bo/gaussian_process.h"

namespace autolrs::bo {
namespace {

// The maximizer keeps this much more distance than promised, so that the
// u -> log10 -> linear LR round trip cannot break the promise.
constexpr double kSeparationMargin = 1.05;
// EI's exploration margin, in normalized target units.
constexpr double kExpectedImprovementXi = 0.01;

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Uniform in [0, 1), a fixed function of (seed, count) on every platform.
double SeededUniform(uint64_t seed, uint64_t count) {
  const uint64_t bits = SplitMix64(seed ^ SplitMix64(count));
  return static_cast<double>(bits >> 11) * 0x1.0p-53;
}

absl::Status ValidateOptions(const OptimizerOptions& o) {
  if (!(std::isfinite(o.lr_min) && o.lr_min > 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("lr_min must be finite and > 0, got ", o.lr_min));
  }
  if (!(std::isfinite(o.lr_max) && o.lr_max > o.lr_min)) {
    return absl::InvalidArgumentError(
        absl::StrCat("lr_max must be finite and > lr_min = ", o.lr_min, ", got ", o.lr_max));
  }
  if (!(std::log10(o.lr_max) - std::log10(o.lr_min) >= Optimizer::kMinLog10Span)) {
    return absl::InvalidArgumentError(
        absl::StrCat("log10(lr_max / lr_min) must be at least ", Optimizer::kMinLog10Span,
                     ", got lr_min = ", o.lr_min, ", lr_max = ", o.lr_max));
  }
  switch (o.acquisition) {
    case AcquisitionKind::kLowerConfidenceBound:
    case AcquisitionKind::kExpectedImprovement:
    case AcquisitionKind::kExploration:
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("unknown acquisition ", static_cast<int>(o.acquisition)));
  }
  if (!(std::isfinite(o.kappa) && o.kappa > 0)) {
    return absl::InvalidArgumentError(absl::StrCat("kappa must be finite and > 0, got ", o.kappa));
  }
  if (!(o.min_separation_fraction >= Optimizer::kMinSeparationFraction &&
        o.min_separation_fraction <= 0.25)) {
    return absl::InvalidArgumentError(absl::StrCat("min_separation_fraction must be in [",
                                                   Optimizer::kMinSeparationFraction,
                                                   ", 0.25], got ", o.min_separation_fraction));
  }
  switch (o.choice) {
    case ChoiceRule::kLowestObserved:
    case ChoiceRule::kPosteriorMinimum:
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("unknown choice ", static_cast<int>(o.choice)));
  }
  return absl::OkStatus();
}

absl::Status ValidateLr(const OptimizerOptions& o, double lr, absl::string_view what) {
  if (!std::isfinite(lr) || lr < o.lr_min || lr > o.lr_max) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " = ", lr, " is not within [lr_min, lr_max] = [", o.lr_min, ", ", o.lr_max, "]"));
  }
  return absl::OkStatus();
}

// --- Serialization helpers -------------------------------------------------

}  // namespace

Optimizer::Optimizer(const OptimizerOptions& options, std::vector<Observation> observations)
    : options_(options),
      observations_(std::move(observations)),
      log10_min_(std::log10(options.lr_min)),
      log10_span_(std::log10(options.lr_max) - std::log10(options.lr_min)) {}

absl::StatusOr<Optimizer> Optimizer::Create(const OptimizerOptions& options,
                                            std::vector<Observation> observations) {
  if (absl::Status s = ValidateOptions(options); !s.ok()) return s;
  for (size_t i = 0; i < observations.size(); ++i) {
    absl::Status s =
        ValidateLr(options, observations[i].lr, absl::StrCat("observations[", i, "].lr"));
    if (!s.ok()) return s;
  }
  return Optimizer(options, std::move(observations));
}

double Optimizer::ToUnit(double lr) const {
  return std::clamp((std::log10(lr) - log10_min_) / log10_span_, 0.0, 1.0);
}

double Optimizer::FromUnit(double u) const {
  if (u <= 0) return options_.lr_min;
  if (u >= 1) return options_.lr_max;
  return std::clamp(std::pow(10.0, log10_min_ + u * log10_span_), options_.lr_min, options_.lr_max);
}

std::vector<double> Optimizer::GpTargets() const {
  double magnitude = 0;
  bool any_finite = false;
  for (const Observation& o : observations_) {
    if (std::isfinite(o.value)) {
      any_finite = true;
      magnitude = std::max(magnitude, std::abs(o.value));
    }
  }
  if (magnitude == 0) magnitude = 1;
  double hi = -std::numeric_limits<double>::infinity();
  double lo = std::numeric_limits<double>::infinity();
  std::vector<double> targets(observations_.size(), 0.0);
  for (size_t i = 0; i < observations_.size(); ++i) {
    if (!std::isfinite(observations_[i].value)) continue;
    targets[i] = observations_[i].value / magnitude;  // in [-1, 1]
    hi = std::max(hi, targets[i]);
    lo = std::min(lo, targets[i]);
  }
  if (any_finite) {
    const double spread = hi - lo;  // in [0, 2]
    const double penalty = hi + (spread > 0 ? spread : 1.0);
    for (size_t i = 0; i < observations_.size(); ++i) {
      if (!std::isfinite(observations_[i].value)) targets[i] = penalty;
    }
  }
  return targets;
}

absl::StatusOr<GaussianProcess> Optimizer::FitModel() const {
  if (observations_.empty()) {
    return absl::FailedPreconditionError("no observation to fit a GP to");
  }
  std::vector<double> u;
  u.reserve(observations_.size());
  for (const Observation& o : observations_) u.push_back(ToUnit(o.lr));
  return GaussianProcess::Fit(std::move(u), GpTargets());
}

absl::StatusOr<double> Optimizer::Ask() const {
  if (observations_.empty()) {
    return FromUnit(SeededUniform(options_.seed, observations_.size()));
  }
  // Check for room first: fitting the GP to that many points is costly.
  std::vector<double> told(observations_.size());
  for (size_t i = 0; i < told.size(); ++i) told[i] = ToUnit(observations_[i].lr);
  const double min_distance_u = options_.min_separation_fraction * kSeparationMargin;
  if (!HasFeasiblePoint(0.0, 1.0, told, min_distance_u)) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "no LR in [", options_.lr_min, ", ", options_.lr_max, "] is at least ",
        min_separation_log10(), " decades away from all ", observations_.size(), " told LRs"));
  }
  absl::StatusOr<GaussianProcess> gp = FitModel();
  if (!gp.ok()) return gp.status();

  AcquisitionParams params;
  params.kind = options_.acquisition;
  params.kappa = options_.kappa;
  params.best = gp->normalized_targets().minCoeff();
  params.xi = kExpectedImprovementXi;
  // Where the acquisition is flat (e.g. a GP whose length scale is far below
  // the gaps between probes), prefer the middle of the widest gap: add the
  // distance to the nearest told LR, weighted far below any meaningful
  // difference of the acquisition (1e-9 of its scale).
  std::vector<double> sorted_told = told;
  std::sort(sorted_told.begin(), sorted_told.end());
  const double sigma_scale = std::sqrt(gp->hyperparameters().amplitude);
  const double tie_weight = 1e-9 * (options_.acquisition == AcquisitionKind::kLowerConfidenceBound
                                        ? options_.kappa * sigma_scale + 1.0
                                        : sigma_scale);
  auto distance_to_told = [&](double u) {
    const auto it = std::lower_bound(sorted_told.begin(), sorted_told.end(), u);
    double d = std::numeric_limits<double>::infinity();
    if (it != sorted_told.end()) d = *it - u;
    if (it != sorted_told.begin()) d = std::min(d, u - *(it - 1));
    return d;
  };
  const BatchObjective acquisition = [&](const Eigen::VectorXd& xs, Eigen::VectorXd* values) {
    Eigen::VectorXd mean, stddev;
    gp->PredictNormalized(xs, &mean, &stddev);
    values->resize(xs.size());
    for (Eigen::Index i = 0; i < xs.size(); ++i) {
      (*values)[i] =
          AcquisitionValue(params, mean[i], stddev[i]) + tie_weight * distance_to_told(xs[i]);
    }
  };
  absl::StatusOr<IntervalMaximum> best =
      MaximizeOnInterval(acquisition, 0.0, 1.0, told, min_distance_u);
  if (!best.ok()) return best.status();
  const double lr = FromUnit(best->x);
  // The maximizer's margin makes this hold; check the promise anyway.
  const double log_lr = std::log10(lr);
  for (const Observation& o : observations_) {
    if (std::abs(log_lr - std::log10(o.lr)) < min_separation_log10()) {
      return absl::InternalError(absl::StrCat("proposal ", lr, " is too close to told LR ", o.lr));
    }
  }
  return lr;
}

absl::StatusOr<double> Optimizer::Best() const {
  const Observation* lowest = nullptr;
  for (const Observation& o : observations_) {
    if (std::isfinite(o.value) && (lowest == nullptr || o.value < lowest->value)) {
      lowest = &o;
    }
  }
  if (lowest == nullptr) {
    return absl::NotFoundError("no finite (non-diverged) observation");
  }
  if (options_.choice == ChoiceRule::kLowestObserved) return lowest->lr;

  absl::StatusOr<GaussianProcess> gp = FitModel();
  if (!gp.ok()) return gp.status();
  const BatchObjective negative_mean = [&](const Eigen::VectorXd& xs, Eigen::VectorXd* values) {
    Eigen::VectorXd mean, stddev;
    gp->PredictNormalized(xs, &mean, &stddev);
    *values = -mean;
  };
  absl::StatusOr<IntervalMaximum> best = MaximizeOnInterval(negative_mean, 0.0, 1.0, {}, 0.0);
  if (!best.ok()) return best.status();
  return FromUnit(best->x);
}

absl::StatusOr<double> Optimizer::ExpectedRelativeImprovement() const {
  const std::vector<double> targets = GpTargets();
  double best = std::numeric_limits<double>::infinity();
  for (size_t i = 0; i < observations_.size(); ++i) {
    if (std::isfinite(observations_[i].value)) best = std::min(best, targets[i]);
  }
  if (!std::isfinite(best)) return std::numeric_limits<double>::infinity();
  absl::StatusOr<GaussianProcess> gp = FitModel();
  if (!gp.ok()) return gp.status();
  const BatchObjective improvement = [&](const Eigen::VectorXd& xs, Eigen::VectorXd* values) {
    values->resize(xs.size());
    for (Eigen::Index i = 0; i < xs.size(); ++i) {
      const GpPrediction p = gp->Predict(xs[i]);
      (*values)[i] = ExpectedImprovement(p.mean, p.stddev, best, 0.0);
    }
  };
  absl::StatusOr<IntervalMaximum> max = MaximizeOnInterval(improvement, 0.0, 1.0, {}, 0.0);
  if (!max.ok()) return max.status();
  return max->value / std::max(std::abs(best), 1e-12);
}

}  // namespace autolrs::bo
