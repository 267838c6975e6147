#ifndef AUTOLRS_BO_ACQUISITION_H_
#define AUTOLRS_BO_ACQUISITION_H_

#include <functional>

#include "Eigen/Core"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace autolrs::bo {

// Acquisition functions for *minimizing* an objective modelled by a Gaussian
// process, and a robust maximizer over a 1-D interval. Units are whatever the
// caller uses consistently (the Optimizer passes GP posteriors in normalized
// target units and inputs as log10(LR) mapped onto [0, 1]).
//
// Thread-safety: free functions without shared state.

enum class AcquisitionKind {
  // -(mean - kappa * stddev): the lower confidence bound, negated so that
  // larger is better. With a huge kappa (the reference's 1e6) it probes where
  // the GP is least certain.
  kLowerConfidenceBound,
  // E[max(best - xi - f, 0)]: expected improvement over the lowest observed
  // target `best`, with exploration margin xi.
  kExpectedImprovement,
  // stddev: pure exploration.
  kExploration,
};

struct AcquisitionParams {
  AcquisitionKind kind = AcquisitionKind::kLowerConfidenceBound;
  double kappa = 1e6;  // LCB weight, > 0
  double best = 0;     // lowest observed target (EI only)
  double xi = 0.01;    // EI margin, >= 0
};

// The acquisition value (larger is better) at a point whose posterior is
// N(mean, stddev^2), stddev >= 0. Finite for finite inputs.
double AcquisitionValue(const AcquisitionParams& params, double mean, double stddev);

// Expected improvement E[max(best - xi - f, 0)], f ~ N(mean, stddev^2).
double ExpectedImprovement(double mean, double stddev, double best, double xi);

// Evaluates an objective at many points: values->size() is set to xs.size().
// Non-finite values (NaN included) count as -infinity.
using BatchObjective = std::function<void(const Eigen::VectorXd& xs, Eigen::VectorXd* values)>;

struct MaximizeOptions {
  int grid_points = 256;      // dense grid over [lo, hi], >= 2
  int refine_starts = 3;      // best grid local maxima refined, >= 1
  double x_tolerance = 1e-8;  // absolute, for the local refinement
};

struct IntervalMaximum {
  double x = 0;
  double value = 0;
};

// Whether F below is non-empty. Same argument requirements as
// MaximizeOnInterval (false for invalid arguments).
bool HasFeasiblePoint(double lo, double hi, absl::Span<const double> excluded, double min_distance);

// Maximizes `objective` over the feasible set
//   F = [lo, hi] minus the open intervals (e - min_distance, e + min_distance)
//       for every e in `excluded`,
// by evaluating a dense grid (plus every endpoint of F's pieces) and refining
// the best local maxima of the grid with golden-section searches within one
// grid step, confined to their piece of F. The result is always in F (so
// within [lo, hi] and at least min_distance from every excluded point); its
// value is objective(x), never below the best grid point's (-infinity if the
// objective is nowhere finite). Deterministic; ties go to the smallest x.
//
// INVALID_ARGUMENT for a non-finite or empty interval (lo > hi), a negative or
// non-finite min_distance, bad options, or a non-finite excluded point.
// RESOURCE_EXHAUSTED when F is empty.
absl::StatusOr<IntervalMaximum> MaximizeOnInterval(const BatchObjective& objective, double lo,
                                                   double hi, absl::Span<const double> excluded,
                                                   double min_distance,
                                                   const MaximizeOptions& options = {});

}  // namespace autolrs::bo

#endif  // AUTOLRS_BO_ACQUISITION_H_
