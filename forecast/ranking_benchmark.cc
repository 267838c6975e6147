// Scores the forecasting methods by how they rank LR probes on real (or
// synthetic) loss curves. Usage:
//   bazel run -c opt //forecast:ranking_benchmark -- --curves=/abs/curves.csv
//       --tau_probe=100 [--truth_window=N] [--details]
// The CSV has header `checkpoint,lr,step,loss`, steps 1..tau per curve.
// Prints a Markdown table (mean over checkpoints) to stdout.
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "forecast/ranking.h"

ABSL_FLAG(std::string, curves, "", "CSV with header checkpoint,lr,step,loss");
ABSL_FLAG(int, tau_probe, 0, "number of leading losses each forecast sees");
ABSL_FLAG(int, truth_window, 0, "losses averaged for the true loss at tau; 0: max(10, tau/20)");
ABSL_FLAG(bool, details, false, "also print every curve's truth and forecasts");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("ranking_benchmark --curves=FILE --tau_probe=N [--truth_window=N]");
  absl::ParseCommandLine(argc, argv);
  const std::string path = absl::GetFlag(FLAGS_curves);
  if (path.empty()) {
    std::cerr << "ranking_benchmark: --curves is required\n";
    return 2;
  }
  std::ifstream in(path);
  if (!in) {
    std::cerr << "ranking_benchmark: cannot open " << path << "\n";
    return 2;
  }
  std::stringstream text;
  text << in.rdbuf();
  absl::StatusOr<std::vector<autolrs::forecast::Curve>> curves =
      autolrs::forecast::ParseCurvesCsv(text.str());
  if (!curves.ok()) {
    std::cerr << "ranking_benchmark: " << path << ": " << curves.status().message() << "\n";
    return 2;
  }
  autolrs::forecast::RankingOptions options;
  options.tau_probe = absl::GetFlag(FLAGS_tau_probe);
  options.truth_window = absl::GetFlag(FLAGS_truth_window);
  absl::StatusOr<autolrs::forecast::RankingReport> report =
      autolrs::forecast::ScoreRanking(*curves, autolrs::forecast::DefaultRankingMethods(), options);
  if (!report.ok()) {
    std::cerr << "ranking_benchmark: " << report.status().message() << "\n";
    return 2;
  }
  std::cout << autolrs::forecast::FormatMarkdown(*report);
  if (absl::GetFlag(FLAGS_details)) {
    std::cout << "\n" << autolrs::forecast::FormatDetails(*report);
  }
  return 0;
}
