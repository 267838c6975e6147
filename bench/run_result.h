#ifndef AUTOLRS_BENCH_RUN_RESULT_H_
#define AUTOLRS_BENCH_RUN_RESULT_H_

// One finished train run of the schedule-quality benchmark, read back from
// its folder, and the checks that it did what was asked.
//
// A run's folder (written by the runner, see runner.h):
//   stdout        train's stdout; its last `final:` line is parsed
//   stderr        train's progress log
//   steps.csv     train --csv (step,phase,lr,loss,val_loss)
//   schedule.txt  AutoLRS and family runs: the job's GetSchedule answer, protobuf text
//   family.txt    family runs: the family's GetFamily answer after the run
//                 (protobuf text; empty when the server has no families)
//   db            family runs: the token of the server database the run was
//                 recorded in (run_cache.h)
//   inputs        the run's inputs (written last, see run_cache.h)

#include <cmath>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "autolrs/v1/family.pb.h"
#include "autolrs/v1/job.pb.h"
#include "bench/bench_config.h"
#include "bench/quality_stats.h"

namespace autolrs::bench {

struct RunResult {
  bool ok = false;
  std::string error;      // Why not ok.
  bool reused = false;    // Read from an earlier invocation's folder.
  double seconds = NAN;   // The train process's own wall time (final line).
  double test_loss = NAN, test_accuracy = NAN;
  std::vector<EvalPoint> curve;  // Main-line validation losses, ending at S.
  double final_val = NAN;        // curve.back() when it is at S, else NaN.
  double probe_fraction = 0;     // AutoLRS probes, or the range test's sweep.
  // Steps the final model went through (stdout's model_steps; NaN when
  // absent; rolled-back exploitations are not in it either).
  double model_steps = NAN;
  // The share of S spent on probe steps the model did not keep: probe rows
  // minus, for every stage that continued from its chosen probe
  // (reuse_best_probe, Stage.continued_from_probe), that probe's tau_probe
  // steps, over S. probe_fraction counts every probe row.
  double discarded_probe_fraction = NAN;
  // Family runs: how many of the family's runs the job's prior came from,
  // from family.txt (-1: unknown, e.g. a server without families).
  int family_prior_runs = -1;
  std::string family_name;       // Family runs: the name the run used (set by the runner).
  double peak_lr = NAN;          // range-cosine: the suggested peak LR.
  double step_size = NAN;        // Parameter-free: the largest step size of the run.
  v1::Schedule schedule;         // AutoLRS and family runs.
};

// The served schedule as the (phase, LR) segments the trainer must have run
// (warmup and cooldown excluded; consecutive equal ones merged).
std::vector<std::pair<std::string, double>> ExpectedSegments(const v1::Schedule& schedule);

// Checks that the CSV's per-step LRs (read back from the optimizer) follow
// the schedule the server handed out (DATA_LOSS naming the first mismatch):
// a trainer that does not apply the LR would otherwise produce a plausible
// but meaningless result.
absl::Status CheckLrsFollowSchedule(const std::vector<StepRow>& rows,
                                    const v1::Schedule& schedule);

// Parses a run from its files' contents: `stdout_text`, `csv_text` and, for
// AutoLRS, the schedule. Checks the step count (S rows, steps=S), the first
// LR of grid, textbook and parameter-free runs (= spec.lr), and AutoLRS's
// LRs against its schedule. Never fails: problems go into ok/error.
RunResult ParseRun(const RunSpec& spec, const std::string& stdout_text,
                   const std::string& csv_text, const v1::Schedule* schedule);

// Reads the folder's files and calls ParseRun; for a family run also
// family.txt (family_prior_runs).
RunResult LoadRun(const RunSpec& spec, const std::string& dir);

}  // namespace autolrs::bench

#endif  // AUTOLRS_BENCH_RUN_RESULT_H_
