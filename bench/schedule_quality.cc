// The schedule-quality benchmark: does AutoLRS train faster than baseline
// schedules tuned the way practitioners tune them?
//
// For each task (model + optimizer, a step budget S and an LR interval):
//  - baselines: constant, step decay (x0.1 at 50% and 75% of S) and cosine,
//    each trained for S steps at every peak LR of a log-spaced grid over the
//    interval; the best peak LR of each is the one with the lowest mean final
//    validation loss over the seeds;
//  - AutoLRS variants (the table kVariants): one run of S steps each, probe
//    steps included, stage sizes scaled to S, through a real autolrs_server;
//  - every run is the real `//examples/fashion_mnist:train` binary on real
//    Fashion-MNIST, one torch thread, `--parallel` processes at a time.
// Then: the target T = the best tuned baseline's final validation loss (mean
// over seeds), steps each approach needs to reach T on its mean main-line
// validation curve (AutoLRS counted with its probe steps; a probe's own
// evaluations never count), the speedup, test loss/accuracy, tuning compute,
// and per AutoLRS run the probe fraction and each stage's chosen LR and
// forecast. Writes RESULTS.md and one PNG per task (gnuplot) into --out_dir.
//
//   bench/schedule_quality.sh [--quick]      (installs, builds, runs this)
//   bazel-out/k8-opt/bin/bench/schedule_quality --out_dir=bench [--quick]
//
// Exit status 0 when every run succeeded and the report was written.

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "autolrs/v1/job.pb.h"
#include "autolrs/v1/service.pb.h"
#include "bench/quality_stats.h"
#include "client/client.h"
#include "testing/server_process.h"

ABSL_FLAG(bool, quick, false,
          "Quick mode: 1 seed and a small step budget per task (MLP 800, CNN "
          "250 steps): a smoke run of the whole pipeline, < 10 min on 2 cores.");
ABSL_FLAG(std::string, out_dir, "",
          "Where RESULTS.md and plots/ are written. Default: the work dir.");
ABSL_FLAG(std::string, work_dir, "",
          "Scratch folder for the SQLite file, per-run CSVs, logs and gnuplot "
          "data (kept). Default: a new /tmp/schedule_quality.XXXXXX.");
ABSL_FLAG(int, seeds, 0, "Seeds per configuration (1..N). Default 3, 1 with --quick.");
ABSL_FLAG(int, grid_size, 8, "Peak LRs per baseline schedule (log-spaced, >= 2).");
ABSL_FLAG(int, parallel, 2, "Train processes at a time (each with 1 torch thread).");
ABSL_FLAG(std::string, tasks, "", "Comma-separated task names to run (default: all).");
ABSL_FLAG(std::string, variants, "",
          "Comma-separated AutoLRS variant names to run (default: all).");
ABSL_FLAG(std::string, server_binary, "",
          "autolrs_server path (default: from this binary's runfiles).");
ABSL_FLAG(std::string, train_binary, "",
          "Fashion-MNIST train path (default: from this binary's runfiles).");
ABSL_FLAG(std::string, gnuplot, "gnuplot", "gnuplot executable.");
ABSL_FLAG(std::string, revision, "",
          "The code version written into RESULTS.md (the wrapper passes the git "
          "commit and any uncommitted changes).");
ABSL_FLAG(std::string, command, "",
          "The reproducing command written into RESULTS.md (default: "
          "bench/schedule_quality.sh [--quick]).");

namespace autolrs::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------------------
// What is measured.

struct Task {
  const char* name;
  const char* model;      // --model
  const char* optimizer;  // --optimizer
  int64_t steps;          // S
  int64_t quick_steps;    // S in quick mode.
  double lr_min, lr_max;  // The interval AutoLRS searches and the grid spans.
};

// Budgets: MLP ~2-4 ms/step, CNN ~20-60 ms/step with 1 thread on the shared
// 2-core machine; the full run is ~3 x 27 runs per task.
const Task kTasks[] = {
    {"mlp-sgd", "mlp", "sgd", 3000, 800, 1e-3, 1.0},
    {"cnn-sgd", "cnn", "sgd", 1000, 250, 1e-3, 1.0},
    {"mlp-adam", "mlp", "adam", 3000, 800, 1e-4, 1e-1},
};

const char* const kBaselines[] = {"constant", "step", "cosine"};

// An AutoLRS configuration. Stage sizes scale with S: tau_initial = S /
// tau_initial_div, tau_max = S / tau_max_div. More JobConfig fields (any
// option the server offers) go into `job_config`, in protobuf text format.
struct Variant {
  const char* name;
  const char* preset;  // recommended | reference
  int probes_per_stage;
  double probe_ratio;
  int tau_initial_div;
  int tau_max_div;
  const char* job_config;
  const char* description;
  bool plotted;  // Drawn in the task's PNG (the RESULTS tables have them all).
};

// Every variant has k=10 probes of tau/10 in its first stage; the rows after
// "reference" are the first default preset and one-option-off ablations of the
// current one, then its opt-in extras.
const Variant kVariants[] = {
    {"reference", "reference", 10, 0.1, 15, 4, "",
     "published AutoLRS (reference forecaster, LCB kappa=1e6), k=10 probes of tau/10 "
     "every stage",
     true},
    {"first-preset", "recommended", 10, 0.1, 15, 4,
     "forecaster: FORECASTER_ROBUST_EXPONENTIAL cooldown_fraction: 0 search_radius: 0 "
     "later_stage_probes: 10 choice_tolerance: 0",
     "the service's first default preset (commit 3f775f2): robust forecaster, every stage "
     "searches the whole interval with k=10, no cooldown",
     true},
    {"recommended-robust-forecaster", "recommended", 10, 0.1, 15, 4,
     "forecaster: FORECASTER_ROBUST_EXPONENTIAL",
     "the default preset with the robust exponential forecaster instead of the last-10 mean",
     false},
    {"recommended-whole-interval", "recommended", 10, 0.1, 15, 4,
     "search_radius: 0 later_stage_probes: 10",
     "the default preset, but later stages search the whole interval with k=10", false},
    {"recommended-no-cooldown", "recommended", 10, 0.1, 15, 4, "cooldown_fraction: 0",
     "the default preset without the final cooldown", false},
    {"recommended-no-tolerance", "recommended", 10, 0.1, 15, 4, "choice_tolerance: 0",
     "the default preset choosing the best forecast (no 5% tolerance towards larger LRs)", false},
    {"recommended", "recommended", 10, 0.1, 15, 4, "",
     "the default preset: last-10-mean forecast; later stages k=4 within 0.3 decade of the "
     "previous LR, largest LR within 5% of the best forecast; last 20% of S a linear "
     "cooldown",
     true},
    {"recommended-reuse", "recommended", 10, 0.1, 15, 4, "reuse_best_probe: true",
     "the default preset, continuing from the chosen probe's state (opt-in: the trainer "
     "keeps a second checkpoint)",
     true},
    {"recommended-early-stop", "recommended", 10, 0.1, 15, 4, "min_probes_per_stage: 3",
     "the default preset; a stage's search may stop after 3 probes (early_stop_gain 0.01)", false},
};

// Environment of every child: one BLAS thread, and glibc malloc kept from
// returning large buffers to the OS after every step (that costs the CNN
// about 4x in page faults here; the numbers do not change, only the speed).
const char* const kChildEnv[][2] = {
    {"OMP_NUM_THREADS", "1"},
    {"MALLOC_MMAP_THRESHOLD_", "4000000000"},
    {"MALLOC_TRIM_THRESHOLD_", "4000000000"},
    {"MALLOC_TOP_PAD_", "268435456"},
};

// ---------------------------------------------------------------------------
// Runs.

struct RunSpec {
  int task = 0;
  int64_t steps = 0;
  std::string schedule;  // constant | step | cosine | autolrs
  int variant = -1;      // Index into kVariants for autolrs.
  double lr = 0;         // Baseline peak LR.
  int seed = 1;
  std::string id;  // Unique, also the job id.
  std::string csv, out, err;
  std::vector<std::string> argv;
};

struct RunResult {
  bool ok = false;
  std::string error;
  double wall_seconds = 0;
  double test_loss = NAN, test_accuracy = NAN;
  std::vector<EvalPoint> curve;  // Main-line validation losses, ending at S.
  double final_val = NAN;        // curve.back(), or NaN.
  double probe_fraction = 0;
  v1::Schedule schedule;  // AutoLRS only.
};

std::string RunName(const RunSpec& r) {
  if (r.schedule == "autolrs") {
    return absl::StrCat(kTasks[r.task].name, " autolrs-", kVariants[r.variant].name, " seed ",
                        r.seed);
  }
  return absl::StrFormat("%s %s lr=%.4g seed %d", kTasks[r.task].name, r.schedule, r.lr, r.seed);
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

absl::Status WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

std::atomic<bool> g_interrupted{false};
void OnSignal(int) { g_interrupted = true; }

// fork + exec with stdout/stderr redirected to files. Everything the child
// needs is prepared before fork (the parent has gRPC threads).
absl::StatusOr<pid_t> Spawn(const std::vector<std::string>& args, const std::string& out,
                            const std::string& err) {
  std::vector<char*> argv;
  std::vector<std::string> copy = args;
  for (std::string& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  const int out_fd = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  const int err_fd = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out_fd < 0 || err_fd < 0) {
    if (out_fd >= 0) close(out_fd);
    if (err_fd >= 0) close(err_fd);
    return absl::InternalError(absl::StrCat("cannot open ", out, " or ", err));
  }
  const pid_t pid = fork();
  if (pid < 0) {
    close(out_fd);
    close(err_fd);
    return absl::InternalError("fork failed");
  }
  if (pid == 0) {
    dup2(out_fd, 1);
    dup2(err_fd, 2);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(out_fd);
  close(err_fd);
  return pid;
}

std::string Runfile(const char* argv0, const std::string& flag, const std::string& rel) {
  if (!flag.empty()) return flag;
  std::vector<std::string> candidates;
  if (const char* dir = std::getenv("RUNFILES_DIR")) {
    candidates.push_back(absl::StrCat(dir, "/autolrs/", rel));
  }
  candidates.push_back(absl::StrCat(argv0, ".runfiles/autolrs/", rel));
  candidates.push_back(rel);
  for (const std::string& c : candidates) {
    if (access(c.c_str(), X_OK) == 0) return c;
  }
  return candidates.front();
}

// The served schedule as the sequence of (phase, LR) segments the trainer
// must have run (consecutive equal ones merged, as Segments() does).
std::vector<std::pair<std::string, double>> ExpectedSegments(const v1::Schedule& schedule) {
  std::vector<std::pair<std::string, double>> seq;
  auto push = [&](const char* phase, double lr) {
    if (!seq.empty() && seq.back().first == phase &&
        std::abs(seq.back().second - lr) <= 1e-9 * std::abs(lr)) {
      return;
    }
    seq.emplace_back(phase, lr);
  };
  for (const v1::Stage& stage : schedule.stages()) {
    if (!stage.search_skipped()) {
      for (const v1::Probe& p : stage.probes()) push("probe", p.lr());
    }
    if (stage.training_loss().count() > 0) push("exploit", stage.chosen_lr());
  }
  return seq;
}

// Checks that the CSV's per-step LRs (read back from the optimizer) follow
// the schedule the server handed out: a trainer that does not apply the LR
// would otherwise produce a plausible but meaningless result.
absl::Status CheckLrsFollowSchedule(const std::vector<StepRow>& rows,
                                    const v1::Schedule& schedule) {
  std::vector<StepRow> no_warmup;
  std::vector<StepRow> cooldown;
  for (const StepRow& r : rows) {
    if (r.phase == "cooldown") {
      cooldown.push_back(r);
    } else if (r.phase != "warmup") {
      no_warmup.push_back(r);
    }
  }
  // The cooldown: step i of n at cooldown_lr * (1 - i / n).
  if (static_cast<int64_t>(cooldown.size()) != schedule.cooldown_steps()) {
    return absl::DataLossError(absl::StrFormat("the CSV has %d cooldown steps, the schedule %d",
                                               cooldown.size(), schedule.cooldown_steps()));
  }
  for (size_t i = 0; i < cooldown.size(); ++i) {
    const double want = schedule.cooldown_lr() *
                        (1.0 - static_cast<double>(i + 1) / static_cast<double>(cooldown.size()));
    if (std::abs(cooldown[i].lr - want) > 1e-6 * schedule.cooldown_lr()) {
      return absl::DataLossError(
          absl::StrFormat("cooldown step %d (step %d) ran at LR %.6g, the schedule says %.6g",
                          i + 1, cooldown[i].step, cooldown[i].lr, want));
    }
  }
  const std::vector<Segment> got = Segments(no_warmup);
  const auto want = ExpectedSegments(schedule);
  for (size_t i = 0; i < std::max(got.size(), want.size()); ++i) {
    if (i >= got.size() || i >= want.size() || got[i].phase != want[i].first ||
        std::abs(got[i].lr - want[i].second) > 1e-6 * std::abs(want[i].second)) {
      return absl::DataLossError(absl::StrFormat(
          "the CSV's LRs do not follow the served schedule at segment %d: CSV has %s, the "
          "schedule %s",
          i,
          i < got.size() ? absl::StrFormat("%s lr=%.6g from step %d", got[i].phase, got[i].lr,
                                           got[i].first_step)
                         : std::string("nothing"),
          i < want.size() ? absl::StrFormat("%s lr=%.6g", want[i].first, want[i].second)
                          : std::string("nothing")));
    }
  }
  return absl::OkStatus();
}

// Parses a finished run's files into `result`.
absl::Status Collect(const RunSpec& spec, RunResult& result) {
  absl::StatusOr<std::string> out = ReadFile(spec.out);
  if (!out.ok()) return out.status();
  absl::StatusOr<std::map<std::string, std::string>> final_line = ParseFinalLine(*out);
  if (!final_line.ok()) return final_line.status();
  auto number = [&](const char* key) {
    auto it = final_line->find(key);
    return it == final_line->end() ? NAN : std::strtod(it->second.c_str(), nullptr);
  };
  result.test_loss = number("test_loss");
  result.test_accuracy = number("test_accuracy");
  if (number("steps") != static_cast<double>(spec.steps)) {
    return absl::DataLossError(
        absl::StrCat("the run spent ", number("steps"), " steps, not ", spec.steps));
  }
  absl::StatusOr<std::string> csv = ReadFile(spec.csv);
  if (!csv.ok()) return csv.status();
  absl::StatusOr<std::vector<StepRow>> rows = ParseStepCsv(*csv);
  if (!rows.ok()) return rows.status();
  if (static_cast<int64_t>(rows->size()) != spec.steps) {
    return absl::DataLossError(
        absl::StrCat("the CSV has ", rows->size(), " rows, expected ", spec.steps));
  }
  result.probe_fraction = ProbeFraction(*rows);
  result.curve = MainLineEvals(*rows);
  // The final model is the main line when the last step was (always, unless
  // the budget ended inside a probe). Its validation loss is on stdout.
  if (IsMainLine(rows->back().phase) &&
      (result.curve.empty() || result.curve.back().step != spec.steps)) {
    result.curve.push_back({spec.steps, number("val_loss")});
  }
  if (!result.curve.empty() && result.curve.back().step == spec.steps) {
    result.final_val = result.curve.back().val_loss;
  }
  if (spec.schedule != "autolrs" && !rows->empty()) {
    // The first step runs at the peak LR for every baseline schedule.
    if (std::abs((*rows)[0].lr - spec.lr) > 1e-6 * spec.lr) {
      return absl::DataLossError(
          absl::StrFormat("step 1 ran at lr %.6g, expected %.6g", (*rows)[0].lr, spec.lr));
    }
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// Formatting.

std::string Fmt(double v, int digits = 4) {
  if (std::isnan(v)) return "nan";
  return absl::StrFormat("%.*f", digits, v);
}

std::string MeanSd(const std::vector<double>& v, int digits = 4) {
  Summary s = Summarize(v);
  if (s.n == 0) return "-";
  if (s.n == 1) return Fmt(s.mean, digits);
  return absl::StrCat(Fmt(s.mean, digits), " ± ", Fmt(s.stddev, digits));
}

std::string Lr(double lr) { return absl::StrFormat("%.3g", lr); }

std::string Thousands(int64_t n) {
  std::string s = absl::StrCat(n);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(i, ",");
  return s;
}

// ---------------------------------------------------------------------------
// Analysis per task.

struct Approach {
  std::string name;     // "cosine", "autolrs-recommended"
  std::string setting;  // "peak 0.139" or the variant's description
  bool is_baseline = false;
  double lr = 0;  // Baseline peak LR.
  bool at_grid_edge = false;
  std::vector<const RunResult*> runs;  // One per seed (successful only).
  std::vector<EvalPoint> mean_curve;
  std::optional<int64_t> steps_to_target;
  std::optional<Speedup> speedup;  // Over the best tuned baseline.
  int seeds_reaching = 0;
  int64_t compute_steps = 0;   // Per seed: grid_size * S or S.
  double compute_seconds = 0;  // Per seed, measured wall time of the processes.
  int variant = -1;
};

double MeanFinalVal(const Approach& a) {
  std::vector<double> v;
  for (const RunResult* r : a.runs) v.push_back(r->final_val);
  return Summarize(v).mean;
}

struct TaskReport {
  int task = 0;
  int64_t steps = 0;
  std::vector<double> grid;
  // grid table: lr -> schedule -> mean final val
  std::map<double, std::map<std::string, double>> grid_val;
  std::vector<Approach> baselines;  // Tuned: one per schedule.
  int best = -1;                    // Index into baselines.
  double target = NAN;
  std::vector<Approach> autolrs;
  std::vector<std::string> notes;
  std::string plot;  // Relative path of the PNG.
};

// ---------------------------------------------------------------------------

class Benchmark {
 public:
  absl::Status Run(const char* argv0);

 private:
  absl::Status Prepare(const char* argv0);
  void Plan();
  absl::Status Execute();
  void Finished(size_t index, int wait_status, double seconds);
  TaskReport Analyze(int task);
  absl::Status Plot(TaskReport& report);
  std::string Markdown(const std::vector<TaskReport>& reports, double wall_seconds);

  bool quick_ = false;
  int seeds_ = 3;
  int grid_size_ = 8;
  int parallel_ = 2;
  std::vector<int> tasks_;
  std::vector<int> variants_;
  std::string work_dir_, out_dir_, server_binary_, train_binary_;
  std::unique_ptr<testing::ServerProcess> server_;
  std::unique_ptr<Client> client_;
  std::vector<RunSpec> specs_;
  std::vector<RunResult> results_;
  int done_ = 0;
  Clock::time_point start_;
};

absl::Status Benchmark::Prepare(const char* argv0) {
  quick_ = absl::GetFlag(FLAGS_quick);
  seeds_ = absl::GetFlag(FLAGS_seeds) > 0 ? absl::GetFlag(FLAGS_seeds) : (quick_ ? 1 : 3);
  grid_size_ = absl::GetFlag(FLAGS_grid_size);
  parallel_ = absl::GetFlag(FLAGS_parallel);
  if (grid_size_ < 2) return absl::InvalidArgumentError("--grid_size must be >= 2");
  if (parallel_ < 1) return absl::InvalidArgumentError("--parallel must be >= 1");

  const std::string task_filter = absl::GetFlag(FLAGS_tasks);
  std::set<std::string> wanted_tasks;
  for (absl::string_view t : absl::StrSplit(task_filter, ',', absl::SkipEmpty())) {
    wanted_tasks.insert(std::string(t));
  }
  const bool all_tasks = wanted_tasks.empty();
  for (int i = 0; i < static_cast<int>(std::size(kTasks)); ++i) {
    if (all_tasks || wanted_tasks.erase(kTasks[i].name)) tasks_.push_back(i);
  }
  if (!wanted_tasks.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--tasks: unknown ", absl::StrJoin(wanted_tasks, ",")));
  }
  std::set<std::string> wanted_variants;
  for (absl::string_view v :
       absl::StrSplit(absl::GetFlag(FLAGS_variants), ',', absl::SkipEmpty())) {
    wanted_variants.insert(std::string(v));
  }
  const bool all_variants = wanted_variants.empty();
  for (int i = 0; i < static_cast<int>(std::size(kVariants)); ++i) {
    if (all_variants || wanted_variants.erase(kVariants[i].name)) {
      variants_.push_back(i);
    }
  }
  if (!wanted_variants.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--variants: unknown ", absl::StrJoin(wanted_variants, ",")));
  }

  work_dir_ = absl::GetFlag(FLAGS_work_dir);
  if (work_dir_.empty()) {
    char templ[] = "/tmp/schedule_quality.XXXXXX";
    if (mkdtemp(templ) == nullptr) return absl::InternalError("mkdtemp failed");
    work_dir_ = templ;
  }
  out_dir_ = absl::GetFlag(FLAGS_out_dir);
  if (out_dir_.empty()) out_dir_ = work_dir_;
  std::error_code ec;
  fs::create_directories(fs::path(work_dir_) / "runs", ec);
  fs::create_directories(fs::path(work_dir_) / "plot", ec);
  fs::create_directories(fs::path(out_dir_) / "plots", ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create folders: ", ec.message()));
  work_dir_ = fs::absolute(work_dir_).string();
  out_dir_ = fs::absolute(out_dir_).string();

  server_binary_ = Runfile(argv0, absl::GetFlag(FLAGS_server_binary), "server/autolrs_server");
  train_binary_ = Runfile(argv0, absl::GetFlag(FLAGS_train_binary), "examples/fashion_mnist/train");
  // Snapshot the binaries: a rebuild in the workspace during a long run must
  // not change the code of later runs.
  fs::create_directories(fs::path(work_dir_) / "bin", ec);
  for (std::string* b : {&server_binary_, &train_binary_}) {
    if (access(b->c_str(), X_OK) != 0) {
      return absl::NotFoundError(absl::StrCat("not executable: ", *b));
    }
    const fs::path copy = fs::path(work_dir_) / "bin" / fs::path(*b).filename();
    fs::copy_file(*b, copy, fs::copy_options::overwrite_existing, ec);
    if (ec) return absl::InternalError(absl::StrCat("cannot copy ", *b, ": ", ec.message()));
    *b = copy.string();
  }
  for (const auto& kv : kChildEnv) setenv(kv[0], kv[1], 1);

  const std::string db = absl::StrCat(work_dir_, "/autolrs.db");
  std::remove(db.c_str());
  absl::StatusOr<std::unique_ptr<testing::ServerProcess>> server =
      testing::ServerProcess::Start(server_binary_, absl::StrCat("sqlite:", db));
  if (!server.ok()) return server.status();
  server_ = *std::move(server);
  ClientOptions options;
  options.target = server_->address();
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(options);
  if (!client.ok()) return client.status();
  client_ = *std::move(client);
  std::fprintf(stderr, "schedule_quality: %s mode, %d seed(s), grid %d, %d parallel\n",
               quick_ ? "quick" : "full", seeds_, grid_size_, parallel_);
  std::fprintf(stderr, "  work dir %s\n  out dir  %s\n  server %s (pid %d)\n", work_dir_.c_str(),
               out_dir_.c_str(), server_->address().c_str(), static_cast<int>(server_->pid()));
  return absl::OkStatus();
}

void Benchmark::Plan() {
  for (int t : tasks_) {
    const Task& task = kTasks[t];
    const int64_t s = quick_ ? task.quick_steps : task.steps;
    const int64_t eval_every = std::max<int64_t>(1, s / 40);
    for (int seed = 1; seed <= seeds_; ++seed) {
      auto common = [&](RunSpec& r) {
        r.task = t;
        r.steps = s;
        r.seed = seed;
        const std::string base = absl::StrCat(work_dir_, "/runs/", r.id);
        r.csv = base + ".csv";
        r.out = base + ".out";
        r.err = base + ".err";
        r.argv = {train_binary_,
                  absl::StrCat("--model=", task.model),
                  absl::StrCat("--optimizer=", task.optimizer),
                  absl::StrCat("--total_steps=", s),
                  absl::StrCat("--seed=", seed),
                  "--batch_size=128",
                  "--threads=1",
                  absl::StrCat("--eval_every=", eval_every),
                  absl::StrCat("--csv=", r.csv)};
      };
      for (int v : variants_) {
        const Variant& variant = kVariants[v];
        RunSpec r;
        r.schedule = "autolrs";
        r.variant = v;
        r.id = absl::StrCat("sq-", task.name, "-", variant.name, "-s", seed);
        common(r);
        const int64_t tau_initial = std::max<int64_t>(10, s / variant.tau_initial_div);
        const int64_t tau_max = std::max<int64_t>(tau_initial, s / variant.tau_max_div);
        std::string config =
            absl::StrFormat("probe_ratio: %.17g %s", variant.probe_ratio, variant.job_config);
        r.argv.insert(
            r.argv.end(),
            {"--schedule=autolrs", absl::StrCat("--server=", server_->address()),
             absl::StrCat("--job_id=", r.id), absl::StrFormat("--lr_min=%.17g", task.lr_min),
             absl::StrFormat("--lr_max=%.17g", task.lr_max),
             absl::StrCat("--tau_initial=", tau_initial), absl::StrCat("--tau_max=", tau_max),
             absl::StrCat("--probes_per_stage=", variant.probes_per_stage),
             absl::StrCat("--preset=", variant.preset), absl::StrCat("--job_config=", config)});
        specs_.push_back(std::move(r));
      }
      const std::vector<double> grid = LogGrid(task.lr_min, task.lr_max, grid_size_);
      for (const char* schedule : kBaselines) {
        for (size_t i = 0; i < grid.size(); ++i) {
          RunSpec r;
          r.schedule = schedule;
          r.lr = grid[i];
          r.id = absl::StrCat("sq-", task.name, "-", schedule, "-lr", i, "-s", seed);
          common(r);
          r.argv.insert(r.argv.end(), {absl::StrCat("--schedule=", schedule),
                                       absl::StrFormat("--lr=%.17g", grid[i])});
          specs_.push_back(std::move(r));
        }
      }
    }
  }
  // Longest first (the CNN's steps cost ~10x an MLP's) to balance the tail.
  std::stable_sort(specs_.begin(), specs_.end(), [](const RunSpec& a, const RunSpec& b) {
    auto cost = [](const RunSpec& r) {
      return r.steps * (std::string(kTasks[r.task].model) == "cnn" ? 10 : 1);
    };
    return cost(a) > cost(b);
  });
  results_.resize(specs_.size());
}

void Benchmark::Finished(size_t index, int wait_status, double seconds) {
  const RunSpec& spec = specs_[index];
  RunResult& result = results_[index];
  result.wall_seconds = seconds;
  ++done_;
  if (!WIFEXITED(wait_status) || WEXITSTATUS(wait_status) != 0) {
    std::string tail;
    if (absl::StatusOr<std::string> err = ReadFile(spec.err); err.ok()) {
      tail = err->substr(err->size() > 600 ? err->size() - 600 : 0);
    }
    result.error = absl::StrCat("exit status ", wait_status, "; stderr tail: ", tail);
  } else if (absl::Status s = Collect(spec, result); !s.ok()) {
    result.error = s.ToString();
  } else {
    result.ok = true;
  }
  std::string extra;
  if (result.ok && spec.schedule == "autolrs") {
    v1::GetScheduleRequest request;
    request.set_job_id(spec.id);
    absl::StatusOr<v1::Schedule> schedule = client_->GetSchedule(request);
    if (!schedule.ok()) {
      result.ok = false;
      result.error = absl::StrCat("GetSchedule: ", schedule.status().ToString());
    } else {
      result.schedule = *schedule;
      absl::StatusOr<std::string> csv = ReadFile(spec.csv);
      absl::StatusOr<std::vector<StepRow>> rows =
          csv.ok() ? ParseStepCsv(*csv) : absl::StatusOr<std::vector<StepRow>>(csv.status());
      absl::Status check = rows.ok() ? CheckLrsFollowSchedule(*rows, *schedule) : rows.status();
      if (!check.ok()) {
        result.ok = false;
        result.error = check.ToString();
      }
      std::vector<std::string> stages;
      for (const v1::Stage& st : schedule->stages()) {
        stages.push_back(absl::StrFormat("%d:%s%s", st.index(), Lr(st.chosen_lr()),
                                         st.search_skipped() ? "(kept)" : ""));
      }
      extra = absl::StrFormat(", probes %.0f%% of steps, chosen LR per stage %s",
                              100 * result.probe_fraction, absl::StrJoin(stages, " "));
    }
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
  const double eta = elapsed / done_ * (specs_.size() - done_);
  if (result.ok) {
    std::fprintf(stderr, "[%d/%zu %4.0fs, eta %4.0fs] %s: final val %.4f, test acc %.4f, %.1fs%s\n",
                 done_, specs_.size(), elapsed, eta, RunName(spec).c_str(), result.final_val,
                 result.test_accuracy, seconds, extra.c_str());
  } else {
    std::fprintf(stderr, "[%d/%zu] %s FAILED: %s\n", done_, specs_.size(), RunName(spec).c_str(),
                 result.error.c_str());
  }
}

absl::Status Benchmark::Execute() {
  start_ = Clock::now();
  std::deque<size_t> queue;
  for (size_t i = 0; i < specs_.size(); ++i) queue.push_back(i);
  struct Running {
    pid_t pid;
    size_t index;
    Clock::time_point start;
  };
  std::vector<Running> running;
  while (!queue.empty() || !running.empty()) {
    if (g_interrupted) {
      for (const Running& r : running) {
        kill(r.pid, SIGTERM);
        waitpid(r.pid, nullptr, 0);
      }
      return absl::CancelledError("interrupted");
    }
    while (!queue.empty() && static_cast<int>(running.size()) < parallel_) {
      const size_t index = queue.front();
      queue.pop_front();
      absl::StatusOr<pid_t> pid = Spawn(specs_[index].argv, specs_[index].out, specs_[index].err);
      if (!pid.ok()) return pid.status();
      running.push_back({*pid, index, Clock::now()});
    }
    bool reaped = false;
    for (size_t i = 0; i < running.size(); ++i) {
      int status = 0;
      if (waitpid(running[i].pid, &status, WNOHANG) == running[i].pid) {
        Finished(running[i].index, status,
                 std::chrono::duration<double>(Clock::now() - running[i].start).count());
        running.erase(running.begin() + i);
        reaped = true;
        break;
      }
    }
    if (!reaped) usleep(50 * 1000);
  }
  return absl::OkStatus();
}

TaskReport Benchmark::Analyze(int t) {
  const Task& task = kTasks[t];
  TaskReport report;
  report.task = t;
  report.steps = quick_ ? task.quick_steps : task.steps;
  report.grid = LogGrid(task.lr_min, task.lr_max, grid_size_);

  auto runs_of = [&](const std::string& schedule, double lr, int variant) {
    std::vector<const RunResult*> runs;
    for (size_t i = 0; i < specs_.size(); ++i) {
      const RunSpec& s = specs_[i];
      if (s.task != t || s.schedule != schedule || !results_[i].ok) continue;
      if (schedule == "autolrs" ? s.variant != variant : s.lr != lr) continue;
      runs.push_back(&results_[i]);
    }
    return runs;
  };
  auto finish = [&](Approach& a) {
    std::vector<std::vector<EvalPoint>> curves;
    for (const RunResult* r : a.runs) curves.push_back(r->curve);
    a.mean_curve = MeanCurve(curves);
  };

  for (const char* schedule : kBaselines) {
    std::vector<GridRun> grid_runs;
    double grid_seconds = 0;
    for (size_t i = 0; i < specs_.size(); ++i) {
      const RunSpec& s = specs_[i];
      if (s.task != t || s.schedule != schedule) continue;
      grid_seconds += results_[i].wall_seconds;
      // A failed run counts as diverged: it cannot be the best.
      grid_runs.push_back({s.lr, results_[i].ok ? results_[i].final_val : NAN});
    }
    std::map<double, std::vector<double>> by_lr;
    for (const GridRun& g : grid_runs) by_lr[g.lr].push_back(g.final_val_loss);
    for (const auto& [lr, vals] : by_lr) report.grid_val[lr][schedule] = Summarize(vals).mean;
    absl::StatusOr<LrChoice> choice = SelectBestLr(grid_runs);
    if (!choice.ok()) {
      report.notes.push_back(absl::StrCat(schedule, ": ", choice.status().message()));
      continue;
    }
    Approach a;
    a.name = schedule;
    a.is_baseline = true;
    a.lr = choice->lr;
    a.at_grid_edge = choice->at_grid_edge;
    a.setting =
        absl::StrCat("peak LR ", Lr(choice->lr), choice->at_grid_edge ? " (grid edge)" : "");
    a.runs = runs_of(schedule, choice->lr, -1);
    a.compute_steps = static_cast<int64_t>(grid_size_) * report.steps;
    a.compute_seconds = grid_seconds / seeds_;
    finish(a);
    report.baselines.push_back(std::move(a));
  }
  for (int v : variants_) {
    Approach a;
    a.name = absl::StrCat("autolrs-", kVariants[v].name);
    a.setting = kVariants[v].description;
    a.variant = v;
    a.runs = runs_of("autolrs", 0, v);
    a.compute_steps = report.steps;
    for (const RunResult* r : a.runs) a.compute_seconds += r->wall_seconds;
    if (!a.runs.empty()) a.compute_seconds /= a.runs.size();
    finish(a);
    report.autolrs.push_back(std::move(a));
  }
  // The best tuned baseline and the target.
  for (size_t i = 0; i < report.baselines.size(); ++i) {
    if (report.best < 0 ||
        MeanFinalVal(report.baselines[i]) < MeanFinalVal(report.baselines[report.best])) {
      report.best = static_cast<int>(i);
    }
  }
  if (report.best >= 0) {
    const Approach& best = report.baselines[report.best];
    if (!best.mean_curve.empty() && best.mean_curve.back().step == report.steps) {
      report.target = best.mean_curve.back().val_loss;
    }
  }
  auto reach = [&](Approach& a) {
    a.steps_to_target = StepsToTarget(a.mean_curve, report.target);
    for (const RunResult* r : a.runs)
      a.seeds_reaching += StepsToTarget(r->curve, report.target).has_value();
  };
  for (Approach& a : report.baselines) reach(a);
  for (Approach& a : report.autolrs) reach(a);
  if (report.best >= 0) {
    const std::vector<EvalPoint> reference = report.baselines[report.best].mean_curve;
    for (auto* list : {&report.baselines, &report.autolrs}) {
      for (Approach& a : *list) {
        if (!a.runs.empty()) {
          a.speedup = ComputeSpeedup(reference, a.mean_curve, report.target, report.steps);
        }
      }
    }
  }
  return report;
}

// Writes the gnuplot data and script of a task and runs gnuplot.
absl::Status Benchmark::Plot(TaskReport& report) {
  const Task& task = kTasks[report.task];
  if (report.best < 0) return absl::OkStatus();
  const std::string dir = absl::StrCat(work_dir_, "/plot/", task.name);
  fs::create_directories(dir);
  auto seed1_csv = [&](const std::string& schedule, double lr, int variant) -> std::string {
    for (const RunSpec& s : specs_) {
      if (s.task == report.task && s.seed == 1 && s.schedule == schedule &&
          (schedule == "autolrs" ? s.variant == variant : s.lr == lr)) {
        return s.csv;
      }
    }
    return "";
  };
  auto write_lr = [&](const std::string& csv_path, const std::string& stem) -> absl::Status {
    absl::StatusOr<std::string> csv = ReadFile(csv_path);
    if (!csv.ok()) return csv.status();
    absl::StatusOr<std::vector<StepRow>> rows = ParseStepCsv(*csv);
    if (!rows.ok()) return rows.status();
    std::string main, probe;
    int64_t last_main = -1;
    for (const StepRow& r : *rows) {
      if (r.phase == "probe") {
        absl::StrAppendFormat(&probe, "%d %.6g\n", r.step, r.lr);
      } else {
        if (last_main >= 0 && r.step != last_main + 1) main += "\n";
        absl::StrAppendFormat(&main, "%d %.6g\n", r.step, r.lr);
        last_main = r.step;
      }
    }
    if (absl::Status s = WriteFile(absl::StrCat(dir, "/", stem, "_lr_main.dat"), main); !s.ok()) {
      return s;
    }
    return WriteFile(absl::StrCat(dir, "/", stem, "_lr_probe.dat"), probe);
  };
  auto write_curve = [&](const Approach& a, const std::string& stem) {
    std::string text;
    for (const EvalPoint& p : a.mean_curve)
      absl::StrAppendFormat(&text, "%d %.6g\n", p.step, p.val_loss);
    return WriteFile(absl::StrCat(dir, "/", stem, "_val.dat"), text);
  };

  const Approach& best = report.baselines[report.best];
  double lowest = report.target;
  for (const auto* list : {&report.baselines, &report.autolrs}) {
    for (const Approach& a : *list) {
      for (const EvalPoint& p : a.mean_curve) {
        if (std::isfinite(p.val_loss) && p.val_loss > 0) lowest = std::min(lowest, p.val_loss);
      }
    }
  }
  std::string lr_plot, val_plot;
  const char* colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"};
  if (absl::Status s = write_lr(seed1_csv(best.name, best.lr, -1), "best"); !s.ok()) return s;
  if (absl::Status s = write_curve(best, "best"); !s.ok()) return s;
  lr_plot = absl::StrFormat(
      "'best_lr_main.dat' with lines lw 2 lc rgb '#000000' title '%s, peak %s (best tuned "
      "baseline)'",
      best.name, Lr(best.lr));
  val_plot = absl::StrFormat(
      "'best_val.dat' with linespoints lw 2 pt 7 ps 0.5 lc rgb '#000000' title '%s, peak %s'",
      best.name, Lr(best.lr));
  for (size_t i = 0; i < report.baselines.size(); ++i) {
    if (static_cast<int>(i) == report.best) continue;
    const Approach& b = report.baselines[i];
    const std::string stem = absl::StrCat("base", i);
    if (absl::Status s = write_curve(b, stem); !s.ok()) return s;
    absl::StrAppendFormat(&val_plot,
                          ", '%s_val.dat' with lines dt 2 lc rgb '#888888' title '%s, peak %s'",
                          stem, b.name, Lr(b.lr));
  }
  size_t plotted = 0;
  for (size_t i = 0; i < report.autolrs.size(); ++i) {
    const Approach& a = report.autolrs[i];
    if (a.runs.empty() || !kVariants[a.variant].plotted) continue;
    const std::string stem = absl::StrCat("auto", i);
    const char* color = colors[plotted++ % std::size(colors)];
    if (absl::Status s = write_lr(seed1_csv("autolrs", 0, a.variant), stem); !s.ok()) return s;
    if (absl::Status s = write_curve(a, stem); !s.ok()) return s;
    absl::StrAppendFormat(
        &lr_plot,
        ", '%s_lr_main.dat' with lines lw 2 lc rgb '%s' title '%s (main line)'"
        ", '%s_lr_probe.dat' every 2 with points pt 7 ps 0.25 lc rgb '%s' title '%s probes'",
        stem, color, a.name, stem, color, a.name);
    absl::StrAppendFormat(&val_plot,
                          ", '%s_val.dat' with linespoints lw 2 pt 7 ps 0.5 lc rgb '%s' title '%s'",
                          stem, color, a.name);
  }
  absl::StrAppendFormat(&val_plot,
                        ", %.6g with lines dt 3 lw 1.5 lc rgb '#000000' title 'target T = %.4f'",
                        report.target, report.target);
  report.plot = absl::StrCat("plots/", task.name, ".png");
  const std::string png = absl::StrCat(out_dir_, "/", report.plot);
  const std::string script = absl::StrCat(
      "set terminal pngcairo size 1000,820 font 'sans,9'\n", "set output '", png, "'\n",
      absl::StrFormat(
          "set multiplot layout 2,1 title '%s (%s + %s), S = %d steps; LRs of seed 1'\n", task.name,
          task.model, task.optimizer, report.steps),
      "set grid\nset key outside right top\nset lmargin 10\nset rmargin 48\n",
      absl::StrFormat("set xrange [0:%d]\n", report.steps),
      "set logscale y\nset format y '%g'\nset ylabel 'learning rate'\n",
      "set xlabel 'step (probe steps included)'\n",
      absl::StrFormat("set yrange [%.6g:%.6g]\n", std::min(task.lr_min, best.lr / 100) / 1.5,
                      task.lr_max * 1.5),
      "plot ", lr_plot, "\n", "unset logscale y\nset format y '%.2f'\n",
      absl::StrFormat("set ylabel 'validation loss (main line, mean of %d seed(s))'\n", seeds_),
      absl::StrFormat("set yrange [%.6g:%.6g]\n", lowest * 0.95, report.target * 2.5), "plot ",
      val_plot, "\n", "unset multiplot\n");
  const std::string script_path = absl::StrCat(dir, "/plot.gp");
  if (absl::Status s = WriteFile(script_path, script); !s.ok()) return s;
  absl::StatusOr<pid_t> pid =
      Spawn({"/bin/sh", "-c",
             absl::StrCat("cd '", dir, "' && exec '", absl::GetFlag(FLAGS_gnuplot), "' plot.gp")},
            absl::StrCat(dir, "/gnuplot.out"), absl::StrCat(dir, "/gnuplot.err"));
  if (!pid.ok()) return pid.status();
  int status = 0;
  waitpid(*pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    absl::StatusOr<std::string> err = ReadFile(absl::StrCat(dir, "/gnuplot.err"));
    return absl::InternalError(
        absl::StrCat("gnuplot failed on ", script_path, ": ", err.ok() ? *err : ""));
  }
  return absl::OkStatus();
}

constexpr char kStarNote[] =
    "A speedup marked * did not reach T within S: it is the steps the best baseline needs to "
    "reach the approach's final validation loss divided by S (what the approach's whole budget "
    "is worth in best-baseline steps).";

std::string StepsCell(const Approach& a, int64_t s) {
  if (a.runs.empty()) return "-";
  if (!a.steps_to_target) return absl::StrCat("not reached in ", Thousands(s));
  return Thousands(*a.steps_to_target);
}

std::string SpeedupCell(const Approach& a) {
  if (!a.speedup) return "-";
  return absl::StrFormat("%.2fx%s", a.speedup->value, a.speedup->reached ? "" : "*");
}

std::string Benchmark::Markdown(const std::vector<TaskReport>& reports, double wall_seconds) {
  std::string md;
  std::string command = absl::GetFlag(FLAGS_command);
  if (command.empty())
    command = quick_ ? "bench/schedule_quality.sh --quick" : "bench/schedule_quality.sh";
  char date[64];
  const std::time_t now = std::time(nullptr);
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", std::gmtime(&now));
  int failed = 0;
  for (const RunResult& r : results_) failed += !r.ok;

  absl::StrAppend(&md, "# Schedule quality: does AutoLRS train faster?\n\n",
                  "Generated by `bench/schedule_quality` from measured runs only (", date,
                  quick_ ? ", **quick mode**" : ", full mode", "). Reproduce with:\n\n    ",
                  command, "\n\n");
  if (!absl::GetFlag(FLAGS_revision).empty()) {
    absl::StrAppend(&md, "Code: ", absl::GetFlag(FLAGS_revision), ".\n\n");
  }
  std::string loadavg;
  if (absl::StatusOr<std::string> l = ReadFile("/proc/loadavg"); l.ok()) {
    std::vector<std::string> f = absl::StrSplit(*l, ' ');
    if (f.size() >= 3) loadavg = absl::StrCat(f[0], " ", f[1], " ", f[2]);
  }
  absl::StrAppendFormat(
      &md,
      "%d train runs (%d failed), %d seed(s) each, %d at a time with 1 torch thread, "
      "wall time %.1f min on %ld cores shared with other work (load average at the end: "
      "%s).%s\n\n",
      static_cast<int>(results_.size()), failed, seeds_, parallel_, wall_seconds / 60,
      sysconf(_SC_NPROCESSORS_ONLN), loadavg,
      quick_ ? " Quick mode: 1 seed and small budgets (MLP S = 800, CNN S = 250), a smoke "
               "run of the pipeline; its numbers are not the benchmark's answer."
             : "");
  absl::StrAppend(
      &md, "## Method\n\n",
      "- Every run is `//examples/fashion_mnist:train` on real Fashion-MNIST (50,000 train, "
      "2,000-image validation subset, 10,000 test), batch 128, for exactly S steps.\n",
      "- Baselines: constant, step decay (x0.1 at 50% and 75% of S) and cosine, each at ",
      grid_size_,
      " peak LRs log-spaced over the task's interval; the tuned peak LR of each "
      "schedule is the one with the lowest mean final **validation** loss over the seeds (test "
      "numbers are never used for choosing). The best tuned baseline is the schedule with the "
      "lowest mean final validation loss.\n",
      "- AutoLRS: one run of S steps per seed through a real `autolrs_server` (SQLite), "
      "**probe steps included** in S; tau_initial = S/15, tau_max = S/4 (doubling), the "
      "job's total_steps = S (the server skips a search the remaining budget cannot pay "
      "for and keeps the last LR; the recommended preset's cooldown takes the last 20% of S). "
      "Every variant is one row of the table `kVariants` in bench/schedule_quality.cc; the "
      "plots show the reference, the first preset and the current one.\n",
      "- Target T = the best tuned baseline's mean final validation loss. *Steps to T* is the "
      "first evaluation step at which the mean (over seeds) main-line validation curve is <= T; "
      "validation loss is evaluated every S/40 counted steps, and only after main-line steps "
      "(train/warmup/exploit/cooldown), never in a probe whose state is rolled back. Speedup = the "
      "best "
      "baseline's steps to T / the approach's steps to T. ",
      kStarNote, " *Seeds reaching T* uses each seed's own curve.\n",
      "- Compute per seed: a tuned baseline costs its whole grid (grid size x S steps); "
      "AutoLRS costs one run (S steps). Seconds are measured wall time of the train "
      "processes on a shared machine (indicative only).\n",
      "- Children run with `OMP_NUM_THREADS=1` and glibc malloc told not to return big "
      "buffers to the OS (`MALLOC_MMAP_THRESHOLD_`, `MALLOC_TRIM_THRESHOLD_`, "
      "`MALLOC_TOP_PAD_`): same numbers, the CNN about 4x faster here.\n",
      "- The LRs a run used are read back from the optimizer (CSV) and checked against the "
      "schedule the server handed out; a mismatch fails the run.\n\n");

  // Summary.
  absl::StrAppend(&md,
                  "## Summary\n\n| task | S | best tuned baseline | T (val loss) |\n"
                  "|---|---:|---|---:|\n");
  for (const TaskReport& r : reports) {
    if (r.best < 0) continue;
    const Approach& best = r.baselines[r.best];
    absl::StrAppendFormat(&md, "| %s | %s | %s, peak LR %s | %.4f |\n", kTasks[r.task].name,
                          Thousands(r.steps), best.name, Lr(best.lr), r.target);
  }
  // One row per variant: per task the mean final validation loss and the
  // speedup.
  absl::StrAppend(&md, "\n| AutoLRS variant | what it is |");
  for (const TaskReport& r : reports) {
    absl::StrAppend(&md, " ", kTasks[r.task].name, ": final val, speedup |");
  }
  absl::StrAppend(&md, " tasks at >= 1.2x |\n|---|---|");
  for (size_t i = 0; i < reports.size(); ++i) absl::StrAppend(&md, "---:|");
  absl::StrAppend(&md, "---:|\n");
  std::vector<std::string> met;  // Variants at >= 1.2x on at least two tasks.
  for (int v : variants_) {
    absl::StrAppendFormat(&md, "| autolrs-%s | %s |", kVariants[v].name, kVariants[v].description);
    int meeting = 0;
    for (const TaskReport& r : reports) {
      const Approach* a = nullptr;
      for (const Approach& x : r.autolrs) {
        if (x.variant == v) a = &x;
      }
      if (a == nullptr || a->runs.empty()) {
        absl::StrAppend(&md, " - |");
        continue;
      }
      absl::StrAppendFormat(&md, " %.4f, %s |", MeanFinalVal(*a), SpeedupCell(*a));
      if (a->speedup && a->speedup->reached && a->speedup->value >= 1.2) ++meeting;
    }
    absl::StrAppendFormat(&md, " %d of %d |\n", meeting, static_cast<int>(reports.size()));
    if (meeting >= 2) met.push_back(absl::StrCat("autolrs-", kVariants[v].name));
  }
  absl::StrAppend(&md, "\n", kStarNote,
                  "\n\nTarget: AutoLRS reaches T at least 1.2x sooner (probe steps counted) on "
                  "at least two of the three tasks. ");
  absl::StrAppend(&md,
                  met.empty() ? "**Not met** by any variant."
                              : absl::StrCat("**Met** by ", absl::StrJoin(met, ", "), "."),
                  "\n");
  absl::StrAppend(&md, "\n");

  for (const TaskReport& r : reports) {
    const Task& task = kTasks[r.task];
    absl::StrAppendFormat(&md, "## %s: %s + %s, S = %s, LR interval [%s, %s]\n\n", task.name,
                          task.model,
                          std::string(task.optimizer) == "sgd" ? "SGD (momentum 0.9)" : "Adam",
                          Thousands(r.steps), Lr(task.lr_min), Lr(task.lr_max));
    for (const std::string& n : r.notes) absl::StrAppend(&md, "- note: ", n, "\n");
    if (r.best < 0) {
      absl::StrAppend(&md, "No baseline finished; nothing to compare.\n\n");
      continue;
    }
    absl::StrAppend(
        &md,
        "| approach | setting | final val loss | test loss | test accuracy | steps to T | "
        "seeds reaching T | speedup | compute per seed (steps) | seconds per seed |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    auto row = [&](const Approach& a, bool is_best) {
      std::vector<double> val, loss, acc;
      for (const RunResult* x : a.runs) {
        val.push_back(x->final_val);
        loss.push_back(x->test_loss);
        acc.push_back(x->test_accuracy);
      }
      absl::StrAppendFormat(&md, "| %s%s%s | %s | %s | %s | %s | %s | %d/%d | %s | %s | %.0f |\n",
                            is_best ? "**" : "", a.name, is_best ? "** (best)" : "", a.setting,
                            MeanSd(val), MeanSd(loss), MeanSd(acc), StepsCell(a, r.steps),
                            a.seeds_reaching, static_cast<int>(a.runs.size()), SpeedupCell(a),
                            a.is_baseline ? absl::StrCat(grid_size_, " x ", Thousands(r.steps),
                                                         " = ", Thousands(a.compute_steps))
                                          : Thousands(a.compute_steps),
                            a.compute_seconds);
    };
    for (size_t i = 0; i < r.baselines.size(); ++i)
      row(r.baselines[i], static_cast<int>(i) == r.best);
    for (const Approach& a : r.autolrs) row(a, false);
    absl::StrAppend(&md, "\nValues are mean ± sample standard deviation over seeds. ", kStarNote,
                    "\n\n");
    if (!r.plot.empty()) {
      absl::StrAppend(&md, "![", task.name, "](", r.plot, ")\n\n");
    }

    // The grid.
    absl::StrAppend(&md,
                    "<details><summary>LR grid: mean final validation loss</summary>\n\n"
                    "| peak LR | constant | step | cosine |\n|---:|---:|---:|---:|\n");
    for (const auto& [lr, by_schedule] : r.grid_val) {
      absl::StrAppend(&md, "| ", Lr(lr), " |");
      for (const char* s : kBaselines) {
        auto it = by_schedule.find(s);
        std::string cell = it == by_schedule.end() ? "-" : Fmt(it->second);
        for (const Approach& b : r.baselines) {
          if (b.name == s && b.lr == lr) cell = absl::StrCat("**", cell, "**");
        }
        absl::StrAppend(&md, " ", cell, " |");
      }
      absl::StrAppend(&md, "\n");
    }
    absl::StrAppend(&md, "\n</details>\n\n");

    // AutoLRS stages.
    absl::StrAppend(
        &md,
        "AutoLRS stages (chosen LR per seed; forecast = the chosen probe's predicted "
        "loss after tau steps, achieved = mean of the stage's last 10 training losses, "
        "or its final validation loss for validation-objective stages; both as mean "
        "over seeds. A cooldown row gives its start, its steps (in the tau column), "
        "the LR it decays from, and the final validation loss):\n\n"
        "| variant | probe steps | stage | start step | tau | tau' | objective | chosen LR "
        "per seed | forecast | achieved |\n"
        "|---|---:|---:|---:|---:|---:|---|---|---:|---:|\n");
    for (const Approach& a : r.autolrs) {
      if (a.runs.empty()) continue;
      std::vector<double> fractions;
      size_t max_stages = 0;
      for (const RunResult* x : a.runs) {
        fractions.push_back(x->probe_fraction * 100);
        max_stages = std::max<size_t>(max_stages, x->schedule.stages_size());
      }
      for (size_t st = 0; st < max_stages; ++st) {
        std::vector<std::string> lrs;
        std::vector<double> forecast, achieved;
        const v1::Stage* first = nullptr;
        bool cut = false;
        for (const RunResult* x : a.runs) {
          if (static_cast<int>(st) >= x->schedule.stages_size()) {
            lrs.push_back("-");
            continue;
          }
          const v1::Stage& stage = x->schedule.stages(st);
          if (first == nullptr) first = &stage;
          lrs.push_back(Lr(stage.chosen_lr()) + (stage.search_skipped() ? " (kept)" : ""));
          if (!stage.search_skipped()) forecast.push_back(stage.chosen_predicted_loss());
          const bool val = stage.objective() == v1::OBJECTIVE_VALIDATION_LOSS &&
                           stage.validation_loss().count() > 0;
          if (stage.training_loss().count() > 0) {
            achieved.push_back(val ? stage.validation_loss().last()
                                   : stage.training_loss().tail_mean());
            // A stage continued from its chosen probe trains tau - tau' steps.
            const int64_t full =
                stage.tau() - (stage.continued_from_probe() ? stage.tau_probe() : 0);
            cut |= stage.training_loss().count() < full;
          }
        }
        if (first == nullptr) continue;
        absl::StrAppendFormat(
            &md, "| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s%s |\n", st == 0 ? a.name : "",
            st == 0 ? absl::StrCat(MeanSd(fractions, 1), "%") : "", static_cast<int>(st),
            Thousands(first->start_steps_spent()), Thousands(first->tau()),
            first->search_skipped() ? "-" : Thousands(first->tau_probe()),
            first->objective() == v1::OBJECTIVE_VALIDATION_LOSS ? "val" : "train",
            absl::StrJoin(lrs, ", "), forecast.empty() ? "-" : Fmt(Summarize(forecast).mean),
            achieved.empty() ? "-" : Fmt(Summarize(achieved).mean),
            cut ? " (cut by the budget)" : "");
      }
      // The cooldown, when the runs had one: its start, length, the LR it
      // decayed from, and the validation loss at its end (the run's last).
      std::vector<std::string> from;
      std::vector<double> end_val;
      int64_t start = -1, steps = 0;
      for (const RunResult* x : a.runs) {
        if (x->schedule.cooldown_steps() == 0) continue;
        steps = x->schedule.cooldown_steps();
        start = r.steps - steps;
        from.push_back(Lr(x->schedule.cooldown_lr()) + " to 0");
        end_val.push_back(x->final_val);
      }
      if (start >= 0) {
        absl::StrAppendFormat(&md, "|  |  | cooldown | %s | %s | - | linear | %s | - | %s |\n",
                              Thousands(start), Thousands(steps), absl::StrJoin(from, ", "),
                              Fmt(Summarize(end_val).mean));
      }
    }
    absl::StrAppend(&md, "\n");
  }
  if (failed > 0) {
    absl::StrAppend(&md, "## Failed runs\n\n");
    for (size_t i = 0; i < specs_.size(); ++i) {
      if (!results_[i].ok) {
        absl::StrAppend(&md, "- ", RunName(specs_[i]), ": ", results_[i].error.substr(0, 300),
                        "\n");
      }
    }
    absl::StrAppend(&md, "\n");
  }
  return md;
}

absl::Status Benchmark::Run(const char* argv0) {
  const Clock::time_point wall_start = Clock::now();
  if (absl::Status s = Prepare(argv0); !s.ok()) return s;
  Plan();
  std::fprintf(stderr, "schedule_quality: %zu train runs\n", specs_.size());
  if (absl::Status s = Execute(); !s.ok()) return s;
  std::vector<TaskReport> reports;
  for (int t : tasks_) {
    TaskReport report = Analyze(t);
    if (absl::Status s = Plot(report); !s.ok()) return s;
    reports.push_back(std::move(report));
  }
  const double wall = std::chrono::duration<double>(Clock::now() - wall_start).count();
  const std::string md = Markdown(reports, wall);
  const std::string path = absl::StrCat(out_dir_, "/RESULTS.md");
  if (absl::Status s = WriteFile(path, md); !s.ok()) return s;
  std::printf("%s", md.c_str());
  std::fprintf(stderr, "schedule_quality: wrote %s (%.1f min)\n", path.c_str(), wall / 60);
  for (const RunResult& r : results_) {
    if (!r.ok) return absl::InternalError("some runs failed; see RESULTS.md");
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace autolrs::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Schedule-quality benchmark: AutoLRS vs grid-tuned constant/step/cosine on "
      "Fashion-MNIST; writes RESULTS.md and plots. See bench/schedule_quality.cc.");
  absl::ParseCommandLine(argc, argv);
  signal(SIGINT, autolrs::bench::OnSignal);
  signal(SIGTERM, autolrs::bench::OnSignal);
  signal(SIGHUP, SIG_IGN);
  autolrs::bench::Benchmark benchmark;
  const absl::Status status = benchmark.Run(argv[0]);
  if (!status.ok()) {
    std::fprintf(stderr, "schedule_quality: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}
