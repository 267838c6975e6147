#ifndef AUTOLRS_BENCH_RUNNER_H_
#define AUTOLRS_BENCH_RUNNER_H_

// Runs the benchmark's train processes, `parallel` at a time, each with one
// torch thread, AutoLRS and family ones against one real autolrs_server
// (SQLite in <work_dir>/autolrs.db, recreated, with a new token, whenever the
// server is started: only when some AutoLRS or family run has to run). A run
// whose folder holds the same inputs (run_cache.h) is not run again but read
// back; a family (kFamily runs of one slot) is reused whole or run again whole
// under a new name (run_cache.h), its runs one after the other: run r starts
// after run r - 1 finished and the server's GetFamily lists it (a server
// answering UNIMPLEMENTED has no families: the runs then start from nothing).
// A family run after a failed one fails without running.
//
// Not thread-safe. SIGINT/SIGTERM (see RequestStop) kill the running
// children and make Run() return CANCELLED.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "bench/bench_config.h"
#include "bench/run_result.h"

namespace autolrs::bench {

struct RunnerOptions {
  std::string work_dir;       // runs/<id>/ and autolrs.db go here.
  std::string train_binary;   // Executable paths (snapshots: not rebuilt
  std::string server_binary;  // while the benchmark runs).
  int parallel = 2;
  bool rerun = false;         // Ignore finished runs' folders.
  // Reuse finished grid and one-run baseline runs with the same arguments
  // even when the train binary changed (e.g. only the server's JobConfig
  // grew a field, which the trainer links but the baselines never use).
  bool keep_baselines = false;
};

// The folder of a run.
std::string RunDir(const std::string& work_dir, const RunSpec& spec);

// Runs (or reuses) every spec; results[i] is specs[i]'s. A failed run is
// reported in its RunResult, not as an error; errors are for the harness
// itself (cannot start the server, spawn, write files) and interruption.
absl::Status RunAll(const RunnerOptions& options, const std::vector<RunSpec>& specs,
                    std::vector<RunResult>& results);

// Async-signal-safe: asks a RunAll in progress to stop.
void RequestStop();

}  // namespace autolrs::bench

#endif  // AUTOLRS_BENCH_RUNNER_H_
