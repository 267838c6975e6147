// Outlier removal for loss series, and the quadratic smoother it measures
// residuals against.
//
// The reference AutoLRS server smooths with scipy's UnivariateSpline(k=2) at
// its default smoothing factor s = n; for loss series (residual RMS well below
// 1) that spline has no interior knots, i.e. it is the least-squares quadratic
// polynomial, which is what SmoothQuadratic computes.
//
// Thread-safety: pure functions; safe to call concurrently.
#ifndef AUTOLRS_FORECAST_OUTLIER_FILTER_H_
#define AUTOLRS_FORECAST_OUTLIER_FILTER_H_

#include <vector>

#include "absl/types/span.h"

namespace autolrs {
namespace forecast {

// Least-squares polynomial of degree min(2, kept.size() - 1) through the points
// (t[i], y[i]) for i in `kept`, evaluated at every t. Requires finite values,
// t.size() == y.size(), valid ascending indices in `kept`; an empty `kept`
// yields all zeros.
std::vector<double> SmoothQuadratic(absl::Span<const double> t, absl::Span<const double> y,
                                    absl::Span<const int> kept);

// The reference filter: `passes` times, fit SmoothQuadratic to the points
// still kept, rank them by |residual|, take the worst `count` of them and drop
// those whose original index is below floor((n - 1) * droppable_fraction).
// count = round_half_even(drop_fraction * kept) when drop_count == 0, else
// drop_count. Unlike the reference (which drops every droppable point when
// that count rounds to 0, emptying short series), a count of 0 drops nothing,
// and points are never dropped below `min_kept`.
struct ReferenceFilterOptions {
  int passes = 10;
  double drop_fraction = 0.03;
  int drop_count = 0;
  double droppable_fraction = 0.5;
  int min_kept = 3;
};
// Reference settings for per-step training loss: 10 passes of 3%.
ReferenceFilterOptions ReferenceTrainingFilter();
// Reference settings for validation loss: 1 pass dropping the worst point.
ReferenceFilterOptions ReferenceValidationFilter();

// Returns the indices (ascending) of the points kept. Requires finite values
// and t.size() == y.size().
std::vector<int> ReferenceOutlierFilter(absl::Span<const double> t, absl::Span<const double> y,
                                        const ReferenceFilterOptions& options);

// A one-pass robust filter: residuals against a running median of
// 2 * half_window + 1 points; a point is dropped when its |residual| exceeds
// threshold * 1.4826 * MAD(residuals) (a robust sigma). At most
// max_drop_fraction of the points are dropped (the worst first). Any position
// may be dropped. Series shorter than 2 * half_window + 2 are returned whole.
// The defaults drop only clear spikes (6 sigmas), not heavy-tailed noise.
struct RobustFilterOptions {
  int half_window = 2;
  double threshold = 6.0;
  double max_drop_fraction = 0.1;
};
std::vector<int> RobustOutlierFilter(absl::Span<const double> y,
                                     const RobustFilterOptions& options = {});

}  // namespace forecast
}  // namespace autolrs

#endif  // AUTOLRS_FORECAST_OUTLIER_FILTER_H_
