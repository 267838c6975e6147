// Scores forecasters by how well they rank the LRs probed from one checkpoint.
//
// Input: loss curves, one per (checkpoint, lr), with the losses of steps
// 1..tau (CSV header `checkpoint,lr,step,loss`, one row per step). For each
// checkpoint and method, each curve is forecast from its first tau_probe
// losses at horizon tau (the curve's last step), and compared with the "true"
// loss at tau, the mean of the curve's last `truth_window` losses (de-noised;
// +inf when any of the curve's losses is NaN/Inf).
//
// Thread-safety: pure functions; safe to call concurrently.
#ifndef AUTOLRS_FORECAST_RANKING_H_
#define AUTOLRS_FORECAST_RANKING_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "forecast/forecaster.h"

namespace autolrs {
namespace forecast {

struct Curve {
  std::string checkpoint;
  double lr = 0;
  std::vector<double> loss;  // loss[i] is the loss of step i + 1
};

// Parses the CSV (header `checkpoint,lr,step,loss`, any row order). Each
// (checkpoint, lr) curve must have steps 1..tau exactly once. Losses may be
// nan/inf. Curves are returned grouped by checkpoint in order of first
// appearance, each group sorted by lr.
// INVALID_ARGUMENT with the line number for malformed input.
absl::StatusOr<std::vector<Curve>> ParseCurvesCsv(absl::string_view csv);

// Writes curves in the format ParseCurvesCsv reads.
std::string CurvesToCsv(absl::Span<const Curve> curves);

// Spearman rank correlation (Pearson correlation of the ranks, ties get their
// average rank; +inf ranks above every finite value, NaN is not allowed).
// Returns 0 when either side's ranks are all equal. Requires equal sizes >= 2.
double SpearmanCorrelation(absl::Span<const double> x, absl::Span<const double> y);

struct RankingMethod {
  std::string name;
  ForecastOptions options;
};

// The three methods the benchmark compares: robust (default), reference,
// last-10 mean.
std::vector<RankingMethod> DefaultRankingMethods();

struct RankingOptions {
  int tau_probe = 0;     // losses a forecast may see; >= 1, <= every tau
  int truth_window = 0;  // losses averaged for the truth; 0: max(10, tau/20)
};

struct MethodScore {
  std::string name;
  int checkpoints = 0;         // checkpoints scored (truth not all equal)
  double mean_spearman = 0;    // mean over checkpoints
  double mean_regret = 0;      // mean of truth(argmin forecast) - min truth
  double mean_rel_regret = 0;  // the same divided by min truth
  int forecasts = 0;           // forecasts made
  int nonfinite = 0;           // non-finite (diverged) forecasts
  int negative = 0;            // forecasts below 0
  int missed_divergence = 0;   // finite forecast although the truth diverged
  int false_divergence = 0;    // non-finite forecast although the truth is finite
};

// One forecast of one curve, for --details output.
struct CurveForecast {
  std::string checkpoint;
  double lr = 0;
  double truth = 0;
  std::vector<double> predictions;  // one per method, +inf when diverged
  std::vector<std::string> models;  // Forecast::model, one per method
};

struct RankingReport {
  int tau_probe = 0;
  int curves = 0;
  int diverged_curves = 0;  // curves whose truth is +inf
  std::string truth_description;
  std::vector<MethodScore> scores;
  std::vector<CurveForecast> details;  // one per curve, in input order
};

// Scores every method on every checkpoint with >= 2 curves.
// INVALID_ARGUMENT when tau_probe is out of range or a forecast fails.
absl::StatusOr<RankingReport> ScoreRanking(absl::Span<const Curve> curves,
                                           absl::Span<const RankingMethod> methods,
                                           const RankingOptions& options);

// A Markdown table of the report, with a line stating how truth is defined.
std::string FormatMarkdown(const RankingReport& report);

// A Markdown table of every curve's truth and forecasts.
std::string FormatDetails(const RankingReport& report);

}  // namespace forecast
}  // namespace autolrs

#endif  // AUTOLRS_FORECAST_RANKING_H_
