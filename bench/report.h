#ifndef AUTOLRS_BENCH_REPORT_H_
#define AUTOLRS_BENCH_REPORT_H_

// The schedule-quality benchmark's report: RESULTS.md (Markdown) and one
// gnuplot PNG per task and stage setting. Reads only the analysis (and, for
// the plots, the runs' CSVs for their LRs).

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "bench/bench_config.h"
#include "bench/quality_analysis.h"

namespace autolrs::bench {

struct ReportMeta {
  bool quick = false;
  int seeds = 0;
  int grid_size = 0;
  int parallel = 0;
  std::string command;   // Reproduces the report.
  std::string revision;  // Code version, may be empty.
  std::string note;      // Written under the title when not empty.
  double wall_seconds = 0;
  double child_cpu_seconds = 0;  // CPU time (user + sys) of the processes this invocation ran.
  int runs = 0, failed = 0, reused = 0;
  std::vector<std::string> failures;  // "id: error", one per failed run.
  // (task, setting) -> PNG path relative to the report.
  std::map<std::pair<int, int>, std::string> plots;
};

// The whole RESULTS.md. `default_method` is the AutoLRS variant the verdict
// is about ("autolrs-recommended"); every variant gets a verdict line. With
// `families`, a "Families" section (FamiliesMarkdown) follows the group tables.
std::string Markdown(const std::vector<TaskReport>& reports, const std::vector<Variant>& variants,
                     const std::string& default_method, const ReportMeta& meta,
                     const std::vector<FamilyReport>& families = {});

// The "Families" section: per group (dev, held-out), one row per task and
// stage setting with, for each run number, the mean over the families of the
// probe share, the budget worth and the final validation loss with its ratio
// to the best parameter-free optimizer's; then a line per group counting the
// cases and tasks that meet issue 16's target (FamilyReport::meets_target).
std::string FamiliesMarkdown(const std::vector<FamilyReport>& families);

// Writes the gnuplot data and script of one report under `scratch_dir` and
// runs `gnuplot`, producing out_dir/plots/<task>-<setting>.png. Returns the
// PNG's path relative to out_dir. LR curves are seed 1's, read from
// `run_dir_of(spec)`/steps.csv.
absl::StatusOr<std::string> Plot(const TaskReport& report, const std::vector<Variant>& variants,
                                 const std::string& work_dir, const std::string& out_dir,
                                 const std::string& gnuplot, int seeds);

}  // namespace autolrs::bench

#endif  // AUTOLRS_BENCH_REPORT_H_
