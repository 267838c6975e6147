#include "bo/acquisition.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "Eigen/Core"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "bo/golden_section.h"

namespace autolrs::bo {
namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();
constexpr double kInvSqrt2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;

struct Segment {
  double lo;
  double hi;
};

// [lo, hi] minus the open balls of radius d around `excluded`, as sorted,
// disjoint closed segments whose every point is at distance >= d (exactly, in
// floating point) from every excluded point.
std::vector<Segment> FeasibleSegments(double lo, double hi, std::vector<double> excluded,
                                      double d) {
  if (d == 0) return {{lo, hi}};  // the open balls are empty
  std::sort(excluded.begin(), excluded.end());
  std::vector<Segment> out;
  double start = lo;  // left end of the next feasible piece
  for (double e : excluded) {
    double left = e - d;
    while (e - left < d) left = std::nextafter(left, kNegInf);
    double right = e + d;
    while (right - e < d) {
      right = std::nextafter(right, std::numeric_limits<double>::infinity());
    }
    const double end = std::min(hi, left);
    if (start <= end) out.push_back({start, end});
    start = std::max(start, right);
  }
  if (start <= hi) out.push_back({start, hi});
  return out;
}

double ValueOrNegInf(double v) { return std::isfinite(v) ? v : kNegInf; }

}  // namespace

bool HasFeasiblePoint(double lo, double hi, absl::Span<const double> excluded,
                      double min_distance) {
  if (!(std::isfinite(lo) && std::isfinite(hi) && lo <= hi && std::isfinite(min_distance) &&
        min_distance >= 0)) {
    return false;
  }
  for (double e : excluded) {
    if (!std::isfinite(e)) return false;
  }
  return !FeasibleSegments(lo, hi, std::vector<double>(excluded.begin(), excluded.end()),
                           min_distance)
              .empty();
}

double ExpectedImprovement(double mean, double stddev, double best, double xi) {
  const double improvement = best - xi - mean;
  if (!(stddev > 0)) return std::max(improvement, 0.0);
  const double z = improvement / stddev;
  const double cdf = 0.5 * std::erfc(-z * kInvSqrt2);
  const double pdf = kInvSqrt2Pi * std::exp(-0.5 * z * z);
  return std::max(improvement * cdf + stddev * pdf, 0.0);
}

double AcquisitionValue(const AcquisitionParams& params, double mean, double stddev) {
  switch (params.kind) {
    case AcquisitionKind::kLowerConfidenceBound:
      return params.kappa * stddev - mean;
    case AcquisitionKind::kExpectedImprovement:
      return ExpectedImprovement(mean, stddev, params.best, params.xi);
    case AcquisitionKind::kExploration:
      return stddev;
  }
  return kNegInf;
}

absl::StatusOr<IntervalMaximum> MaximizeOnInterval(const BatchObjective& objective, double lo,
                                                   double hi, absl::Span<const double> excluded,
                                                   double min_distance,
                                                   const MaximizeOptions& options) {
  if (!(std::isfinite(lo) && std::isfinite(hi) && lo <= hi)) {
    return absl::InvalidArgumentError(absl::StrCat("bad interval [", lo, ", ", hi, "]"));
  }
  if (!(std::isfinite(min_distance) && min_distance >= 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("min_distance must be finite and >= 0, got ", min_distance));
  }
  if (options.grid_points < 2 || options.refine_starts < 1 || !(options.x_tolerance > 0)) {
    return absl::InvalidArgumentError("need grid_points >= 2, refine_starts >= 1, x_tolerance > 0");
  }
  for (double e : excluded) {
    if (!std::isfinite(e)) {
      return absl::InvalidArgumentError("excluded point is not finite");
    }
  }
  const std::vector<Segment> segments =
      FeasibleSegments(lo, hi, std::vector<double>(excluded.begin(), excluded.end()), min_distance);
  if (segments.empty()) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "every point of [", lo, ", ", hi, "] is within ", min_distance, " of an excluded point"));
  }

  // Grid points inside the feasible set, plus every segment endpoint, sorted.
  const double step = (hi - lo) / (options.grid_points - 1);
  std::vector<double> points;
  points.reserve(options.grid_points + 2 * segments.size());
  size_t seg = 0;
  for (int i = 0; i < options.grid_points; ++i) {
    const double x = i + 1 == options.grid_points ? hi : lo + i * step;
    while (seg < segments.size() && segments[seg].hi < x) ++seg;
    if (seg == segments.size()) break;
    if (x >= segments[seg].lo) points.push_back(x);
  }
  for (const Segment& s : segments) {
    points.push_back(s.lo);
    points.push_back(s.hi);
  }
  std::sort(points.begin(), points.end());
  points.erase(std::unique(points.begin(), points.end()), points.end());

  Eigen::VectorXd xs =
      Eigen::Map<const Eigen::VectorXd>(points.data(), static_cast<Eigen::Index>(points.size()));
  Eigen::VectorXd raw;
  objective(xs, &raw);
  const int count = static_cast<int>(points.size());
  std::vector<double> values(count);
  std::vector<int> piece_of(count);  // index of the segment holding point i
  for (int i = 0; i < count; ++i) {
    values[i] = ValueOrNegInf(raw[i]);
    piece_of[i] =
        static_cast<int>(std::upper_bound(segments.begin(), segments.end(), points[i],
                                          [](double x, const Segment& sg) { return x < sg.lo; }) -
                         segments.begin() - 1);
  }

  // The best point; ties go to the smallest x.
  IntervalMaximum best{points[0], values[0]};
  for (int i = 1; i < count; ++i) {
    if (values[i] > best.value) best = {points[i], values[i]};
  }
  // Refinement starts: grid points no worse than their neighbours in the same
  // piece, best first (ties: smallest x first).
  std::vector<int> starts;
  for (int i = 0; i < count; ++i) {
    if (!std::isfinite(values[i])) continue;
    const bool left_ok = i == 0 || piece_of[i - 1] != piece_of[i] || values[i] >= values[i - 1];
    const bool right_ok =
        i + 1 == count || piece_of[i + 1] != piece_of[i] || values[i] >= values[i + 1];
    if (left_ok && right_ok) starts.push_back(i);
  }
  std::stable_sort(starts.begin(), starts.end(),
                   [&](int a, int b) { return values[a] > values[b]; });
  if (static_cast<int>(starts.size()) > options.refine_starts) {
    starts.resize(options.refine_starts);
  }

  Eigen::VectorXd one(1), one_value;
  auto eval = [&](double x) {
    one[0] = x;
    objective(one, &one_value);
    return ValueOrNegInf(one_value[0]);
  };
  for (int start : starts) {
    const double center = points[start];
    const Segment& piece = segments[piece_of[start]];
    double a = std::max(piece.lo, center - step);
    double b = std::min(piece.hi, center + step);
    // Every probe lies in [a, b], a subset of `piece`.
    const double x = GoldenSectionMaximize(a, b, options.x_tolerance, 100, eval, [](double f) {
                       return f;
                     }).first;
    // Guard against rounding pushing a probe past the piece.
    const double xr = std::clamp(x, piece.lo, piece.hi);
    const double fr = eval(xr);
    if (fr > best.value) best = {xr, fr};
  }
  return best;
}

}  // namespace autolrs::bo
