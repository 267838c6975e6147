// Least-squares fit of y(t) = a * exp(b * t) + c with b < 0, by variable
// projection: for each rate b the amplitude a and offset c are the linear
// least-squares solution, so only the 1-D profile SSE(beta), beta = log(-b),
// is searched (a coarse grid, then Brent's method inside the best grid cell).
//
// Units: t is whatever the caller uses (steps since the probe began); b is per
// unit of t; a is the amplitude at t = 0; c is in the units of y.
//
// Thread-safety: pure functions of their arguments; safe to call concurrently.
#ifndef AUTOLRS_FORECAST_EXPONENTIAL_FIT_H_
#define AUTOLRS_FORECAST_EXPONENTIAL_FIT_H_

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace autolrs {
namespace forecast {

struct ExponentialFitOptions {
  // Bounds on the decay rate -b, in 1/(units of t). A value <= 0 selects the
  // default, which scales with the data: min_rate = 0.01 / span (the curve is
  // nearly a straight line over the window) and max_rate = 3 / mean spacing
  // (the exponential term has decayed by e^-3 after one sample), where
  // span = t.back() - t.front() and mean spacing = span / (n - 1).
  double min_rate = 0;
  double max_rate = 0;
  // When true, c is constrained to c >= 0 (exactly: for each b the 2-variable
  // least-squares problem is solved with the bound).
  bool nonnegative_c = false;
  // Number of grid points in beta = log(-b) before the local refinement (>= 3).
  int grid_points = 16;
  // Absolute tolerance of the refinement in beta.
  double beta_tolerance = 1e-6;
};

// y(t) = a * exp(b * t) + c, stored as a_ref * exp(b * (t - t_ref)) + c so that
// evaluating far from t = 0 never overflows; a = a_ref * exp(-b * t_ref).
struct ExponentialFit {
  double a = 0;      // amplitude at t = 0 (may be +-inf if -b * t_ref is huge)
  double b = 0;      // rate, < 0
  double c = 0;      // asymptote
  double a_ref = 0;  // amplitude at t = t_ref
  double t_ref = 0;  // the first fitted t
  double sse = 0;    // sum of squared residuals over the fitted points

  double Evaluate(double t) const;
};

// Fits the model to the points (t[i], y[i]).
// Requires: t.size() == y.size() >= 3, all values finite, t strictly
// ascending. Otherwise returns INVALID_ARGUMENT. Options are validated too
// (INVALID_ARGUMENT for grid_points < 3 or min_rate > max_rate).
// Cost: O(n) per profile evaluation, about grid_points + 15 evaluations.
absl::StatusOr<ExponentialFit> FitExponential(absl::Span<const double> t,
                                              absl::Span<const double> y,
                                              const ExponentialFitOptions& options = {});

}  // namespace forecast
}  // namespace autolrs

#endif  // AUTOLRS_FORECAST_EXPONENTIAL_FIT_H_
