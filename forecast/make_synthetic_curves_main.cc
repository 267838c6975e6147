// Writes a synthetic LR-sweep CSV (noisy quadratic model, see
// synthetic_curves.h) in the ranking benchmark's format to stdout:
//   make_synthetic_curves --seed=1 --tau=1000 > curves.csv
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "forecast/ranking.h"
#include "forecast/synthetic_curves.h"

ABSL_FLAG(uint64_t, seed, 1, "RNG seed");
ABSL_FLAG(int, tau, 1000, "steps per curve");
ABSL_FLAG(std::vector<std::string>, checkpoint_steps, {},
          "training steps before each checkpoint (default: 0,1000,4000)");
ABSL_FLAG(double, obs_noise, 0.15, "log-sd of the per-step loss noise");
ABSL_FLAG(int, dims, 100, "NQM dimensions");
ABSL_FLAG(double, grad_noise, 0.5, "NQM gradient noise scale");
ABSL_FLAG(double, checkpoint_lr, 0.3, "LR used to train up to the checkpoints");
ABSL_FLAG(std::vector<std::string>, lrs, {}, "LR sweep (default: see NqmOptions)");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  autolrs::forecast::NqmOptions options;
  options.seed = absl::GetFlag(FLAGS_seed);
  options.tau = absl::GetFlag(FLAGS_tau);
  options.obs_noise = absl::GetFlag(FLAGS_obs_noise);
  options.dims = absl::GetFlag(FLAGS_dims);
  options.grad_noise = absl::GetFlag(FLAGS_grad_noise);
  options.checkpoint_lr = absl::GetFlag(FLAGS_checkpoint_lr);
  const std::vector<std::string> lrs = absl::GetFlag(FLAGS_lrs);
  if (!lrs.empty()) {
    options.lrs.clear();
    for (const std::string& s : lrs) options.lrs.push_back(std::stod(s));
  }
  const std::vector<std::string> steps = absl::GetFlag(FLAGS_checkpoint_steps);
  if (!steps.empty()) {
    options.checkpoint_steps.clear();
    for (const std::string& s : steps) {
      options.checkpoint_steps.push_back(std::stoi(s));
    }
  }
  if (options.tau < 1) {
    std::cerr << "make_synthetic_curves: --tau must be >= 1\n";
    return 2;
  }
  std::cout << autolrs::forecast::CurvesToCsv(autolrs::forecast::SimulateNqmSweep(options));
  return 0;
}
