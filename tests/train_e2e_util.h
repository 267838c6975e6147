#ifndef AUTOLRS_TESTS_TRAIN_E2E_UTIL_H_
#define AUTOLRS_TESTS_TRAIN_E2E_UTIL_H_

// Helpers of the end-to-end tests that run the real autolrs_server and the
// real Fashion-MNIST `train` binary: spawning and waiting for processes,
// reading the trainer's outputs, and deriving from a job's schedule the
// learning rate every step must have used.

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "autolrs/v1/job.pb.h"

namespace autolrs::e2e {

// Runfiles-relative paths of the binaries (tests list them in `data`).
inline constexpr char kServerBinary[] = "server/autolrs_server";
inline constexpr char kTrainBinary[] = "examples/fashion_mnist/train";

// Starts `args[0]` with `args`, stdout and stderr redirected to the given
// files, OMP_NUM_THREADS=1. Returns the child's pid.
absl::StatusOr<pid_t> Spawn(const std::vector<std::string>& args, const std::string& stdout_path,
                            const std::string& stderr_path);

// Waits for `pid` to exit; past `timeout` kills it (SIGKILL) and returns
// DEADLINE_EXCEEDED. Returns the exit code (128 + signal if killed by one).
absl::StatusOr<int> WaitFor(pid_t pid, absl::Duration timeout);

// A 127.0.0.1 TCP port that was free a moment ago (bound to port 0, closed).
absl::StatusOr<int> PickFreePort();

std::string ReadFile(const std::string& path);

// The trainer's `final: key=value ...` line parsed; empty if absent.
struct FinalLine {
  bool found = false;
  double test_loss = -1;
  double test_accuracy = -1;
  int64_t steps = -1;
  int64_t model_steps = -1;
};
FinalLine ParseFinalLine(const std::string& stdout_text);

// One row of the trainer's --csv.
struct CsvRow {
  int64_t step = 0;
  std::string phase;
  double lr = 0;
  double loss = 0;
  bool has_val_loss = false;
  double val_loss = 0;
};
// INVALID_ARGUMENT if the header or a row is malformed.
absl::StatusOr<std::vector<CsvRow>> ReadStepCsv(const std::string& path);

// What the trainer must have run at one step, derived from the schedule.
struct ExpectedStep {
  std::string phase;  // "probe", "exploit" or "cooldown"
  double lr = 0;
  int stage = 0;
};

// Walks the schedule of a finished job (no warmup) and returns every step's
// phase and LR: per stage, each probe's tau' steps at its LR, then the
// exploitation at the chosen LR; then the cooldown's ramp, if any. Fails
// (INTERNAL, saying where) unless the schedule is complete and gapless:
// stages start where the previous one ended, every searched stage has its k
// probes (probes_per_stage, later_stage_probes after the first) of
// min(tau', budget left) steps, every exploitation has min(tau, budget left)
// steps, and the stages and the cooldown add up to total_steps. Sets
// *actions to the number of actions the job must have issued before DONE.
absl::StatusOr<std::vector<ExpectedStep>> ExpectedSteps(const v1::JobConfig& config,
                                                        const v1::Schedule& schedule,
                                                        int64_t* actions);

}  // namespace autolrs::e2e

#endif  // AUTOLRS_TESTS_TRAIN_E2E_UTIL_H_
