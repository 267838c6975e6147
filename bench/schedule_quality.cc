// The schedule-quality benchmark: does AutoLRS, in one run, train better
// than baseline schedules tuned the way practitioners tune them, and better
// than the one-run alternatives a user would otherwise pick (a textbook LR,
// an LR range test, a parameter-free optimizer)?
//
// This file only wires the parts together:
//   bench_config      tasks, stage settings, variants, the plan of runs
//   runner            runs them (parallel, one real server, reuse of
//                     finished runs whose inputs did not change)
//   quality_analysis  per task and stage setting: tuned grid, budget worth
//   report            RESULTS.md and gnuplot PNGs
//
//   bench/schedule_quality.sh [--quick]      (installs, builds, runs this)
//
// Exit status 0 when every run succeeded and the report was written.

#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "bench/bench_config.h"
#include "bench/quality_analysis.h"
#include "bench/report.h"
#include "bench/runner.h"

ABSL_FLAG(bool, quick, false,
          "Quick mode: 1 seed, a 3-value grid and S/10 to S/15 per task: a smoke run of "
          "the whole pipeline, < 10 min on 2 cores.");
ABSL_FLAG(std::string, out_dir, "",
          "Where RESULTS.md and plots/ are written. Default: the work dir.");
ABSL_FLAG(std::string, work_dir, "",
          "Runs' folders (reused when their inputs are unchanged), the SQLite file and "
          "gnuplot data. Default: /tmp/schedule_quality-quick/work with --quick, else "
          "$HOME/.cache/autolrs/schedule_quality.");
ABSL_FLAG(int, seeds, 0, "Seeds per configuration (1..N). Default 3, 1 with --quick.");
ABSL_FLAG(int, grid_size, 0, "Peak LRs per grid-tuned schedule (>= 2). Default 8, 3 with --quick.");
ABSL_FLAG(int, parallel, 2, "Train processes at a time (each with 1 torch thread).");
ABSL_FLAG(std::string, grid_schedules, "",
          "Comma-separated grid-tuned schedules to run, cosine included: constant, step, "
          "cosine, wsd (AutoLRS's shape at one LR, no probes). Default: constant, step, "
          "cosine.");
ABSL_FLAG(std::string, tasks, "", "Comma-separated task names to run (default: all).");
ABSL_FLAG(std::string, variants, "",
          "Comma-separated built-in AutoLRS variants to run (default: reference, recommended, "
          "recommended-reuse; 'all' for every row of the table).");
ABSL_FLAG(std::string, add_variants, "",
          "More AutoLRS variants, 'name=preset:JobConfig text;...', e.g. "
          "'notol=recommended:choice_tolerance: 0'.");
ABSL_FLAG(int, families, -1,
          "Families per task and stage setting (0: none): each runs the recommended variant "
          "--family_runs times with JobConfig.family set and a new seed per run. Default 3, "
          "0 with --quick.");
ABSL_FLAG(int, family_runs, 3, "Runs per family (>= 1), one after the other.");
ABSL_FLAG(std::string, default_variant, "recommended",
          "The variant the verdict is about (the service's default preset).");
ABSL_FLAG(bool, rerun, false, "Run everything again, even runs whose inputs did not change.");
ABSL_FLAG(bool, keep_baselines, false,
          "Reuse finished baseline runs (grid, textbook, range test, parameter-free) with the "
          "same arguments even if the train binary changed: for a server- or proto-only change, "
          "where the rebuilt trainer trains the baselines identically. AutoLRS runs still rerun.");
ABSL_FLAG(std::string, server_binary, "",
          "autolrs_server path (default: from this binary's runfiles).");
ABSL_FLAG(std::string, train_binary, "",
          "examples/fashion_mnist/train path (default: from this binary's runfiles).");
ABSL_FLAG(std::string, gnuplot, "gnuplot", "gnuplot executable.");
ABSL_FLAG(std::string, revision, "",
          "The code version written into RESULTS.md (the wrapper passes the git commit and "
          "any uncommitted changes).");
ABSL_FLAG(bool, plots, true, "Draw the gnuplot PNGs (plots/ beside RESULTS.md).");
ABSL_FLAG(std::string, note, "",
          "A sentence written under RESULTS.md's title (e.g. what makes a run partial).");
ABSL_FLAG(std::string, command, "",
          "The reproducing command written into RESULTS.md (default: "
          "bench/schedule_quality.sh [--quick]).");

namespace autolrs::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// Environment of every child: one BLAS thread, and glibc malloc kept from
// returning large buffers to the OS after every step (that costs the CNN
// about 4x in page faults here; the numbers do not change, only the speed).
const char* const kChildEnv[][2] = {
    {"OMP_NUM_THREADS", "1"},
    {"MALLOC_MMAP_THRESHOLD_", "4000000000"},
    {"MALLOC_TRIM_THRESHOLD_", "4000000000"},
    {"MALLOC_TOP_PAD_", "268435456"},
};

void OnSignal(int) { RequestStop(); }

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

// Copies a binary into work_dir/bin (a rebuild during a long run must not
// change later runs' code); returns the copy's path.
absl::StatusOr<std::string> Snapshot(const std::string& binary, const std::string& work_dir) {
  if (access(binary.c_str(), X_OK) != 0) {
    return absl::NotFoundError(absl::StrCat("not executable: ", binary));
  }
  std::error_code ec;
  fs::create_directories(fs::path(work_dir) / "bin", ec);
  const fs::path copy = fs::path(work_dir) / "bin" / fs::path(binary).filename();
  fs::copy_file(binary, copy, fs::copy_options::overwrite_existing, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot copy ", binary, ": ", ec.message()));
  return copy.string();
}

absl::Status Run(const char* argv0) {
  const Clock::time_point start = Clock::now();
  const bool quick = absl::GetFlag(FLAGS_quick);
  PlanOptions plan;
  plan.quick = quick;
  plan.seeds = absl::GetFlag(FLAGS_seeds) > 0 ? absl::GetFlag(FLAGS_seeds) : (quick ? 1 : 3);
  plan.grid_size = absl::GetFlag(FLAGS_grid_size) > 0 ? absl::GetFlag(FLAGS_grid_size)
                                                      : (quick ? 3 : 8);
  if (plan.grid_size < 2) return absl::InvalidArgumentError("--grid_size must be >= 2");
  if (const std::string only = absl::GetFlag(FLAGS_grid_schedules); !only.empty()) {
    plan.grid_schedules = absl::StrSplit(only, ',', absl::SkipEmpty());
    for (const std::string& s : plan.grid_schedules) {
      if (std::find(GridSchedules().begin(), GridSchedules().end(), s) == GridSchedules().end()) {
        return absl::InvalidArgumentError(
            absl::StrCat("--grid_schedules: unknown schedule '", s, "' (",
                         absl::StrJoin(GridSchedules(), ", "), ")"));
      }
    }
    if (std::find(plan.grid_schedules.begin(), plan.grid_schedules.end(), "cosine") ==
        plan.grid_schedules.end()) {
      return absl::InvalidArgumentError(
          "--grid_schedules must include cosine (every budget worth is against it)");
    }
  }
  if (plan.seeds > kMaxSeeds) {
    return absl::InvalidArgumentError(absl::StrCat("--seeds must be <= ", kMaxSeeds));
  }
  plan.families =
      absl::GetFlag(FLAGS_families) >= 0 ? absl::GetFlag(FLAGS_families) : (quick ? 0 : 3);
  plan.family_runs = absl::GetFlag(FLAGS_family_runs);
  if (plan.families > 0 && (plan.family_runs < 1 || plan.family_runs > 999)) {
    return absl::InvalidArgumentError("--family_runs must be in [1, 999]");
  }
  {
    absl::StatusOr<Variant> family_variant = FindBuiltinVariant("recommended");
    if (!family_variant.ok()) return family_variant.status();
    plan.family_variant = *family_variant;
  }
  const int parallel = absl::GetFlag(FLAGS_parallel);
  if (parallel < 1) return absl::InvalidArgumentError("--parallel must be >= 1");

  std::set<std::string> wanted;
  for (absl::string_view t : absl::StrSplit(absl::GetFlag(FLAGS_tasks), ',', absl::SkipEmpty())) {
    wanted.insert(std::string(t));
  }
  const bool all_tasks = wanted.empty();
  for (int i = 0; i < static_cast<int>(Tasks().size()); ++i) {
    if (all_tasks || wanted.erase(Tasks()[i].name)) plan.tasks.push_back(i);
  }
  if (!wanted.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--tasks: unknown ", absl::StrJoin(wanted, ",")));
  }
  absl::StatusOr<std::vector<Variant>> extra = ParseVariants(absl::GetFlag(FLAGS_add_variants));
  if (!extra.ok()) return extra.status();
  absl::StatusOr<std::vector<Variant>> variants =
      SelectVariants(absl::GetFlag(FLAGS_variants), *extra);
  if (!variants.ok()) return variants.status();
  plan.variants = *variants;

  RunnerOptions runner;
  runner.parallel = parallel;
  runner.rerun = absl::GetFlag(FLAGS_rerun);
  runner.keep_baselines = absl::GetFlag(FLAGS_keep_baselines);
  runner.work_dir = absl::GetFlag(FLAGS_work_dir);
  if (runner.work_dir.empty()) {
    const char* home = std::getenv("HOME");
    runner.work_dir = quick ? "/tmp/schedule_quality-quick/work"
                            : absl::StrCat(home ? home : "/tmp", "/.cache/autolrs/schedule_quality");
  }
  std::string out_dir = absl::GetFlag(FLAGS_out_dir);
  if (out_dir.empty()) out_dir = runner.work_dir;
  std::error_code ec;
  fs::create_directories(fs::path(runner.work_dir) / "runs", ec);
  fs::create_directories(fs::path(out_dir) / "plots", ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create folders: ", ec.message()));
  runner.work_dir = fs::absolute(runner.work_dir).string();
  out_dir = fs::absolute(out_dir).string();
  absl::StatusOr<std::string> server = Snapshot(
      Runfile(argv0, absl::GetFlag(FLAGS_server_binary), "server/autolrs_server"), runner.work_dir);
  if (!server.ok()) return server.status();
  absl::StatusOr<std::string> train =
      Snapshot(Runfile(argv0, absl::GetFlag(FLAGS_train_binary), "examples/fashion_mnist/train"),
               runner.work_dir);
  if (!train.ok()) return train.status();
  runner.server_binary = *server;
  runner.train_binary = *train;
  for (const auto& kv : kChildEnv) setenv(kv[0], kv[1], 1);

  const std::vector<RunSpec> specs = Plan(plan);
  std::fprintf(stderr,
               "schedule_quality: %s mode, %zu task(s), %zu variant(s), %d seed(s), grid %d, "
               "%d famil%s x %d run(s), %d parallel\n  work dir %s\n  out dir  %s\n",
               quick ? "quick" : "full", plan.tasks.size(), plan.variants.size(), plan.seeds,
               plan.grid_size, plan.families, plan.families == 1 ? "y" : "ies", plan.family_runs,
               parallel, runner.work_dir.c_str(), out_dir.c_str());
  std::vector<RunResult> results;
  if (absl::Status s = RunAll(runner, specs, results); !s.ok()) return s;

  ReportMeta meta;
  meta.quick = quick;
  meta.seeds = plan.seeds;
  meta.grid_size = plan.grid_size;
  meta.parallel = parallel;
  meta.revision = absl::GetFlag(FLAGS_revision);
  meta.note = absl::GetFlag(FLAGS_note);
  if (runner.keep_baselines) {
    meta.note = absl::StrCat(meta.note, meta.note.empty() ? "" : " ",
                             "Baseline runs may come from an earlier train binary "
                             "(--keep_baselines).");
  }
  meta.command = absl::GetFlag(FLAGS_command);
  if (meta.command.empty()) {
    meta.command = quick ? "bench/schedule_quality.sh --quick" : "bench/schedule_quality.sh";
  }
  meta.runs = static_cast<int>(specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    meta.reused += results[i].reused && results[i].ok;
    if (!results[i].ok) {
      ++meta.failed;
      meta.failures.push_back(absl::StrCat(specs[i].id, ": ", results[i].error));
    }
  }
  std::vector<TaskReport> reports;
  std::vector<FamilyReport> families;
  for (int t : plan.tasks) {
    for (int st = 0; st < static_cast<int>(StageSettings().size()); ++st) {
      reports.push_back(Analyze(specs, results, plan.variants, t, st, plan.grid_size));
      if (std::optional<FamilyReport> f = AnalyzeFamilies(specs, results, reports.back())) {
        families.push_back(*std::move(f));
      }
      if (!absl::GetFlag(FLAGS_plots)) continue;
      absl::StatusOr<std::string> png =
          Plot(reports.back(), plan.variants, runner.work_dir, out_dir, absl::GetFlag(FLAGS_gnuplot),
               plan.seeds);
      if (png.ok()) {
        meta.plots[{t, st}] = *png;
      } else {
        std::fprintf(stderr, "schedule_quality: no plot for %s: %s\n", Tasks()[t].name.c_str(),
                     png.status().ToString().c_str());
      }
    }
  }
  meta.wall_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  struct rusage children;
  if (getrusage(RUSAGE_CHILDREN, &children) == 0) {
    meta.child_cpu_seconds =
        static_cast<double>(children.ru_utime.tv_sec + children.ru_stime.tv_sec) +
        1e-6 * static_cast<double>(children.ru_utime.tv_usec + children.ru_stime.tv_usec);
  }
  const std::string md =
      Markdown(reports, plan.variants,
               absl::StrCat("autolrs-", absl::GetFlag(FLAGS_default_variant)), meta, families);
  const std::string path = absl::StrCat(out_dir, "/RESULTS.md");
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << md;
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  std::printf("%s", md.c_str());
  std::fprintf(stderr, "schedule_quality: wrote %s (%.1f min)\n", path.c_str(),
               meta.wall_seconds / 60);
  if (meta.failed > 0) return absl::InternalError("some runs failed; see RESULTS.md");
  return absl::OkStatus();
}

}  // namespace
}  // namespace autolrs::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Schedule-quality benchmark: AutoLRS against grid-tuned and one-run baselines on eight "
      "tasks; writes RESULTS.md and plots. See bench/README.md.");
  absl::ParseCommandLine(argc, argv);
  signal(SIGINT, autolrs::bench::OnSignal);
  signal(SIGTERM, autolrs::bench::OnSignal);
  signal(SIGHUP, SIG_IGN);
  const absl::Status status = autolrs::bench::Run(argv[0]);
  if (!status.ok()) {
    std::fprintf(stderr, "schedule_quality: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}
