// Loss forecaster: from the losses of a short probe (tau' steps), predict the
// loss after tau steps. What matters most is that forecasts of the probes of
// one stage rank them as their true tau-step losses do.
//
// Methods (details and measurements in forecast/README.md):
//  - kRobust (default): a level plus a bounded, shrunk trend. Clear loss
//    spikes are dropped first. The level is the mean of the last half of the
//    window. Two trend models, an exponential with c >= 0 and a line in
//    log(t), are backtested on the window (fit on its first 2/3 and on its
//    first 1/2, predict the rest); the one whose change best predicts the
//    held-out losses is used, weighted by how much of its predicted change
//    actually happened (shrunk by its signal-to-noise ratio; 0 means the
//    level alone). The trend's change from the level to the horizon is kept
//    to the direction of the change between the means of the window's last
//    two quarters and to 1.5 times its size. The forecast is clamped to
//    [min(0, min loss), max loss]. Assumes losses >= 0 (cross-entropy, MSE).
//  - kReferenceExponential: the reference AutoLRS forecaster: iterative
//    outlier filter against a quadratic smoothing fit, then y = a*exp(b*t)+c
//    (c unconstrained) fitted to the smoothed series and evaluated at the
//    horizon. Kept as a baseline; it can forecast negative losses.
//  - kLastMean: the mean of the last `tail_window` losses. Kept as a baseline.
//
// Thread-safety: Predict is a pure function; safe to call concurrently.
#ifndef AUTOLRS_FORECAST_FORECASTER_H_
#define AUTOLRS_FORECAST_FORECASTER_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace autolrs {
namespace forecast {

enum class Method { kRobust, kReferenceExponential, kLastMean };

// Selects the reference method's outlier filter (up to 3% of a training-loss
// series per pass for 10 passes; only the worst point of a validation series,
// which has ~16 points). The other methods treat both kinds alike.
enum class SeriesKind { kTrainingLoss, kValidationLoss };

struct ForecastOptions {
  Method method = Method::kRobust;
  SeriesKind kind = SeriesKind::kTrainingLoss;
  // Number of last losses kLastMean averages (clamped to the series length).
  // >= 1. (kRobust's level always averages the last half.)
  int tail_window = 10;
  // The series "explodes" (Forecast::diverged) when the median of its last
  // quarter (at most 10 points) exceeds divergence_ratio times the median of
  // its first quarter (at most 10 points) and that head median is > 0.
  // <= 0 disables the check; NaN/Inf losses always mean divergence.
  double divergence_ratio = 10.0;
};

struct Forecast {
  // Fitted y = a*exp(b*t) + c (b < 0). For kLastMean and for the robust
  // method's other models ("tail_mean", "log_linear", "constant"), a = b = 0
  // and c = prediction. For the robust "exponential" model the prediction is
  // the level plus trend_weight times the fit's (bounded) change from the
  // level's points to the horizon, so it need not equal a*exp(b*horizon) + c.
  double a = 0, b = 0, c = 0;
  // Forecast loss at t = horizon; finite unless diverged.
  double prediction = 0;
  // The series had NaN/Inf or explodes: prediction is +inf, do not use it
  // (the server turns this into the divergence penalty).
  bool diverged = false;
  // Which model produced the prediction: "exponential", "log_linear",
  // "tail_mean" (kLastMean: the last tail_window losses; kRobust: the level,
  // the last half), "constant" or "diverged".
  std::string model;
  // kRobust only: the weight in (0, 1] given to the trend model's predicted
  // change (0 for "tail_mean"/"constant").
  double trend_weight = 0;
};

// t: positions of the losses in steps since the probe began (1-based,
// strictly ascending, e.g. 1..n for per-step training loss, or the evaluation
// offsets for validation loss); y: the losses, same length; horizon: the step
// to predict (>= t.back()), in the units of t.
// Returns INVALID_ARGUMENT for empty/mismatched/non-ascending/non-finite t, a
// non-finite horizon or one below t.back(), or bad options. Non-finite y is
// not an error: it yields diverged = true. Any series length >= 1 is accepted
// (short series fall back to the tail mean).
absl::StatusOr<Forecast> Predict(absl::Span<const double> t, absl::Span<const double> y,
                                 double horizon, const ForecastOptions& options = {});

// Predict with t = 1, 2, ..., y.size().
absl::StatusOr<Forecast> PredictSteps(absl::Span<const double> y, double horizon,
                                      const ForecastOptions& options = {});

// "robust", "reference", "last_mean".
absl::string_view MethodName(Method method);
// Inverse of MethodName; INVALID_ARGUMENT for an unknown name.
absl::StatusOr<Method> ParseMethod(absl::string_view name);

}  // namespace forecast
}  // namespace autolrs

#endif  // AUTOLRS_FORECAST_FORECASTER_H_
