#include "forecast/forecaster.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "forecast/exponential_fit.h"
#include "forecast/outlier_filter.h"

namespace autolrs {
namespace forecast {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

double Mean(absl::Span<const double> v) {
  return std::accumulate(v.begin(), v.end(), 0.0) / v.size();
}

double Median(absl::Span<const double> v) {
  std::vector<double> w(v.begin(), v.end());
  const size_t mid = w.size() / 2;
  std::nth_element(w.begin(), w.begin() + mid, w.end());
  double m = w[mid];
  if (w.size() % 2 == 0) {
    m = 0.5 * (m + *std::max_element(w.begin(), w.begin() + mid));
  }
  return m;
}

Forecast Diverged() {
  Forecast f;
  f.prediction = kInf;
  f.diverged = true;
  f.model = "diverged";
  return f;
}

Forecast Level(double level, const char* model) {
  Forecast f;
  f.c = level;
  f.prediction = level;
  f.model = model;
  return f;
}

// Mean of the last `window` values (all of them if there are fewer).
double TailMean(absl::Span<const double> y, size_t window) {
  const size_t w = std::clamp<size_t>(window, 1, y.size());
  return Mean(y.subspan(y.size() - w));
}

bool Explodes(absl::Span<const double> y, double ratio) {
  if (ratio <= 0 || y.size() < 2) return false;
  const size_t k = std::clamp<size_t>(y.size() / 4, 1, 10);
  const double head = Median(y.first(k));
  const double tail = Median(y.last(k));
  return head > 0 && tail > ratio * head;
}

// ---------------------------------------------------------------- reference

absl::StatusOr<Forecast> PredictReference(absl::Span<const double> t, absl::Span<const double> y,
                                          double horizon, const ForecastOptions& options) {
  if (y.size() < 3) return Level(TailMean(y, options.tail_window), "tail_mean");
  const std::vector<int> kept = ReferenceOutlierFilter(t, y,
                                                       options.kind == SeriesKind::kTrainingLoss
                                                           ? ReferenceTrainingFilter()
                                                           : ReferenceValidationFilter());
  const std::vector<double> smooth = SmoothQuadratic(t, y, kept);
  absl::StatusOr<ExponentialFit> fit = FitExponential(t, smooth);
  if (!fit.ok()) return fit.status();
  Forecast f;
  f.a = fit->a;
  f.b = fit->b;
  f.c = fit->c;
  f.prediction = fit->Evaluate(horizon);
  f.model = "exponential";
  if (!std::isfinite(f.prediction)) return Diverged();
  return f;
}

// ------------------------------------------------------------------- robust

// Fewer points than this: the robust method returns the tail mean.
constexpr size_t kMinFitPoints = 6;

// The level is the mean of the last half of the (spike-filtered) window: on
// the synthetic and the Fashion-MNIST sweeps, its lower noise ranks probes
// better than the mean of the last 10 losses (see README.md). Its lag behind
// the end of the window is part of what the trend term corrects.
constexpr double kLevelFraction = 0.5;

// The trend may move the forecast away from the level by at most this many
// times the change between the means of the window's last two quarters, and
// only in that change's direction: extrapolating 10x beyond the window, the
// fitted exponentials and log-lines overshoot on real curves.
constexpr double kMaxTrendRatio = 1.5;

// Least-squares line y = p + q x.
struct Line {
  double p = 0, q = 0;
};

Line FitLine(absl::Span<const double> x, absl::Span<const double> y) {
  const double mx = Mean(x), my = Mean(y);
  double sxx = 0, sxy = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    sxx += (x[i] - mx) * (x[i] - mx);
    sxy += (x[i] - mx) * (y[i] - my);
  }
  Line l;
  l.q = sxx > 0 ? sxy / sxx : 0;
  l.p = my - l.q * mx;
  return l;
}

// A trend model fitted to part of the window: an exponential in t with
// c >= 0, or a line in log(t).
struct Trend {
  bool exponential = true;
  ExponentialFit exp;
  Line log_line;

  double operator()(double t) const {
    return exponential ? exp.Evaluate(t) : log_line.p + log_line.q * std::log(t);
  }
  // Mean of the model over the given times.
  double MeanOver(absl::Span<const double> t) const {
    double s = 0;
    for (double v : t) s += (*this)(v);
    return s / t.size();
  }
};

absl::StatusOr<Trend> FitTrend(bool exponential, absl::Span<const double> t,
                               absl::Span<const double> y) {
  Trend trend;
  trend.exponential = exponential;
  if (exponential) {
    ExponentialFitOptions options;
    options.nonnegative_c = true;
    absl::StatusOr<ExponentialFit> fit = FitExponential(t, y, options);
    if (!fit.ok()) return fit.status();
    trend.exp = *fit;
  } else {
    std::vector<double> log_t(t.size());
    for (size_t i = 0; i < t.size(); ++i) log_t[i] = std::log(t[i]);
    trend.log_line = FitLine(log_t, y);
  }
  return trend;
}

// How much of a model's predicted change shows up in held-out data.
struct Backtest {
  double weight = 0;  // shrinkage weight in [0, 1] on the model's change
  double error = 0;   // squared error of the held-out mean with that weight
};

// Fits the model to the first `s` points and predicts the mean of the rest as
// "tail mean of the fit part + weight * the model's change from that tail to
// the held-out points". The weight is the fraction of the predicted change
// that actually happened, clamped to [0, 1], then shrunk by the change's
// signal-to-noise ratio: change^2 / (change^2 + noise variance of the
// held-out mean minus the tail mean), with `sigma` the per-point noise.
absl::StatusOr<Backtest> RunBacktest(bool exponential, absl::Span<const double> t,
                                     absl::Span<const double> y, size_t s, size_t window,
                                     double sigma) {
  absl::StatusOr<Trend> trend = FitTrend(exponential, t.first(s), y.first(s));
  if (!trend.ok()) return trend.status();
  const size_t w = std::min(window, s);
  const size_t held = t.size() - s;
  const double tail = Mean(y.subspan(s - w, w));
  const double actual_change = Mean(y.subspan(s)) - tail;
  const double model_change = trend->MeanOver(t.subspan(s)) - trend->MeanOver(t.subspan(s - w, w));
  const double noise_var = sigma * sigma * (1.0 / held + 1.0 / w);
  Backtest out;
  if (model_change != 0) {
    const double ratio = std::clamp(actual_change / model_change, 0.0, 1.0);
    const double signal = model_change * model_change;
    out.weight = ratio * signal / (signal + noise_var);
  }
  const double e = actual_change - out.weight * model_change;
  out.error = e * e;
  return out;
}

// Robust sigma of the residuals of `trend` over (t, y): 1.4826 * MAD.
double ResidualSigma(const Trend& trend, absl::Span<const double> t, absl::Span<const double> y) {
  std::vector<double> r(t.size());
  for (size_t i = 0; i < t.size(); ++i) r[i] = y[i] - trend(t[i]);
  const double center = Median(r);
  for (double& v : r) v = std::abs(v - center);
  return 1.4826 * Median(r);
}

// Number of last points the level averages: half of them.
size_t LevelWindow(size_t n) {
  return std::max<size_t>(1, static_cast<size_t>(kLevelFraction * n));
}

absl::StatusOr<Forecast> PredictRobust(absl::Span<const double> t, absl::Span<const double> y,
                                       double horizon) {
  const size_t n = y.size();
  const double y_max = *std::max_element(y.begin(), y.end());
  const double y_min = *std::min_element(y.begin(), y.end());
  if (y_max - y_min <= 1e-12 * std::max(1.0, std::abs(y_max))) {
    return Level(Mean(y), "constant");
  }
  if (n < kMinFitPoints) return Level(TailMean(y, LevelWindow(n)), "tail_mean");

  // Everything below sees the series without its outliers (loss spikes).
  const std::vector<int> kept = RobustOutlierFilter(y);
  std::vector<double> tk, yk;
  for (int i : kept) tk.push_back(t[i]), yk.push_back(y[i]);
  const absl::Span<const double> ts(tk), ys(yk);
  const size_t m = ts.size();
  const size_t window = LevelWindow(m);
  const double level = TailMean(ys, window);
  // The change between the means of the last two quarters bounds the trend.
  const double recent_change =
      Mean(ys.subspan(3 * m / 4)) - Mean(ys.subspan(m / 2, 3 * m / 4 - m / 2));

  // Backtest origins: fit on the first 2/3 (at least 3 points held out) and
  // on the first 1/2 of the window.
  std::vector<size_t> origins = {m - std::max<size_t>(3, m / 3)};
  if (origins[0] < kMinFitPoints) return Level(level, "tail_mean");
  if (m / 2 >= kMinFitPoints && m / 2 != origins[0]) origins.push_back(m / 2);

  // Each trend model is backtested; the one whose shrunk change best predicts
  // the held-out parts wins (ties keep the exponential).
  Forecast best = Level(level, "tail_mean");
  double best_error = std::numeric_limits<double>::infinity();
  for (bool exponential : {true, false}) {
    if (!exponential && t.front() <= 0) continue;  // log(t) undefined
    absl::StatusOr<Trend> full = FitTrend(exponential, ts, ys);
    if (!full.ok()) return full.status();
    const double sigma = ResidualSigma(*full, ts, ys);
    double weight = 0, error = 0;
    for (size_t s : origins) {
      absl::StatusOr<Backtest> bt = RunBacktest(exponential, ts, ys, s, LevelWindow(s), sigma);
      if (!bt.ok()) return bt.status();
      weight += bt->weight / origins.size();
      error += bt->error / origins.size();
    }
    if (error >= best_error) continue;
    best_error = error;
    // The model's change from the level's points to the horizon, kept to the
    // direction of the recent change and to kMaxTrendRatio times its size.
    double change = (*full)(horizon)-full->MeanOver(ts.last(window));
    if (change * recent_change <= 0) change = 0;
    const double bound = kMaxTrendRatio * std::abs(recent_change);
    change = std::clamp(change, -bound, bound);
    if (weight <= 0 || change == 0) {
      best = Level(level, "tail_mean");
      continue;
    }
    best = Forecast();
    best.prediction = level + weight * change;
    best.trend_weight = weight;
    if (exponential) {
      best.a = full->exp.a;
      best.b = full->exp.b;
      best.c = full->exp.c;
      best.model = "exponential";
    } else {
      best.model = "log_linear";
    }
  }
  // Sane bounds: a loss is >= 0 (unless the series itself goes below 0), and
  // no forecast exceeds the largest loss of the window (a rising series is
  // already ranked worst by its level).
  best.prediction = std::clamp(best.prediction, std::min(0.0, y_min), y_max);
  if (best.model != "exponential") best.c = best.prediction;
  return best;
}

}  // namespace

absl::StatusOr<Forecast> Predict(absl::Span<const double> t, absl::Span<const double> y,
                                 double horizon, const ForecastOptions& options) {
  if (t.empty()) return absl::InvalidArgumentError("Predict: empty series");
  if (t.size() != y.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("Predict: t has ", t.size(), " values but y has ", y.size()));
  }
  for (size_t i = 0; i < t.size(); ++i) {
    if (!std::isfinite(t[i])) {
      return absl::InvalidArgumentError(absl::StrCat("Predict: t[", i, "] is not finite"));
    }
    if (i > 0 && !(t[i] > t[i - 1])) {
      return absl::InvalidArgumentError(
          absl::StrCat("Predict: t is not strictly ascending at index ", i, " (", t[i - 1],
                       " then ", t[i], ")"));
    }
  }
  if (!std::isfinite(horizon) || horizon < t.back()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Predict: horizon ", horizon, " must be finite and >= the last t (", t.back(), ")"));
  }
  if (options.tail_window < 1) {
    return absl::InvalidArgumentError("Predict: tail_window must be >= 1");
  }
  for (double v : y) {
    if (!std::isfinite(v)) return Diverged();
  }
  if (Explodes(y, options.divergence_ratio)) return Diverged();

  switch (options.method) {
    case Method::kLastMean:
      return Level(TailMean(y, options.tail_window), "tail_mean");
    case Method::kReferenceExponential:
      return PredictReference(t, y, horizon, options);
    case Method::kRobust:
      return PredictRobust(t, y, horizon);
  }
  return absl::InvalidArgumentError("Predict: unknown method");
}

absl::StatusOr<Forecast> PredictSteps(absl::Span<const double> y, double horizon,
                                      const ForecastOptions& options) {
  std::vector<double> t(y.size());
  std::iota(t.begin(), t.end(), 1.0);
  return Predict(t, y, horizon, options);
}

absl::string_view MethodName(Method method) {
  switch (method) {
    case Method::kRobust:
      return "robust";
    case Method::kReferenceExponential:
      return "reference";
    case Method::kLastMean:
      return "last_mean";
  }
  return "unknown";
}

absl::StatusOr<Method> ParseMethod(absl::string_view name) {
  for (Method m : {Method::kRobust, Method::kReferenceExponential, Method::kLastMean}) {
    if (name == MethodName(m)) return m;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown method '", name, "' (expected robust, reference or last_mean)"));
}

}  // namespace forecast
}  // namespace autolrs
