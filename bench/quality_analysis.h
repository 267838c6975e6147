#ifndef AUTOLRS_BENCH_QUALITY_ANALYSIS_H_
#define AUTOLRS_BENCH_QUALITY_ANALYSIS_H_

// The analysis of the schedule-quality benchmark: from the runs of one task
// at one stage-size setting to the approaches compared (grid-tuned
// baselines, one-run baselines, AutoLRS variants), each with its mean final
// validation loss and its budget worth against the grid-tuned cosine; and
// the verdicts over tasks. Pure functions over runs already read; no I/O.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "bench/bench_config.h"
#include "bench/quality_stats.h"
#include "bench/run_result.h"

namespace autolrs::bench {

struct Approach {
  std::string method;   // "cosine", "range-cosine", "dog", "autolrs-recommended"
  Kind kind = Kind::kGrid;
  std::string setting;  // "peak LR 0.0518", "peak LR 0.00312 (range test)", ...
  double lr = 0;        // Grid: the tuned peak LR.
  bool at_grid_edge = false;
  int variant = -1;     // AutoLRS: index into the variant list.
  std::vector<const RunSpec*> specs;   // One per successful seed.
  std::vector<const RunResult*> runs;  // Same order.
  std::vector<EvalPoint> mean_curve;   // Mean over seeds.
  Summary final_val;                   // Over seeds (n = 0: no run finished).
  // Budget worth against the grid-tuned cosine: BudgetWorth of the mean
  // final validation loss on the cosine's mean curve.
  std::optional<Worth> worth;
  int64_t compute_steps = 0;  // Per seed: grid size x S for grid-tuned, else S.
  double seconds = 0;         // Per seed, the train processes' wall time.
};

struct TaskReport {
  int task = 0;
  int setting = 0;  // Index into StageSettings().
  int64_t steps = 0;
  int grid_size = 0;
  // LR -> schedule -> mean final validation loss over seeds (NaN: diverged
  // or failed).
  std::map<double, std::map<std::string, double>> grid_val;
  std::vector<Approach> tuned;    // constant, step, cosine at their best peak LR.
  int cosine = -1;                // Index of the tuned cosine in `tuned`.
  double target = NAN;            // The tuned cosine's mean final validation loss.
  // With families: the cosine grid at 1.1 x S (kLongCosine), tuned: its best
  // mean final validation loss and that peak LR (NaN, 0: not run).
  double long_cosine_val = NAN;
  double long_cosine_lr = 0;
  std::vector<Approach> one_run;  // textbook, range-cosine, parameter-free.
  std::vector<Approach> autolrs;  // One per variant, at this setting.
  std::vector<std::string> notes;

  // The approach named `method` (any group), or nullptr.
  const Approach* Find(const std::string& method) const;
};

// Builds the report of one task at one stage setting from all runs
// (results[i] belongs to specs[i]; failed runs are left out, and a failed
// grid run counts as diverged). `variants` names the AutoLRS approaches.
TaskReport Analyze(const std::vector<RunSpec>& specs, const std::vector<RunResult>& results,
                   const std::vector<Variant>& variants, int task, int setting, int grid_size);

// How one AutoLRS variant fares against the bars over a set of
// task reports.
struct Verdict {
  int cases = 0;            // Task reports that have the variant and both baselines.
  int beats_range = 0;      // Lower mean final val than range-cosine.
  int beats_textbook = 0;   // Lower mean final val than textbook.
  int worth_one = 0;        // Budget worth >= 1.0x (ends at or below the cosine's T).
  int beats_parameter_free = 0;  // Lower than every parameter-free approach present.
  std::vector<std::string> losses;  // "gru-adam S/30: loses to textbook (2.86 vs 1.69)"
};
Verdict Judge(const std::vector<TaskReport>& reports, const std::string& method);

// Families (issue 16): per task and stage setting, run r of every family
// (the r-th job of a family; the jobs before it taught the service), as
// means over the families.
struct FamilyRunSummary {
  int run = 0;       // 1-based.
  int families = 0;  // Families whose run r finished.
  // Mean share of S spent on probe steps the model did not keep
  // (RunResult::discarded_probe_fraction: reuse_best_probe's kept probe is
  // part of the model).
  double probe_share = NAN;
  Summary final_val;           // Over the families.
  std::optional<Worth> worth;  // Of final_val.mean, vs the grid-tuned cosine.
  // final_val.mean <= the tuned cosine's at 1.1 x S (TaskReport::
  // long_cosine_val): the run is worth >= 1.1x.
  bool worth_long = false;
  // final_val.mean / the best parameter-free optimizer's mean final val.
  double vs_parameter_free = NAN;
  double prior_runs = NAN;  // Mean RunResult::family_prior_runs (NaN: unknown).
};

struct FamilyReport {
  int task = 0;
  int setting = 0;
  std::string method;                  // "family-recommended"
  std::string parameter_free;          // The best parameter-free method ("" if none).
  double parameter_free_val = NAN;     // Its mean final validation loss.
  double long_cosine_val = NAN;        // TaskReport::long_cosine_val.
  std::vector<FamilyRunSummary> runs;  // Run 1, 2, ... in order.
  // The target, from run 2 on: every such run has probe_share <=
  // 0.10, worth >= 1.1x (worth_long; without the 1.1 x S cosine grid, the
  // best this benchmark can tell: >= 1x) and a final val below the best
  // parameter-free optimizer's. False without a run 2 or without a
  // parameter-free optimizer.
  bool meets_target = false;
};

// The family report of one task and stage setting; `report` is its
// TaskReport (the tuned cosine's curve, the one-run approaches). nullopt
// when no family run of that task and setting is in `specs`.
std::optional<FamilyReport> AnalyzeFamilies(const std::vector<RunSpec>& specs,
                                            const std::vector<RunResult>& results,
                                            const TaskReport& report);

// The target's probe-share bar (issue 16).
inline constexpr double kFamilyProbeShareTarget = 0.10;

}  // namespace autolrs::bench

#endif  // AUTOLRS_BENCH_QUALITY_ANALYSIS_H_
