#include "bench/quality_analysis.h"

#include <algorithm>
#include <cmath>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace autolrs::bench {
namespace {

std::string Lr(double lr) { return absl::StrFormat("%.3g", lr); }

void Finish(Approach& a, int64_t steps) {
  std::vector<std::vector<EvalPoint>> curves;
  std::vector<double> finals;
  a.seconds = 0;
  for (const RunResult* r : a.runs) {
    curves.push_back(r->curve);
    finals.push_back(r->final_val);
    a.seconds += std::isnan(r->seconds) ? 0 : r->seconds;
  }
  if (!a.runs.empty()) a.seconds /= static_cast<double>(a.runs.size());
  a.mean_curve = MeanCurve(curves);
  a.final_val = Summarize(finals);
  if (a.compute_steps == 0) a.compute_steps = steps;
}

}  // namespace

const Approach* TaskReport::Find(const std::string& method) const {
  for (const auto* list : {&tuned, &one_run, &autolrs}) {
    for (const Approach& a : *list) {
      if (a.method == method) return &a;
    }
  }
  return nullptr;
}

TaskReport Analyze(const std::vector<RunSpec>& specs, const std::vector<RunResult>& results,
                   const std::vector<Variant>& variants, int task, int setting, int grid_size) {
  TaskReport report;
  report.task = task;
  report.setting = setting;
  report.grid_size = grid_size;
  auto collect = [&](auto&& match, Approach& a) {
    for (size_t i = 0; i < specs.size(); ++i) {
      if (specs[i].task != task || !results[i].ok || !match(specs[i])) continue;
      a.specs.push_back(&specs[i]);
      a.runs.push_back(&results[i]);
      report.steps = specs[i].steps;
    }
  };
  for (const RunSpec& s : specs) {
    if (s.task == task && s.method != kLongCosine) report.steps = s.steps;
  }
  // The cosine grid at 1.1 x S, tuned by mean final validation loss.
  {
    std::vector<GridRun> long_runs;
    for (size_t i = 0; i < specs.size(); ++i) {
      const RunSpec& s = specs[i];
      if (s.task != task || s.kind != Kind::kGrid || s.method != kLongCosine) continue;
      long_runs.push_back({s.lr, results[i].ok ? results[i].final_val : NAN});
    }
    if (!long_runs.empty()) {
      absl::StatusOr<LrChoice> choice = SelectBestLr(long_runs);
      if (choice.ok()) {
        std::vector<double> vals;
        for (const GridRun& g : long_runs) {
          if (g.lr == choice->lr) vals.push_back(g.final_val_loss);
        }
        report.long_cosine_lr = choice->lr;
        report.long_cosine_val = Summarize(vals).mean;
      } else {
        report.notes.push_back(absl::StrCat(kLongCosine, ": ", choice.status().message()));
      }
    }
  }

  // Grid-tuned baselines.
  for (const std::string& schedule : GridSchedules()) {
    std::vector<GridRun> grid_runs;
    double grid_seconds = 0;
    int seeds = 0;
    for (size_t i = 0; i < specs.size(); ++i) {
      const RunSpec& s = specs[i];
      if (s.task != task || s.kind != Kind::kGrid || s.method != schedule) continue;
      grid_runs.push_back({s.lr, results[i].ok ? results[i].final_val : NAN});
      if (results[i].ok && !std::isnan(results[i].seconds)) grid_seconds += results[i].seconds;
      seeds = std::max(seeds, s.seed);
    }
    if (grid_runs.empty()) continue;
    std::map<double, std::vector<double>> by_lr;
    for (const GridRun& g : grid_runs) by_lr[g.lr].push_back(g.final_val_loss);
    for (const auto& [lr, vals] : by_lr) report.grid_val[lr][schedule] = Summarize(vals).mean;
    absl::StatusOr<LrChoice> choice = SelectBestLr(grid_runs);
    if (!choice.ok()) {
      report.notes.push_back(absl::StrCat(schedule, ": ", choice.status().message()));
      continue;
    }
    Approach a;
    a.method = schedule;
    a.kind = Kind::kGrid;
    a.lr = choice->lr;
    a.at_grid_edge = choice->at_grid_edge;
    a.setting = absl::StrCat("peak LR ", Lr(choice->lr), choice->at_grid_edge ? " (grid edge)" : "");
    collect([&](const RunSpec& s) { return s.kind == Kind::kGrid && s.method == schedule &&
                                           s.lr == choice->lr; },
            a);
    a.compute_steps = static_cast<int64_t>(grid_size) * report.steps;
    Finish(a, report.steps);
    a.seconds = seeds > 0 ? grid_seconds / seeds : 0;
    if (schedule == "cosine") report.cosine = static_cast<int>(report.tuned.size());
    report.tuned.push_back(std::move(a));
  }

  // One-run baselines, in plan order.
  std::vector<std::string> one_run_methods;
  for (const RunSpec& s : specs) {
    if (s.task == task && s.kind == Kind::kOneRun &&
        std::find(one_run_methods.begin(), one_run_methods.end(), s.method) ==
            one_run_methods.end()) {
      one_run_methods.push_back(s.method);
    }
  }
  std::stable_sort(one_run_methods.begin(), one_run_methods.end(),
                   [](const std::string& a, const std::string& b) {
                     auto rank = [](const std::string& m) {
                       return m == "textbook" ? 0 : m == "range-cosine" ? 1 : 2;
                     };
                     return rank(a) < rank(b);
                   });
  for (const std::string& method : one_run_methods) {
    Approach a;
    a.method = method;
    a.kind = Kind::kOneRun;
    collect([&](const RunSpec& s) { return s.kind == Kind::kOneRun && s.method == method; }, a);
    Finish(a, report.steps);
    if (method == "textbook") {
      a.setting = a.specs.empty() ? "cosine" : absl::StrCat("cosine, peak LR ", Lr(a.specs[0]->lr));
    } else if (method == "range-cosine") {
      std::vector<std::string> peaks;
      std::vector<double> sweep;
      for (const RunResult* r : a.runs) {
        peaks.push_back(Lr(r->peak_lr));
        sweep.push_back(100 * r->probe_fraction);
      }
      a.setting = absl::StrCat("LR range test (", absl::StrFormat("%.1f", Summarize(sweep).mean),
                               "% of S) + cosine; peak LR per seed ", absl::StrJoin(peaks, ", "));
    } else {
      std::vector<std::string> sizes;
      for (const RunResult* r : a.runs) sizes.push_back(Lr(r->step_size));
      a.setting = absl::StrCat(method == "dog" ? "constant multiplier 1, averaged iterate"
                                               : "cosine from multiplier 1",
                               "; largest step size per seed ", absl::StrJoin(sizes, ", "));
    }
    report.one_run.push_back(std::move(a));
  }

  // AutoLRS at this setting.
  for (size_t v = 0; v < variants.size(); ++v) {
    Approach a;
    a.method = absl::StrCat("autolrs-", variants[v].name);
    a.kind = Kind::kAutoLrs;
    a.variant = static_cast<int>(v);
    a.setting = variants[v].description;
    collect([&](const RunSpec& s) { return s.kind == Kind::kAutoLrs && s.setting == setting &&
                                           s.variant == static_cast<int>(v); },
            a);
    Finish(a, report.steps);
    report.autolrs.push_back(std::move(a));
  }

  // The reference: the grid-tuned cosine.
  if (report.cosine >= 0) {
    const Approach& cosine = report.tuned[report.cosine];
    if (!cosine.mean_curve.empty() && cosine.mean_curve.back().step == report.steps) {
      report.target = cosine.mean_curve.back().val_loss;
    }
    for (auto* list : {&report.tuned, &report.one_run, &report.autolrs}) {
      for (Approach& a : *list) {
        if (a.runs.empty() || std::isnan(report.target)) continue;
        a.worth = BudgetWorth(cosine.mean_curve, a.final_val.mean, report.steps);
      }
    }
  } else {
    report.notes.push_back("no grid-tuned cosine: budget worth is undefined");
  }
  return report;
}

Verdict Judge(const std::vector<TaskReport>& reports, const std::string& method) {
  Verdict v;
  for (const TaskReport& r : reports) {
    const Approach* a = r.Find(method);
    const Approach* range = r.Find("range-cosine");
    const Approach* textbook = r.Find("textbook");
    if (a == nullptr || a->final_val.n == 0 || range == nullptr || textbook == nullptr) continue;
    ++v.cases;
    const std::string where =
        absl::StrCat(Tasks()[r.task].name, " ", StageSettings()[r.setting].name);
    const double mine = a->final_val.mean;
    // NaN compares false: a diverged AutoLRS run never beats anything.
    if (mine < range->final_val.mean) {
      ++v.beats_range;
    } else {
      v.losses.push_back(absl::StrFormat("%s: not below the range test (%.4f vs %.4f)", where,
                                         mine, range->final_val.mean));
    }
    if (mine < textbook->final_val.mean) {
      ++v.beats_textbook;
    } else {
      v.losses.push_back(absl::StrFormat("%s: not below the textbook default (%.4f vs %.4f)",
                                         where, mine, textbook->final_val.mean));
    }
    if (a->worth && a->worth->at_least_one) ++v.worth_one;
    bool beats_all = true;
    for (const Approach& b : r.one_run) {
      if (b.method == "textbook" || b.method == "range-cosine" || b.final_val.n == 0) continue;
      beats_all &= mine < b.final_val.mean;
    }
    v.beats_parameter_free += beats_all;
  }
  return v;
}

std::optional<FamilyReport> AnalyzeFamilies(const std::vector<RunSpec>& specs,
                                            const std::vector<RunResult>& results,
                                            const TaskReport& report) {
  FamilyReport out;
  out.task = report.task;
  out.setting = report.setting;
  out.long_cosine_val = report.long_cosine_val;
  int max_run = 0;
  for (const RunSpec& s : specs) {
    if (s.kind != Kind::kFamily || s.task != report.task || s.setting != report.setting) continue;
    max_run = std::max(max_run, s.family_run);
    out.method = s.method;
  }
  if (max_run == 0) return std::nullopt;
  // The best parameter-free optimizer: lowest mean final val.
  for (const Approach& a : report.one_run) {
    if (a.method == "textbook" || a.method == "range-cosine" || a.final_val.n == 0) continue;
    if (std::isnan(out.parameter_free_val) || a.final_val.mean < out.parameter_free_val) {
      out.parameter_free = a.method;
      out.parameter_free_val = a.final_val.mean;
    }
  }
  const Approach* cosine = report.cosine >= 0 ? &report.tuned[report.cosine] : nullptr;
  for (int run = 1; run <= max_run; ++run) {
    FamilyRunSummary summary;
    summary.run = run;
    std::vector<double> finals, shares, priors;
    for (size_t i = 0; i < specs.size(); ++i) {
      const RunSpec& s = specs[i];
      if (s.kind != Kind::kFamily || s.task != report.task || s.setting != report.setting ||
          s.family_run != run || !results[i].ok) {
        continue;
      }
      finals.push_back(results[i].final_val);
      shares.push_back(results[i].discarded_probe_fraction);
      if (results[i].family_prior_runs >= 0) priors.push_back(results[i].family_prior_runs);
    }
    summary.families = static_cast<int>(finals.size());
    summary.final_val = Summarize(finals);
    if (!shares.empty()) summary.probe_share = Summarize(shares).mean;
    if (!priors.empty()) summary.prior_runs = Summarize(priors).mean;
    if (cosine != nullptr && !finals.empty() && !std::isnan(report.target)) {
      summary.worth = BudgetWorth(cosine->mean_curve, summary.final_val.mean, report.steps);
    }
    // NaN compares false: no long grid, or a diverged run, is not >= 1.1x.
    summary.worth_long = !finals.empty() && summary.final_val.mean <= report.long_cosine_val;
    if (!std::isnan(out.parameter_free_val) && out.parameter_free_val > 0) {
      summary.vs_parameter_free = summary.final_val.mean / out.parameter_free_val;
    }
    out.runs.push_back(summary);
  }
  out.meets_target = out.runs.size() >= 2 && !std::isnan(out.parameter_free_val);
  for (size_t r = 1; r < out.runs.size(); ++r) {
    const FamilyRunSummary& s = out.runs[r];
    // NaN compares false: a missing or diverged run never meets it.
    const bool worth = std::isnan(report.long_cosine_val)
                           ? s.worth.has_value() && s.worth->at_least_one
                           : s.worth_long;
    out.meets_target &= s.families > 0 && s.probe_share <= kFamilyProbeShareTarget && worth &&
                        s.final_val.mean < out.parameter_free_val;
  }
  return out;
}

}  // namespace autolrs::bench
