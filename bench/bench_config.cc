#include "bench/bench_config.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "bench/quality_stats.h"

namespace autolrs::bench {

const char* GroupName(Group g) { return g == Group::kDev ? "dev" : "held-out"; }

// Budgets: with 1 torch thread on the shared 2-core machine an MLP step
// costs ~2-4 ms, a CNN step ~20-40 ms, a GRU step (32 x 32 bytes) ~15-30 ms,
// a Transformer step (32 x 32 bytes) ~50-75 ms.
//
// The dev set holds, besides the three first tasks, one with an LR cliff
// (tfm-adam: above about 1e-2 Adam collapses it to a high plateau, no NaN)
// and one with a long budget (mlp-adam-long), so that the rules a cliff or
// a long budget decides are chosen on dev tasks, not on the held-out ones.
const std::vector<Task>& Tasks() {
  static const std::vector<Task>* tasks = new std::vector<Task>{
      {"mlp-sgd", "MLP + SGD (momentum 0.9), Fashion-MNIST", Group::kDev, "mlp", "sgd", 3000,
       250, 128, 1e-3, 1.0, 0.1, {"dog", "dadapt-sgd"}, 1},
      {"cnn-sgd", "CNN + SGD (momentum 0.9), Fashion-MNIST", Group::kDev, "cnn", "sgd", 1000,
       100, 128, 1e-3, 1.0, 0.1, {"dog", "dadapt-sgd"}, 10},
      {"mlp-adam", "MLP + Adam, Fashion-MNIST", Group::kDev, "mlp", "adam", 3000, 250, 128,
       1e-4, 1e-1, 1e-3, {"dadapt-adam", "prodigy"}, 1},
      {"tfm-adam", "byte-level Transformer language model + Adam, Debian license texts",
       Group::kDev, "transformer", "adam", 1000, 100, 32, 1e-4, 1e-1, 1e-3,
       {"dadapt-adam", "prodigy"}, 16},
      {"mlp-adam-long", "MLP + Adam, Fashion-MNIST, 4x the budget", Group::kDev, "mlp", "adam",
       12000, 1000, 128, 1e-4, 1e-1, 1e-3, {"dadapt-adam", "prodigy"}, 1},
      {"mlp-sgd-long", "MLP + SGD (momentum 0.9), Fashion-MNIST, 4x the budget",
       Group::kHeldOut, "mlp", "sgd", 12000, 1000, 128, 1e-3, 1.0, 0.1,
       {"dog", "dadapt-sgd"}, 1},
      {"cnn-adamw", "CNN + AdamW (weight decay 0.01), Fashion-MNIST", Group::kHeldOut, "cnn",
       "adamw", 1000, 100, 128, 1e-4, 1e-1, 1e-3, {"dadapt-adam", "prodigy"}, 10},
      {"gru-adam", "byte-level GRU language model + Adam, Debian license texts",
       Group::kHeldOut, "gru", "adam", 1500, 100, 32, 1e-4, 1e-1, 1e-3,
       {"dadapt-adam", "prodigy"}, 8},
  };
  return *tasks;
}

const std::vector<StageSetting>& StageSettings() {
  static const std::vector<StageSetting>* settings = new std::vector<StageSetting>{
      {"S/15", "t15", 15, 4},
      {"S/30", "t30", 30, 4},
  };
  return *settings;
}

// Every variant has k=10 probes of tau/10 in its first stage; the rows after
// "reference" are the first default preset and one-option-off ablations of
// the current one, then its opt-in extras.
const std::vector<Variant>& BuiltinVariants() {
  static const std::vector<Variant>* variants = new std::vector<Variant>{
      {"reference", "reference", 10, 0.1, "",
       "published AutoLRS (reference forecaster, LCB kappa=1e6), k=10 probes of tau/10 every "
       "stage",
       true, true},
      {"first-preset", "recommended", 10, 0.1,
       "forecaster: FORECASTER_ROBUST_EXPONENTIAL cooldown_fraction: 0 search_radius: 0 "
       "later_stage_probes: 10 choice_tolerance: 0",
       "the service's first default preset (commit 3f775f2): robust forecaster, every stage "
       "searches the whole interval with k=10, no cooldown",
       false, false},
      {"recommended-robust-forecaster", "recommended", 10, 0.1,
       "forecaster: FORECASTER_ROBUST_EXPONENTIAL",
       "the default preset with the robust exponential forecaster instead of the last-10 mean",
       false, false},
      {"recommended-whole-interval", "recommended", 10, 0.1,
       "search_radius: 0 later_stage_probes: 10",
       "the default preset, but later stages search the whole interval with k=10", false,
       false},
      {"recommended-no-cooldown", "recommended", 10, 0.1, "cooldown_fraction: 0",
       "the default preset without the final cooldown", false, false},
      {"recommended-no-tolerance", "recommended", 10, 0.1, "choice_tolerance: 0",
       "the default preset choosing the best forecast (no 5% tolerance towards larger LRs)",
       false, false},
      {"recommended-cooldown-20", "recommended", 10, 0.1, "cooldown_fraction: 0.2",
       "the default preset with the first default's cooldown over the last 20% of S", false,
       false},
      {"recommended-tolerance-raises", "recommended", 10, 0.1, "tolerance_never_raises: false",
       "the default preset, its later stages' tolerance free to take an LR above both the "
       "previous stage's and the best forecast's (the default before the Transformer dev task)",
       false, false},
      {"recommended-no-first-stage-tolerance", "recommended", 10, 0.1,
       "first_stage_choice_tolerance: 0",
       "the default preset, its first stage taking the largest LR within 5% of the best "
       "forecast like the later stages",
       false, false},
      {"recommended-no-overfit-guard", "recommended", 10, 0.1, "overfit_guard: 0",
       "the default preset without the overfit guard: a stage or cooldown whose validation loss "
       "rose is kept (the default before the long-budget dev task)",
       false, false},
      {"recommended-no-min-probe-steps", "recommended", 10, 0.1, "min_probe_steps: 0",
       "the default preset with probes of tau/10 however short (3 steps at tau = 33: the "
       "default before the Transformer's stage-0 collapse at S/30)",
       false, false},
      {"recommended-no-raise-margin", "recommended", 10, 0.1, "raise_margin: 0",
       "the default preset, its later stages free to raise the LR whenever a higher LR "
       "forecasts best, by however little (the default before raise_margin)",
       false, false},
      {"recommended-no-clamp", "recommended", 10, 0.1, "first_stage_clamp_to_limit: false",
       "the default preset, its first stage taking the smallest probe above the half-decade "
       "limit even when a probe below the limit is within the 10% tolerance (the default "
       "before first_stage_clamp_to_limit)",
       false, false},
      {"recommended-skip-short-later-searches", "recommended", 10, 0.1,
       "later_stage_min_probe_steps: 20 search_needs_whole_stage: true",
       "the default preset, its later stages not searching where their probes would be under "
       "20 steps or their whole tau would not fit after the probes (on the 1,000-step tasks: "
       "no later search)",
       false, false},
      {"recommended", "recommended", 10, 0.1, "",
       "the default preset: last-10-mean forecast, probes of at least 7 steps; the first stage "
       "takes the smallest LR within "
       "10% of the best forecast, at most half a decade below it; later stages k=4 within "
       "0.3 decade of the previous LR, "
       "largest LR within 5% of the best forecast but no higher than the previous LR unless "
       "a higher LR forecast best and 2% below the previous LR; a stage whose validation loss "
       "rose 1% is rolled back to a lower "
       "LR; last 50% of S a linear cooldown, undone if its validation loss rose 1%",
       true, true},
      {"recommended-reuse", "recommended", 10, 0.1, "reuse_best_probe: true",
       "the default preset, continuing from the chosen probe's state (the trainer keeps a "
       "second checkpoint)",
       true, true},
      {"recommended-interpolation", "recommended", 10, 0.1, "first_stage_interpolation: true",
       "the default preset, its first stage free to take an LR between two probes, where the "
       "line joining their forecasts crosses the 10% tolerance",
       false, false},
      {"recommended-early-stop", "recommended", 10, 0.1, "min_probes_per_stage: 3",
       "the default preset; a stage's search may stop after 3 probes (early_stop_gain 0.01)",
       false, false},
      {"recommended-validation-later-stages", "recommended", 10, 0.1,
       "objective_switch: OBJECTIVE_SWITCH_AFTER_FIRST_STAGE",
       "the default preset, its later stages choosing by validation loss (16 evaluations per "
       "probe, not counted in S)",
       false, false},
  };
  return *variants;
}

namespace {

bool ValidName(absl::string_view name) {
  if (name.empty() || name.size() > 32) return false;
  for (char c : name) {
    if (!(absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-')) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<std::vector<Variant>> ParseVariants(absl::string_view spec) {
  std::vector<Variant> out;
  std::set<std::string> names;
  for (const Variant& v : BuiltinVariants()) names.insert(v.name);
  for (absl::string_view item : absl::StrSplit(spec, ';', absl::SkipWhitespace())) {
    item = absl::StripAsciiWhitespace(item);
    const size_t eq = item.find('=');
    const size_t colon = item.find(':', eq == absl::string_view::npos ? 0 : eq);
    if (eq == absl::string_view::npos || colon == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("variant '", item, "': expected name=preset:job_config"));
    }
    Variant v;
    v.name = std::string(item.substr(0, eq));
    v.preset = std::string(absl::StripAsciiWhitespace(item.substr(eq + 1, colon - eq - 1)));
    v.job_config = std::string(absl::StripAsciiWhitespace(item.substr(colon + 1)));
    if (!ValidName(v.name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("variant name '", v.name, "': use 1-32 of [a-z0-9-]"));
    }
    if (!names.insert(v.name).second) {
      return absl::InvalidArgumentError(absl::StrCat("variant name '", v.name, "' is taken"));
    }
    if (v.preset != "recommended" && v.preset != "reference") {
      return absl::InvalidArgumentError(absl::StrCat(
          "variant '", v.name, "': preset '", v.preset, "', expected recommended or reference"));
    }
    v.description = absl::StrCat("preset ", v.preset,
                                  v.job_config.empty() ? "" : absl::StrCat(" + `", v.job_config, "`"),
                                  " (added with --add_variants)");
    v.default_run = true;
    v.plotted = true;
    out.push_back(std::move(v));
  }
  return out;
}

absl::StatusOr<std::vector<Variant>> SelectVariants(absl::string_view names,
                                                    const std::vector<Variant>& extra) {
  std::vector<Variant> out;
  std::set<std::string> wanted;
  for (absl::string_view n : absl::StrSplit(names, ',', absl::SkipWhitespace())) {
    wanted.insert(std::string(absl::StripAsciiWhitespace(n)));
  }
  const bool all = wanted.erase("all") > 0;
  const bool defaults = wanted.empty() && !all;
  for (const Variant& v : BuiltinVariants()) {
    if (all || (defaults ? v.default_run : wanted.erase(v.name) > 0)) out.push_back(v);
  }
  if (!wanted.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--variants: unknown ", absl::StrJoin(wanted, ",")));
  }
  out.insert(out.end(), extra.begin(), extra.end());
  return out;
}

const std::vector<std::string>& GridSchedules() {
  static const std::vector<std::string>* s =
      new std::vector<std::string>{"constant", "step", "cosine", "wsd"};
  return *s;
}

const std::vector<std::string>& DefaultGridSchedules() {
  static const std::vector<std::string>* s =
      new std::vector<std::string>{"constant", "step", "cosine"};
  return *s;
}

int64_t Steps(const Task& task, bool quick) { return quick ? task.quick_steps : task.steps; }

int FamilySeed(int family, int run) { return 1000 * (family + 1) + run; }

absl::StatusOr<Variant> FindBuiltinVariant(absl::string_view name) {
  for (const Variant& v : BuiltinVariants()) {
    if (v.name == name) return v;
  }
  return absl::NotFoundError(absl::StrCat("no built-in variant '", name, "'"));
}

namespace {

// train's arguments of an AutoLRS run of `variant` at `setting`.
std::vector<std::string> AutoLrsArgs(const Task& task, int64_t s, const StageSetting& setting,
                                     const Variant& variant, const std::string& job_id,
                                     const std::string& extra_config) {
  const int64_t tau_initial = std::max<int64_t>(10, s / setting.tau_initial_div);
  const int64_t tau_max = std::max<int64_t>(tau_initial, s / setting.tau_max_div);
  std::string config = absl::StrFormat("probe_ratio: %.17g", variant.probe_ratio);
  for (const std::string* part : {&variant.job_config, &extra_config}) {
    if (!part->empty()) absl::StrAppend(&config, " ", *part);
  }
  return {"--schedule=autolrs",
          absl::StrCat("--job_id=", job_id),
          absl::StrFormat("--lr_min=%.17g", task.lr_min),
          absl::StrFormat("--lr_max=%.17g", task.lr_max),
          absl::StrCat("--tau_initial=", tau_initial),
          absl::StrCat("--tau_max=", tau_max),
          absl::StrCat("--probes_per_stage=", variant.probes_per_stage),
          absl::StrCat("--preset=", variant.preset),
          absl::StrCat("--job_config=", config)};
}

}  // namespace

std::vector<RunSpec> Plan(const PlanOptions& options) {
  std::vector<RunSpec> specs;
  const std::vector<Task>& tasks = Tasks();
  for (int t : options.tasks) {
    const Task& task = tasks[t];
    const int64_t s = Steps(task, options.quick);
    // Quick mode evaluates half as often (it is a smoke run).
    const int64_t eval_every = std::max<int64_t>(1, s / (options.quick ? 20 : 40));
    for (int seed = 1; seed <= options.seeds; ++seed) {
      // `optimizer`: the task's, except for the parameter-free baselines.
      auto add = [&](RunSpec r, const std::string& optimizer, std::vector<std::string> extra,
                     int64_t steps = 0) {
        r.task = t;
        r.steps = steps > 0 ? steps : s;
        r.seed = seed;
        r.args = {absl::StrCat("--model=", task.model),
                  absl::StrCat("--total_steps=", r.steps),
                  absl::StrCat("--seed=", seed),
                  absl::StrCat("--batch_size=", task.batch_size),
                  "--threads=1",
                  absl::StrCat("--eval_every=", eval_every),
                  absl::StrCat("--optimizer=", optimizer)};
        r.args.insert(r.args.end(), extra.begin(), extra.end());
        specs.push_back(std::move(r));
      };
      // AutoLRS, per stage setting and variant.
      for (size_t st = 0; st < StageSettings().size(); ++st) {
        const StageSetting& setting = StageSettings()[st];
        for (size_t v = 0; v < options.variants.size(); ++v) {
          const Variant& variant = options.variants[v];
          RunSpec r;
          r.kind = Kind::kAutoLrs;
          r.method = absl::StrCat("autolrs-", variant.name);
          r.setting = static_cast<int>(st);
          r.variant = static_cast<int>(v);
          r.id = absl::StrCat(task.name, "-", setting.id, "-", variant.name, "-s", seed);
          add(r, task.optimizer, AutoLrsArgs(task, s, setting, variant, r.id, ""));
        }
      }
      // Grid-tuned baselines: one run of `schedule` per grid LR, named
      // `method`, over `steps` (0 = S).
      const std::vector<double> grid = LogGrid(task.lr_min, task.lr_max, options.grid_size);
      auto add_grid = [&](const std::string& method, const std::string& schedule,
                          int64_t steps) {
        for (size_t i = 0; i < grid.size(); ++i) {
          RunSpec r;
          r.kind = Kind::kGrid;
          r.method = method;
          r.lr = grid[i];
          r.id = absl::StrCat(task.name, "-", method, "-g", options.grid_size, "-", i, "-s", seed);
          add(r, task.optimizer,
              {absl::StrCat("--schedule=", schedule), absl::StrFormat("--lr=%.17g", grid[i])},
              steps);
        }
      };
      for (const std::string& schedule : GridSchedules()) {
        const auto& only =
            options.grid_schedules.empty() ? DefaultGridSchedules() : options.grid_schedules;
        if (std::find(only.begin(), only.end(), schedule) == only.end()) continue;
        add_grid(schedule, schedule, 0);
      }
      // With families: the cosine grid at 1.1 x S (see kLongCosine).
      if (options.families > 0) {
        add_grid(kLongCosine, "cosine", std::llround(kLongCosineFactor * s));
      }
      // One-run baselines.
      {
        RunSpec r;
        r.kind = Kind::kOneRun;
        r.method = "textbook";
        r.lr = task.textbook_lr;
        r.id = absl::StrCat(task.name, "-textbook-s", seed);
        add(r, task.optimizer,
            {"--schedule=cosine", absl::StrFormat("--lr=%.17g", task.textbook_lr)});
      }
      {
        RunSpec r;
        r.kind = Kind::kOneRun;
        r.method = "range-cosine";
        r.id = absl::StrCat(task.name, "-range-cosine-s", seed);
        add(r, task.optimizer, {"--schedule=range-cosine", "--range_fraction=0.03", "--range_lr_min=1e-5",
                "--range_lr_max=10"});
      }
      for (const std::string& opt : task.parameter_free) {
        RunSpec r;
        r.kind = Kind::kOneRun;
        r.method = opt;
        r.lr = 1.0;
        r.id = absl::StrCat(task.name, "-", opt, "-s", seed);
        // DoG runs at a constant multiplier and is evaluated at its iterate
        // average (its paper's setup); D-Adaptation and Prodigy take the
        // schedule one would use anyway (their papers': cosine).
        add(r, opt, {absl::StrCat("--schedule=", opt == "dog" ? "constant" : "cosine"), "--lr=1"});
      }
    }
  }
  // Families: after the seeds, so that the stable sort below keeps each
  // family's runs in order.
  for (int t : options.tasks) {
    const Task& task = tasks[t];
    const int64_t s = Steps(task, options.quick);
    const int64_t eval_every = std::max<int64_t>(1, s / (options.quick ? 20 : 40));
    const Variant& variant = options.family_variant;
    for (size_t st = 0; st < StageSettings().size(); ++st) {
      const StageSetting& setting = StageSettings()[st];
      for (int f = 0; f < options.families; ++f) {
        for (int run = 1; run <= options.family_runs; ++run) {
          RunSpec r;
          r.kind = Kind::kFamily;
          r.method = absl::StrCat("family-", variant.name);
          r.task = t;
          r.setting = static_cast<int>(st);
          r.family = f;
          r.family_run = run;
          r.family_slot = absl::StrCat(task.name, "-", setting.id, "-f", f + 1);
          r.id = absl::StrCat(r.family_slot, "-r", run);
          r.seed = FamilySeed(f, run);
          r.steps = s;
          r.args = {absl::StrCat("--model=", task.model),
                    absl::StrCat("--total_steps=", s),
                    absl::StrCat("--seed=", r.seed),
                    absl::StrCat("--batch_size=", task.batch_size),
                    "--threads=1",
                    absl::StrCat("--eval_every=", eval_every),
                    absl::StrCat("--optimizer=", task.optimizer)};
          const std::vector<std::string> more =
              AutoLrsArgs(task, s, setting, variant, r.id,
                          absl::StrCat("family: \"", kFamilyPlaceholder, "\""));
          r.args.insert(r.args.end(), more.begin(), more.end());
          specs.push_back(std::move(r));
        }
      }
    }
  }
  std::stable_sort(specs.begin(), specs.end(), [&](const RunSpec& a, const RunSpec& b) {
    auto cost = [&](const RunSpec& r) {
      return static_cast<double>(r.steps) * tasks[r.task].cost_per_step;
    };
    return cost(a) > cost(b);
  });
  return specs;
}

}  // namespace autolrs::bench
