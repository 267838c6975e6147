// Produces real loss curves for the forecaster benchmark.
//
// Trains a model with a fixed base learning rate, takes an in-memory
// checkpoint (TorchCheckpointer) at each of --checkpoint_steps, and from each
// checkpoint trains --tau steps at each LR of a log-spaced sweep, restoring
// the checkpoint before every curve. Every step's training loss is written to
// --out as CSV with the header `checkpoint,lr,step,loss` (checkpoint = the
// checkpoint's step count, step = 1..tau). As in AutoLRS, the restore puts
// back model and optimizer state only: each curve sees the batches that
// follow in the data stream, not the same ones.
//
//   bazel run -c opt //examples/fashion_mnist:curves -- --out=/tmp/curves.csv

#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/torch_checkpointer.h"
#include "examples/fashion_mnist/fashion_mnist.h"
#include "examples/fashion_mnist/trainer.h"

ABSL_FLAG(std::string, model, "mlp", "Network: mlp or cnn.");
ABSL_FLAG(std::string, optimizer, "sgd", "sgd (momentum 0.9) or adam.");
ABSL_FLAG(int64_t, batch_size, 128, "Images per step.");
ABSL_FLAG(uint64_t, seed, 1, "Seed of the initialization and data order.");
ABSL_FLAG(double, base_lr, 0.05, "LR of the base run that leads to the checkpoints.");
ABSL_FLAG(std::string, checkpoint_steps, "0,300,1000,2000",
          "Comma-separated step counts of the base run at which to take a "
          "checkpoint.");
ABSL_FLAG(double, lr_min, 1e-3, "Smallest LR of the sweep.");
ABSL_FLAG(double, lr_max, 1.0, "Largest LR of the sweep.");
ABSL_FLAG(int, num_lrs, 10, "Number of log-spaced LRs in [lr_min, lr_max].");
ABSL_FLAG(int64_t, tau, 1000, "Steps per curve.");
ABSL_FLAG(std::string, out, "curves.csv",
          "Output CSV (relative paths are relative to the directory bazel "
          "run was called from).");
ABSL_FLAG(std::string, data_dir, "",
          "Folder of the Fashion-MNIST IDX files (default: the Debian "
          "package's).");
ABSL_FLAG(int, threads, 1, "libtorch intra-op threads.");

namespace autolrs::examples {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

absl::StatusOr<std::vector<int64_t>> ParseSteps(const std::string& text) {
  std::vector<int64_t> steps;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    int64_t v;
    if (!absl::SimpleAtoi(part, &v) || v < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--checkpoint_steps: '", part, "' is not a non-negative integer"));
    }
    steps.push_back(v);
  }
  if (steps.empty()) {
    return absl::InvalidArgumentError("--checkpoint_steps is empty");
  }
  std::sort(steps.begin(), steps.end());
  steps.erase(std::unique(steps.begin(), steps.end()), steps.end());
  return steps;
}

std::string OutputPath(const std::string& path) {
  const char* cwd = std::getenv("BUILD_WORKING_DIRECTORY");
  if (path.empty() || path[0] == '/' || cwd == nullptr) return path;
  return absl::StrCat(cwd, "/", path);
}

absl::Status Run() {
  const Clock::time_point start = Clock::now();
  at::set_num_threads(absl::GetFlag(FLAGS_threads));

  absl::StatusOr<std::vector<int64_t>> checkpoints =
      ParseSteps(absl::GetFlag(FLAGS_checkpoint_steps));
  if (!checkpoints.ok()) return checkpoints.status();
  const double lr_min = absl::GetFlag(FLAGS_lr_min);
  const double lr_max = absl::GetFlag(FLAGS_lr_max);
  const int num_lrs = absl::GetFlag(FLAGS_num_lrs);
  const int64_t tau = absl::GetFlag(FLAGS_tau);
  if (!(lr_min > 0) || !(lr_max >= lr_min) || num_lrs < 1 || tau < 1) {
    return absl::InvalidArgumentError("need 0 < lr_min <= lr_max, num_lrs >= 1 and tau >= 1");
  }
  std::vector<double> lrs;
  for (int i = 0; i < num_lrs; ++i) {
    const double f = num_lrs == 1 ? 0.0 : double(i) / (num_lrs - 1);
    lrs.push_back(std::exp(std::log(lr_min) + f * std::log(lr_max / lr_min)));
  }

  TrainerOptions options;
  options.model = absl::GetFlag(FLAGS_model);
  options.optimizer = absl::GetFlag(FLAGS_optimizer);
  options.batch_size = absl::GetFlag(FLAGS_batch_size);
  options.seed = absl::GetFlag(FLAGS_seed);
  options.learning_rate = absl::GetFlag(FLAGS_base_lr);
  absl::StatusOr<std::unique_ptr<Trainer>> trainer =
      Trainer::CreateWithData(options, absl::GetFlag(FLAGS_data_dir));
  if (!trainer.ok()) return trainer.status();
  TorchCheckpointer checkpointer((*trainer)->model(), (*trainer)->optimizer());

  const std::string out_path = OutputPath(absl::GetFlag(FLAGS_out));
  FILE* out = std::fopen(out_path.c_str(), "w");
  if (out == nullptr) {
    return absl::UnavailableError(absl::StrCat("cannot write ", out_path));
  }
  std::fprintf(out, "checkpoint,lr,step,loss\n");
  std::fprintf(stderr,
               "model=%s optimizer=%s base_lr=%g tau=%ld, %zu "
               "checkpoints x %zu LRs in [%g, %g]\n",
               options.model.c_str(), options.optimizer.c_str(), options.learning_rate, long(tau),
               checkpoints->size(), lrs.size(), lr_min, lr_max);

  int64_t base_steps = 0;
  int64_t train_steps = 0;
  double train_seconds = 0;
  for (const int64_t checkpoint : *checkpoints) {
    // Continue the base run up to this checkpoint. The previous checkpoint
    // (if any) was restored after its sweep, so the base run is unaffected
    // by the curves apart from its data order.
    (*trainer)->SetLearningRate(options.learning_rate);
    Clock::time_point t = Clock::now();
    double base_loss = NAN;
    for (; base_steps < checkpoint; ++base_steps) {
      base_loss = (*trainer)->TrainStep();
    }
    train_seconds += Seconds(t);
    if (absl::Status s = checkpointer.Save(); !s.ok()) return s;
    std::fprintf(stderr, "checkpoint %ld: last base loss %s, validation %.4f\n", long(checkpoint),
                 checkpoint == 0 ? "-" : absl::StrCat(base_loss).c_str(),
                 (*trainer)->ValidationLoss());

    for (const double lr : lrs) {
      if (absl::Status s = checkpointer.Restore(); !s.ok()) return s;
      (*trainer)->SetLearningRate(lr);
      t = Clock::now();
      double tail = 0;
      for (int64_t step = 1; step <= tau; ++step) {
        const double loss = (*trainer)->TrainStep();
        std::fprintf(out, "%ld,%.6g,%ld,%.7g\n", long(checkpoint), lr, long(step), loss);
        if (step > tau - std::min<int64_t>(tau, 10)) tail += loss;
      }
      train_seconds += Seconds(t);
      std::fprintf(stderr, "  lr %-10.4g last-10 mean loss %.4f\n", lr,
                   tail / double(std::min<int64_t>(tau, 10)));
    }
    if (absl::Status s = checkpointer.Restore(); !s.ok()) return s;
  }
  train_steps = base_steps + int64_t(checkpoints->size() * lrs.size()) * tau;
  if (std::fclose(out) != 0) {
    return absl::UnavailableError(absl::StrCat("cannot write ", out_path));
  }
  std::fprintf(stderr,
               "wrote %s: %zu curves x %ld steps\n"
               "%ld training steps, %.2f ms/step (%s, batch %ld, %d thread)\n"
               "total time %.1f s\n",
               out_path.c_str(), checkpoints->size() * lrs.size(), long(tau), long(train_steps),
               1e3 * train_seconds / double(train_steps), options.model.c_str(),
               long(options.batch_size), absl::GetFlag(FLAGS_threads), Seconds(start));
  return absl::OkStatus();
}

}  // namespace
}  // namespace autolrs::examples

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const absl::Status status = autolrs::examples::Run();
  if (!status.ok()) {
    std::fprintf(stderr, "curves: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}
