#ifndef AUTOLRS_BENCH_QUALITY_STATS_H_
#define AUTOLRS_BENCH_QUALITY_STATS_H_

// Statistics of the schedule-quality benchmark (bench/schedule_quality.cc):
// parsing the Fashion-MNIST trainer's per-step CSV and final line, the
// main-line validation curve, steps to reach a target loss, mean curves over
// seeds, mean/spread and the choice of the best LR of a grid.
//
// Pure functions, no I/O, thread-compatible. Losses are nats per image;
// learning rates are plain (not log10); steps are 1-based and count every
// optimizer step spent (AutoLRS probe steps included).

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace autolrs::bench {

// One row of `train --csv`: `step,phase,lr,loss,val_loss`.
struct StepRow {
  int64_t step = 0;
  std::string phase;  // train | warmup | probe | exploit | cooldown
  double lr = 0;
  double loss = 0;  // May be NaN or infinite (diverged).
  bool evaluated = false;
  double val_loss = 0;  // Meaningful only when `evaluated`.
};

// Parses the whole CSV (header line first). INVALID_ARGUMENT with the line
// number on a malformed line. "nan", "inf" are accepted as numbers.
absl::StatusOr<std::vector<StepRow>> ParseStepCsv(absl::string_view text);

// The `key=value` fields of the last line of `output` that starts with
// "final:". NOT_FOUND when there is no such line.
absl::StatusOr<std::map<std::string, std::string>> ParseFinalLine(absl::string_view output);

// Whether a phase continues the model that is kept: train, warmup, exploit,
// cooldown.
// A probe's state is rolled back afterwards, so its evaluations never count.
bool IsMainLine(absl::string_view phase);

struct EvalPoint {
  int64_t step = 0;
  double val_loss = 0;
};

// The validation losses evaluated after main-line steps, in step order.
std::vector<EvalPoint> MainLineEvals(const std::vector<StepRow>& rows);

// The first step at which `curve` (ascending steps) is <= target; nullopt
// when it never is. NaN points never reach a target.
std::optional<int64_t> StepsToTarget(const std::vector<EvalPoint>& curve, double target);

// Pointwise mean of several curves at the steps all of them share (a step
// missing from one curve is dropped). Empty input gives an empty curve.
std::vector<EvalPoint> MeanCurve(const std::vector<std::vector<EvalPoint>>& curves);

// How much sooner a candidate reaches a target loss than a reference.
struct Speedup {
  // reached: reference steps to target / candidate steps to target.
  // !reached (the candidate never gets to the target): reference steps to
  // the candidate's final loss / the candidate's budget, i.e. how many
  // reference steps the candidate's whole budget is worth (< 1 usually).
  double value = 0;
  bool reached = false;
};
// Curves are main-line validation curves with ascending steps; `budget` is
// the candidate's step budget (its last point's step). nullopt when it is not
// defined: the reference never reaches the target, the candidate's curve is
// empty or its final loss is NaN, or the reference never reaches it.
std::optional<Speedup> ComputeSpeedup(const std::vector<EvalPoint>& reference,
                                      const std::vector<EvalPoint>& candidate, double target,
                                      int64_t budget);

// What a method's whole budget is worth in steps of a reference (issue 11's
// "budget worth"): the steps the reference's curve needs to reach the
// method's final validation loss, divided by `budget`.
struct Worth {
  // at_least_one: the final loss is <= the reference's own final loss (its
  // last point; to a relative 1e-9, so the reference's own mean computed in
  // another order counts), so the budget is worth at least the reference's whole
  // budget; `value` is then 1. Else value = the reference's steps to the
  // final loss / budget (in (0, 1] for a reference that ends at `budget`).
  double value = 0;
  bool at_least_one = false;
};
// nullopt when the reference curve is empty, the final loss is NaN, or
// budget <= 0. A final loss the reference never reaches before its end cannot
// occur (its end is the smallest loss it has to reach).
std::optional<Worth> BudgetWorth(const std::vector<EvalPoint>& reference, double final_loss,
                                 int64_t budget);

// Mean and spread of a sample.
struct Summary {
  int n = 0;
  double mean = 0;
  double stddev = 0;  // Sample standard deviation (n - 1); 0 when n < 2.
  double min = 0;
  double max = 0;
};
// NaN values propagate into mean and stddev (a diverged run is not hidden).
Summary Summarize(const std::vector<double>& values);

// `n` values from lo to hi (both included), evenly spaced in log10. n >= 2,
// 0 < lo < hi.
std::vector<double> LogGrid(double lo, double hi, int n);

// One run of a grid search: the peak LR and its final validation loss.
struct GridRun {
  double lr = 0;
  double final_val_loss = 0;  // NaN or infinite when the run diverged.
};

struct LrChoice {
  double lr = 0;
  double mean_val_loss = 0;  // Mean final validation loss over its runs.
  int runs = 0;
  bool at_grid_edge = false;  // The smallest or largest LR of the grid.
};

// The LR with the lowest mean final validation loss over its runs (seeds);
// an LR with any non-finite run counts as infinitely bad. Ties go to the
// smaller LR. INVALID_ARGUMENT when `runs` is empty or every LR diverged.
absl::StatusOr<LrChoice> SelectBestLr(const std::vector<GridRun>& runs);

// A maximal run of consecutive rows with the same phase and the same LR.
struct Segment {
  std::string phase;
  double lr = 0;
  int64_t first_step = 0;
  int64_t last_step = 0;
  int64_t steps() const { return last_step - first_step + 1; }
};
// The rows cut into segments, in order. Two LRs are the same when they agree
// to a relative 1e-9 (the CSV prints 10 significant digits).
std::vector<Segment> Segments(const std::vector<StepRow>& rows);

// The fraction of rows whose phase is "probe" (0 for no rows).
double ProbeFraction(const std::vector<StepRow>& rows);

}  // namespace autolrs::bench

#endif  // AUTOLRS_BENCH_QUALITY_STATS_H_
