#include "forecast/outlier_filter.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "Eigen/Dense"

namespace autolrs {
namespace forecast {
namespace {

// Median of v (modifies v's order). v must not be empty.
double MedianInPlace(std::vector<double>& v) {
  const size_t mid = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + mid, v.end());
  double m = v[mid];
  if (v.size() % 2 == 0) {
    m = 0.5 * (m + *std::max_element(v.begin(), v.begin() + mid));
  }
  return m;
}

// Python's round() for non-negative values: round half to even.
int RoundHalfEven(double x) {
  const double f = std::floor(x);
  const double diff = x - f;
  if (diff > 0.5) return static_cast<int>(f) + 1;
  if (diff < 0.5) return static_cast<int>(f);
  return static_cast<int>(f) + (static_cast<int>(f) % 2 == 0 ? 0 : 1);
}

}  // namespace

std::vector<double> SmoothQuadratic(absl::Span<const double> t, absl::Span<const double> y,
                                    absl::Span<const int> kept) {
  const size_t n = t.size();
  std::vector<double> out(n, 0.0);
  const int m = static_cast<int>(kept.size());
  if (m == 0) return out;
  const int degree = std::min(2, m - 1);
  // Scale t to [-1, 1] over the kept points for conditioning.
  const double lo = t[kept.front()], hi = t[kept.back()];
  const double mid = 0.5 * (lo + hi);
  const double half = hi > lo ? 0.5 * (hi - lo) : 1.0;
  Eigen::Matrix3d ata = Eigen::Matrix3d::Zero();
  Eigen::Vector3d aty = Eigen::Vector3d::Zero();
  for (int i : kept) {
    const double u = (t[i] - mid) / half;
    const Eigen::Vector3d row(1.0, u, u * u);
    ata.noalias() += row * row.transpose();
    aty += row * y[i];
  }
  const int k = degree + 1;
  const Eigen::VectorXd coef = ata.topLeftCorner(k, k).ldlt().solve(aty.head(k));
  for (size_t i = 0; i < n; ++i) {
    const double u = (t[i] - mid) / half;
    double v = coef(0);
    if (k > 1) v += coef(1) * u;
    if (k > 2) v += coef(2) * u * u;
    out[i] = v;
  }
  return out;
}

ReferenceFilterOptions ReferenceTrainingFilter() { return {}; }

ReferenceFilterOptions ReferenceValidationFilter() {
  ReferenceFilterOptions o;
  o.passes = 1;
  o.drop_count = 1;
  return o;
}

std::vector<int> ReferenceOutlierFilter(absl::Span<const double> t, absl::Span<const double> y,
                                        const ReferenceFilterOptions& options) {
  const int n = static_cast<int>(t.size());
  std::vector<int> kept(n);
  std::iota(kept.begin(), kept.end(), 0);
  if (n == 0) return kept;
  const int bound = static_cast<int>(std::floor((n - 1) * options.droppable_fraction));
  std::vector<int> order;
  std::vector<double> abs_res(n);
  for (int pass = 0; pass < options.passes; ++pass) {
    const int m = static_cast<int>(kept.size());
    const int count =
        options.drop_count > 0 ? options.drop_count : RoundHalfEven(options.drop_fraction * m);
    if (count <= 0 || m <= options.min_kept) break;
    const std::vector<double> smooth = SmoothQuadratic(t, y, kept);
    for (int i : kept) abs_res[i] = std::abs(y[i] - smooth[i]);
    order = kept;
    std::stable_sort(order.begin(), order.end(),
                     [&](int i, int j) { return abs_res[i] > abs_res[j]; });
    std::vector<bool> drop(n, false);
    int dropped = 0;
    for (int r = 0; r < std::min(count, m); ++r) {
      const int i = order[r];
      if (i < bound && m - dropped > options.min_kept) {
        drop[i] = true;
        ++dropped;
      }
    }
    if (dropped == 0) continue;
    kept.erase(std::remove_if(kept.begin(), kept.end(), [&](int i) { return drop[i]; }),
               kept.end());
  }
  return kept;
}

std::vector<int> RobustOutlierFilter(absl::Span<const double> y,
                                     const RobustFilterOptions& options) {
  const int n = static_cast<int>(y.size());
  const int h = std::max(1, options.half_window);
  std::vector<int> kept(n);
  std::iota(kept.begin(), kept.end(), 0);
  if (n < 2 * h + 2) return kept;
  std::vector<double> res(n), window;
  for (int i = 0; i < n; ++i) {
    const int lo = std::max(0, i - h), hi = std::min(n - 1, i + h);
    window.assign(y.begin() + lo, y.begin() + hi + 1);
    res[i] = y[i] - MedianInPlace(window);
  }
  std::vector<double> work = res;
  const double center = MedianInPlace(work);
  for (int i = 0; i < n; ++i) work[i] = std::abs(res[i] - center);
  const double sigma = 1.4826 * MedianInPlace(work);
  const double limit = options.threshold * sigma;
  const int max_drop = static_cast<int>(std::floor(options.max_drop_fraction * n));
  std::vector<int> candidates;
  for (int i = 0; i < n; ++i) {
    if (std::abs(res[i] - center) > limit) candidates.push_back(i);
  }
  if (candidates.empty() || max_drop <= 0) return kept;
  std::stable_sort(candidates.begin(), candidates.end(), [&](int i, int j) {
    return std::abs(res[i] - center) > std::abs(res[j] - center);
  });
  if (static_cast<int>(candidates.size()) > max_drop) {
    candidates.resize(max_drop);
  }
  std::vector<bool> drop(n, false);
  for (int i : candidates) drop[i] = true;
  kept.erase(std::remove_if(kept.begin(), kept.end(), [&](int i) { return drop[i]; }), kept.end());
  return kept;
}

}  // namespace forecast
}  // namespace autolrs
