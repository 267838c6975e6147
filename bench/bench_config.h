#ifndef AUTOLRS_BENCH_BENCH_CONFIG_H_
#define AUTOLRS_BENCH_BENCH_CONFIG_H_

// What the schedule-quality benchmark runs: the tasks, the stage-size
// settings, the AutoLRS variants, the one-run baselines, and the plan of
// train runs (each a `//examples/fashion_mnist:train` command line).
// Pure data and functions, no I/O; thread-compatible.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace autolrs::bench {

// Dev tasks: the defaults may be tuned on them. Held-out tasks: only
// reported, never tuned on.
enum class Group { kDev, kHeldOut };
const char* GroupName(Group g);

struct Task {
  std::string name;         // "mlp-sgd"
  std::string description;  // "MLP + SGD (momentum 0.9), Fashion-MNIST"
  Group group = Group::kDev;
  std::string model;        // train --model
  std::string optimizer;    // train --optimizer
  int64_t steps = 0;        // S
  int64_t quick_steps = 0;  // S in quick mode
  int64_t batch_size = 128;
  double lr_min = 0, lr_max = 0;  // The interval AutoLRS searches and the grid spans.
  double textbook_lr = 0;         // The textbook default's cosine peak.
  std::vector<std::string> parameter_free;  // train --optimizer values, run at --lr=1.
  double cost_per_step = 1;       // Relative, to start the slow runs first.
};
const std::vector<Task>& Tasks();

// AutoLRS stage sizes: tau_initial = S / tau_initial_div, tau_max = S /
// tau_max_div (at least 10 and tau_initial).
struct StageSetting {
  std::string name;  // "S/15"
  std::string id;    // "t15", in run ids
  int tau_initial_div = 15;
  int tau_max_div = 4;
};
const std::vector<StageSetting>& StageSettings();

// An AutoLRS configuration: one row of the variant table.
struct Variant {
  std::string name;     // "recommended": the method is "autolrs-recommended"
  std::string preset;   // recommended | reference
  int probes_per_stage = 10;
  double probe_ratio = 0.1;
  // More JobConfig fields in protobuf text format (train --job_config).
  std::string job_config;
  std::string description;
  bool default_run = false;  // Run when --variants is not given.
  bool plotted = false;      // Drawn in the plots (the tables show all).
};
const std::vector<Variant>& BuiltinVariants();

// Parses extra variants, "name=preset:job_config;name2=preset:job_config",
// e.g. "notol=recommended:choice_tolerance: 0;k6=recommended:later_stage_probes: 6".
// Names: [a-z0-9-], unique, not a built-in name. INVALID_ARGUMENT otherwise.
absl::StatusOr<std::vector<Variant>> ParseVariants(absl::string_view spec);

// The variants to run: the named built-ins (all default_run ones when `names`
// is empty; "all" = every built-in), then `extra`. INVALID_ARGUMENT for an
// unknown name.
absl::StatusOr<std::vector<Variant>> SelectVariants(absl::string_view names,
                                                    const std::vector<Variant>& extra);

// The grid-tuned baseline schedules the harness knows: constant, step,
// cosine and wsd (AutoLRS's default shape, a constant LR and a linear
// cooldown over the last half, without probes: what a perfect choice of one
// LR would reach).
const std::vector<std::string>& GridSchedules();
// The ones a plan runs when it names none: constant, step, cosine.
const std::vector<std::string>& DefaultGridSchedules();

// With families (issue 16's "worth >= 1.1x of the grid-tuned cosine"): the
// cosine grid over kLongCosineFactor x S steps. A run whose final validation
// loss is at or below that grid's tuned final loss is worth >= 1.1x: the
// tuned cosine needs more than 1.1 x S steps to reach it.
inline constexpr char kLongCosine[] = "cosine-long";
inline constexpr double kLongCosineFactor = 1.1;

enum class Kind {
  kGrid,     // One peak LR of a grid-tuned baseline schedule.
  kOneRun,   // textbook, range-cosine, a parameter-free optimizer.
  kAutoLrs,  // One AutoLRS variant at one stage setting.
  kFamily,   // One run of a family: the family variant with JobConfig.family set.
};

// AutoLRS and family runs train through the server.
inline bool UsesServer(Kind kind) { return kind == Kind::kAutoLrs || kind == Kind::kFamily; }

// Family runs' --job_config carries this in place of the family's name; the
// runner substitutes the name it chose (run_cache.h, FamilyName) before the
// run's inputs are computed.
inline constexpr char kFamilyPlaceholder[] = "@FAMILY@";

// The seed of run `run` (1-based) of family `family` (0-based): 1000 *
// (family + 1) + run, distinct from every other family run and from the
// plain runs' seeds 1..kMaxSeeds.
inline constexpr int kMaxSeeds = 999;
int FamilySeed(int family, int run);

struct RunSpec {
  std::string id;      // Unique; the run's folder and AutoLRS job id ([a-z0-9-]).
  int task = 0;        // Index into Tasks().
  int setting = -1;    // kAutoLrs: index into StageSettings(); else -1.
  Kind kind = Kind::kGrid;
  // constant | step | cosine | cosine-long (kGrid; the last, with families,
  // is the cosine grid at 1.1 x S steps); textbook | range-cosine | dog |
  // dadapt-sgd | dadapt-adam | prodigy (kOneRun); autolrs-<variant>
  // (kAutoLrs); family-<variant> (kFamily).
  std::string method;
  int variant = -1;    // kAutoLrs: index into PlanOptions::variants.
  // kFamily: the family's index (0-based) at this task and stage setting, the
  // run's number in it (1-based: run r starts after run r - 1 finished), and
  // the family's slot, "<task>-<setting id>-f<family + 1>" (unique per plan;
  // the runner keeps the family's name per slot).
  int family = -1;
  int family_run = 0;
  std::string family_slot;
  double lr = 0;       // The --lr passed: peak LR, textbook LR, multiplier 1.
  int seed = 1;
  int64_t steps = 0;   // S
  // train's flags, without the binary, --server and --csv (the runner adds
  // those); together with the binaries' hashes they are the run's inputs.
  std::vector<std::string> args;
};

struct PlanOptions {
  bool quick = false;
  int seeds = 3;
  int grid_size = 8;
  std::vector<int> tasks;         // Indices into Tasks().
  std::vector<Variant> variants;  // AutoLRS variants to run.
  // Families per task and stage setting (0: none), runs per family, and the
  // variant they run (its job_config gets `family: "@FAMILY@"`).
  int families = 0;
  int family_runs = 3;
  Variant family_variant;
  // The grid-tuned schedules to run (a subset of GridSchedules(), cosine
  // included: every worth is against it); empty: DefaultGridSchedules().
  std::vector<std::string> grid_schedules;
};

// The built-in variant named `name`; NOT_FOUND otherwise.
absl::StatusOr<Variant> FindBuiltinVariant(absl::string_view name);

// Every run of the benchmark, slowest first (S x cost_per_step). Grid and
// one-run baselines do not depend on the stage setting and run once. The
// validation loss is evaluated every S/40 steps (S/20 in quick mode).
// Family runs (kFamily) get seeds FamilySeed(f, r) and ids
// "<slot>-r<r>"; a family's runs appear in run order.
std::vector<RunSpec> Plan(const PlanOptions& options);

// S of a task in this mode.
int64_t Steps(const Task& task, bool quick);

}  // namespace autolrs::bench

#endif  // AUTOLRS_BENCH_BENCH_CONFIG_H_
