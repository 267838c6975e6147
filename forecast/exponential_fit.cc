#include "forecast/exponential_fit.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "Eigen/Core"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace autolrs {
namespace forecast {
namespace {

using Eigen::ArrayXd;

// The linear part of the fit for one rate b.
struct LinearPart {
  double a_ref = 0;
  double c = 0;
  double sse = 0;
};

// Solves min over (a_ref, c) of sum (y - a_ref * e - c)^2 with
// e = exp(b * (t - t_ref)), optionally with c >= 0. `dt` holds t - t_ref,
// `yc` holds y - mean(y) and `syy` = sum(yc^2), `sy2` = sum(y^2).
class Profile {
 public:
  Profile(const ArrayXd& dt, const ArrayXd& y, bool nonnegative_c)
      : dt_(dt), y_(y), nonnegative_c_(nonnegative_c) {
    y_mean_ = y_.mean();
    syy_ = (y_ - y_mean_).square().sum();
  }

  LinearPart Solve(double b) const {
    ArrayXd e = (b * dt_).exp();
    const double e_mean = e.mean();
    e -= e_mean;  // centered
    const double see = e.square().sum();
    const double sey = (e * (y_ - y_mean_)).sum();
    LinearPart out;
    if (see <= 0) {  // e is constant: only the mean is identifiable
      out.a_ref = 0;
      out.c = y_mean_;
      out.sse = syy_;
    } else {
      out.a_ref = sey / see;
      out.c = y_mean_ - out.a_ref * e_mean;
      out.sse = std::max(0.0, syy_ - sey * sey / see);
    }
    if (nonnegative_c_ && out.c < 0) {
      // The optimum of a convex quadratic with one violated bound lies on the
      // bound: c = 0 and a_ref is a 1-D least-squares fit through the origin.
      e += e_mean;  // uncentered again
      const double se2 = e.square().sum();
      const double sey0 = (e * y_).sum();
      out.c = 0;
      out.a_ref = se2 > 0 ? sey0 / se2 : 0;
      out.sse = std::max(0.0, (y_ - out.a_ref * e).square().sum());
    }
    return out;
  }

  double Sse(double beta) const { return Solve(-std::exp(beta)).sse; }

 private:
  const ArrayXd& dt_;
  const ArrayXd& y_;
  bool nonnegative_c_;
  double y_mean_ = 0;
  double syy_ = 0;
};

// Brent's minimization of f on [lo, hi] starting from x0 (golden-section
// steps, with parabolic steps when they are safe). Returns the argmin.
template <typename F>
double BrentMinimize(const F& f, double lo, double hi, double x0, double f0, double tol,
                     int max_iter = 60) {
  constexpr double kGolden = 0.3819660112501051;  // (3 - sqrt(5)) / 2
  double x = x0, w = x0, v = x0;
  double fx = f0, fw = f0, fv = f0;
  double d = 0, e = 0;
  for (int iter = 0; iter < max_iter; ++iter) {
    const double mid = 0.5 * (lo + hi);
    const double tol1 = tol + 1e-10 * std::abs(x);
    const double tol2 = 2 * tol1;
    if (std::abs(x - mid) <= tol2 - 0.5 * (hi - lo)) break;
    bool golden = true;
    if (std::abs(e) > tol1) {
      // Parabola through (v, fv), (w, fw), (x, fx).
      const double r = (x - w) * (fx - fv);
      double q = (x - v) * (fx - fw);
      double p = (x - v) * q - (x - w) * r;
      q = 2 * (q - r);
      if (q > 0) p = -p;
      q = std::abs(q);
      const double e_prev = e;
      e = d;
      if (std::abs(p) < std::abs(0.5 * q * e_prev) && p > q * (lo - x) && p < q * (hi - x)) {
        d = p / q;
        const double u = x + d;
        if (u - lo < tol2 || hi - u < tol2) d = x < mid ? tol1 : -tol1;
        golden = false;
      }
    }
    if (golden) {
      e = (x < mid ? hi : lo) - x;
      d = kGolden * e;
    }
    const double u = std::abs(d) >= tol1 ? x + d : x + (d > 0 ? tol1 : -tol1);
    const double fu = f(u);
    if (fu <= fx) {
      (u < x ? hi : lo) = x;
      v = w, fv = fw;
      w = x, fw = fx;
      x = u, fx = fu;
    } else {
      (u < x ? lo : hi) = u;
      if (fu <= fw || w == x) {
        v = w, fv = fw;
        w = u, fw = fu;
      } else if (fu <= fv || v == x || v == w) {
        v = u, fv = fu;
      }
    }
  }
  return x;
}

}  // namespace

double ExponentialFit::Evaluate(double t) const { return a_ref * std::exp(b * (t - t_ref)) + c; }

absl::StatusOr<ExponentialFit> FitExponential(absl::Span<const double> t,
                                              absl::Span<const double> y,
                                              const ExponentialFitOptions& options) {
  const size_t n = t.size();
  if (y.size() != n) {
    return absl::InvalidArgumentError(
        absl::StrCat("FitExponential: t has ", n, " values but y has ", y.size()));
  }
  if (n < 3) {
    return absl::InvalidArgumentError(
        absl::StrCat("FitExponential: needs at least 3 points, got ", n));
  }
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(t[i]) || !std::isfinite(y[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat("FitExponential: non-finite value at index ", i));
    }
    if (i > 0 && !(t[i] > t[i - 1])) {
      return absl::InvalidArgumentError(
          absl::StrCat("FitExponential: t is not strictly ascending at index ", i));
    }
  }
  if (options.grid_points < 3) {
    return absl::InvalidArgumentError("FitExponential: grid_points < 3");
  }
  const double span = t[n - 1] - t[0];
  const double min_rate = options.min_rate > 0 ? options.min_rate : 0.01 / span;
  const double max_rate = options.max_rate > 0 ? options.max_rate : 3.0 * (n - 1) / span;
  if (!(min_rate <= max_rate) || !std::isfinite(max_rate)) {
    return absl::InvalidArgumentError(
        absl::StrCat("FitExponential: bad rate bounds [", min_rate, ", ", max_rate, "]"));
  }

  const Eigen::Map<const ArrayXd> t_map(t.data(), n);
  const ArrayXd dt = t_map - t[0];
  const ArrayXd ys = Eigen::Map<const ArrayXd>(y.data(), n);
  const Profile profile(dt, ys, options.nonnegative_c);

  // Coarse grid over beta = log(-b).
  const double beta_lo = std::log(min_rate);
  const double beta_hi = std::log(max_rate);
  const int g = beta_hi > beta_lo ? options.grid_points : 1;
  const double step = g > 1 ? (beta_hi - beta_lo) / (g - 1) : 0;
  int best = 0;
  double best_sse = std::numeric_limits<double>::infinity();
  for (int i = 0; i < g; ++i) {
    const double sse = profile.Sse(beta_lo + i * step);
    if (sse < best_sse) best_sse = sse, best = i;
  }
  double beta = beta_lo + best * step;
  if (g > 1) {
    const double lo = beta_lo + std::max(0, best - 1) * step;
    const double hi = beta_lo + std::min(g - 1, best + 1) * step;
    beta = BrentMinimize([&](double x) { return profile.Sse(x); }, lo, hi, beta, best_sse,
                         options.beta_tolerance);
  }

  ExponentialFit fit;
  fit.b = -std::exp(beta);
  const LinearPart lin = profile.Solve(fit.b);
  fit.a_ref = lin.a_ref;
  fit.c = lin.c;
  fit.sse = lin.sse;
  fit.t_ref = t[0];
  fit.a = lin.a_ref * std::exp(-fit.b * t[0]);
  return fit;
}

}  // namespace forecast
}  // namespace autolrs
