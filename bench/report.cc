#include "bench/report.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "bench/runner.h"

namespace autolrs::bench {
namespace {

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

std::string WorthCell(const Approach& a) {
  if (!a.worth) return "-";
  if (a.worth->at_least_one) return ">= 1x";
  return absl::StrFormat("%.2fx", a.worth->value);
}

std::string Column(const TaskReport& r) {
  return absl::StrCat(Tasks()[r.task].name, " ", StageSettings()[r.setting].name);
}

constexpr char kWorthNote[] =
    "*Budget worth* = the steps the grid-tuned cosine needs (on its mean validation curve) to "
    "reach the approach's mean final validation loss, divided by S; `>= 1x` means the approach "
    "ends at or below the tuned cosine's own final loss T (its budget is worth at least the "
    "cosine's, which was tuned with a grid of full runs). Probe and sweep steps count in S.";

// One table per group: rows = approaches, columns = task x setting.
void GroupTable(std::string& md, const std::vector<const TaskReport*>& reports) {
  if (reports.empty()) {
    absl::StrAppend(&md, "(no task of this group was run)\n\n");
    return;
  }
  absl::StrAppend(&md, "| approach |");
  for (const TaskReport* r : reports) absl::StrAppend(&md, " ", Column(*r), " |");
  absl::StrAppend(&md, "\n|---|");
  for (size_t i = 0; i < reports.size(); ++i) absl::StrAppend(&md, "---:|");
  absl::StrAppend(&md, "\n| *S; T = tuned cosine's final val* |");
  for (const TaskReport* r : reports) {
    absl::StrAppend(&md, " *", Thousands(r->steps), "; ", Fmt(r->target), "* |");
  }
  absl::StrAppend(&md, "\n");
  // Row order: tuned, one-run (in first-seen order), autolrs.
  std::vector<std::string> rows;
  auto add_rows = [&](auto member) {
    for (const TaskReport* r : reports) {
      for (const Approach& a : r->*member) {
        if (std::find(rows.begin(), rows.end(), a.method) == rows.end()) rows.push_back(a.method);
      }
    }
  };
  add_rows(&TaskReport::tuned);
  add_rows(&TaskReport::one_run);
  add_rows(&TaskReport::autolrs);
  for (const std::string& method : rows) {
    const Approach* any = nullptr;
    for (const TaskReport* r : reports) {
      if (const Approach* a = r->Find(method)) any = a;
    }
    const std::string label =
        any != nullptr && any->kind == Kind::kGrid ? absl::StrCat(method, " (grid-tuned)") : method;
    absl::StrAppend(&md, "| ", label, " |");
    for (const TaskReport* r : reports) {
      const Approach* a = r->Find(method);
      if (a == nullptr || a->final_val.n == 0) {
        absl::StrAppend(&md, " - |");
      } else {
        absl::StrAppend(&md, " ", Fmt(a->final_val.mean), " (", WorthCell(*a), ") |");
      }
    }
    absl::StrAppend(&md, "\n");
  }
  absl::StrAppend(&md, "\nCells: mean final validation loss over seeds (budget worth).\n\n");
}

std::string WorthText(const std::optional<Worth>& w) {
  if (!w) return "-";
  if (w->at_least_one) return ">= 1x";
  return absl::StrFormat("%.2fx", w->value);
}

void FamilyGroupTable(std::string& md, const std::vector<const FamilyReport*>& families) {
  if (families.empty()) {
    absl::StrAppend(&md, "(no family of this group was run)\n\n");
    return;
  }
  size_t runs = 0;
  for (const FamilyReport* f : families) runs = std::max(runs, f->runs.size());
  absl::StrAppend(&md, "| task | families | best parameter-free | cosine at 1.1 x S |");
  for (size_t r = 1; r <= runs; ++r) {
    absl::StrAppendFormat(&md, " run %d probes | run %d worth | run %d final val (vs p-f) |", r, r,
                          r);
  }
  absl::StrAppend(&md, " target met |\n|---|---:|---|---:|");
  for (size_t r = 0; r < runs; ++r) absl::StrAppend(&md, "---:|---:|---:|");
  absl::StrAppend(&md, ":---:|\n");
  for (const FamilyReport* f : families) {
    int most = 0;
    for (const FamilyRunSummary& s : f->runs) most = std::max(most, s.families);
    absl::StrAppend(&md, "| ", Tasks()[f->task].name, " ", StageSettings()[f->setting].name, " | ",
                    most, " | ",
                    f->parameter_free.empty()
                        ? "-"
                        : absl::StrCat(f->parameter_free, " ", Fmt(f->parameter_free_val)),
                    " | ", std::isnan(f->long_cosine_val) ? "-" : Fmt(f->long_cosine_val), " |");
    for (size_t r = 0; r < runs; ++r) {
      if (r >= f->runs.size() || f->runs[r].families == 0) {
        absl::StrAppend(&md, " - | - | - |");
        continue;
      }
      const FamilyRunSummary& s = f->runs[r];
      absl::StrAppend(&md, " ", std::isnan(s.probe_share) ? "-" : Fmt(100 * s.probe_share, 1) + "%",
                      " | ", s.worth_long ? ">= 1.1x" : WorthText(s.worth), " | ",
                      Fmt(s.final_val.mean), " (",
                      std::isnan(s.vs_parameter_free) ? "-" : Fmt(s.vs_parameter_free, 3), ") |");
    }
    absl::StrAppend(&md, " ", f->meets_target ? "yes" : "no", " |\n");
  }
  // Tasks meet the target when every stage setting of theirs does.
  std::map<int, bool> tasks;
  int cases = 0;
  for (const FamilyReport* f : families) {
    cases += f->meets_target;
    auto [it, fresh] = tasks.emplace(f->task, f->meets_target);
    if (!fresh) it->second = it->second && f->meets_target;
  }
  int task_count = 0;
  for (const auto& [task, met] : tasks) task_count += met;
  absl::StrAppendFormat(&md,
                        "\nTarget (from run 2 on: probe share <= %.0f%%, worth >= 1.1x, final "
                        "val below the best parameter-free optimizer's) met in **%d of %zu** cases "
                        "(task x stage setting); **%d of %zu** tasks meet it at every stage "
                        "setting.\n\n",
                        100 * kFamilyProbeShareTarget, cases, families.size(), task_count,
                        tasks.size());
}

}  // namespace

std::string FamiliesMarkdown(const std::vector<FamilyReport>& families) {
  std::string md =
      "## Families (issue 16): run 1, 2, 3 of a job that learns from the runs before it\n\n";
  absl::StrAppend(
      &md,
      "Per task and stage setting, families of runs of `autolrs-recommended` with "
      "`JobConfig.family` set (one name per family, never reused), every run a new seed; run r "
      "starts after run r - 1 finished and was recorded by the server. Cells are means over the "
      "families of run r. *Probes*: the share of S spent on probe steps the final model did not "
      "keep: the probe steps of the CSV minus the chosen probe's when a stage continued from it "
      "(reuse_best_probe; the stage tables count every probe step), / S. *Worth*: budget worth of "
      "the mean final validation "
      "loss vs the grid-tuned cosine, as above; it saturates at `>= 1x` (the tuned cosine's "
      "curve ends at S), so the same 8-value cosine grid is also run over 1.1 x S steps "
      "(*cosine at 1.1 x S*: its tuned mean final validation loss): a run ending at or below it "
      "is worth `>= 1.1x` (the tuned cosine needs more than 1.1 x S steps to reach it), which "
      "the target line counts (`>= 1x` where that grid was not run). *vs p-f*: mean final "
      "validation loss / the best parameter-free optimizer's on that task (below 1 beats "
      "it).\n\n");
  for (Group g : {Group::kDev, Group::kHeldOut}) {
    std::vector<const FamilyReport*> group;
    for (const FamilyReport& f : families) {
      if (Tasks()[f.task].group == g) group.push_back(&f);
    }
    absl::StrAppend(&md, g == Group::kDev ? "### Dev tasks\n\n" : "### Held-out tasks\n\n");
    FamilyGroupTable(md, group);
  }
  return md;
}

namespace {

void VerdictSection(std::string& md, const std::vector<TaskReport>& reports,
                    const std::vector<Variant>& variants, const std::string& default_method) {
  std::vector<TaskReport> held_out;
  for (const TaskReport& r : reports) {
    if (Tasks()[r.task].group == Group::kHeldOut) held_out.push_back(r);
  }
  auto met = [](const Verdict& all, const Verdict& ho) {
    return all.cases > 0 && all.beats_range == all.cases && all.beats_textbook == all.cases &&
           ho.cases > 0 && 3 * ho.worth_one >= 2 * ho.cases;
  };
  absl::StrAppend(&md, "## Verdict\n\n");
  {
    const Verdict all = Judge(reports, default_method);
    const Verdict ho = Judge(held_out, default_method);
    absl::StrAppendFormat(
        &md,
        "**Default preset (%s): bars %s.** It beats the LR range test + cosine in %d of %d "
        "(task, stage setting) cases and the textbook default in %d of %d (bar: all), is worth "
        ">= 1.0x of the grid-tuned cosine in %d of %d held-out cases (bar: two thirds), and "
        "beats every parameter-free optimizer in %d of %d cases (goal: most).\n\n",
        default_method,
        all.cases == 0 ? "not measured"
        : met(all, ho) ? "met"
                       : "not met",
        all.beats_range, all.cases, all.beats_textbook, all.cases, ho.worth_one, ho.cases,
        all.beats_parameter_free, all.cases);
  }
  absl::StrAppend(&md,
                  "| AutoLRS variant | beats range test | beats textbook | beats every "
                  "parameter-free | worth >= 1x (all) | worth >= 1x (held-out) | bars met |\n"
                  "|---|---:|---:|---:|---:|---:|---|\n");
  for (const Variant& v : variants) {
    const std::string method = absl::StrCat("autolrs-", v.name);
    const Verdict all = Judge(reports, method);
    const Verdict ho = Judge(held_out, method);
    absl::StrAppendFormat(&md,
                          "| %s%s | %d of %d | %d of %d | %d of %d | %d of %d | %d of %d | %s |\n",
                          method, method == default_method ? " (default)" : "", all.beats_range,
                          all.cases, all.beats_textbook, all.cases, all.beats_parameter_free,
                          all.cases, all.worth_one, all.cases, ho.worth_one, ho.cases,
                          all.cases == 0 ? "-"
                          : met(all, ho) ? "**yes**"
                                         : "no");
  }
  // The default against each one-run baseline, case by case.
  absl::StrAppend(&md,
                  "\nThe default preset against the one-run baselines (mean final validation "
                  "loss; the last column: the default's loss relative to the best one-run "
                  "baseline, negative = better):\n\n"
                  "| task | tau_initial | group | default | textbook | range-cosine | best "
                  "parameter-free | default vs best one-run |\n"
                  "|---|---|---|---:|---:|---:|---|---:|\n");
  for (const TaskReport& r : reports) {
    const Approach* mine = r.Find(default_method);
    if (mine == nullptr || mine->final_val.n == 0) continue;
    const Approach* textbook = r.Find("textbook");
    const Approach* range = r.Find("range-cosine");
    const Approach* best_pf = nullptr;
    const Approach* best = nullptr;
    for (const Approach& b : r.one_run) {
      if (b.final_val.n == 0 || std::isnan(b.final_val.mean)) continue;
      const bool pf = b.method != "textbook" && b.method != "range-cosine";
      if (pf && (best_pf == nullptr || b.final_val.mean < best_pf->final_val.mean)) best_pf = &b;
      if (best == nullptr || b.final_val.mean < best->final_val.mean) best = &b;
    }
    auto cell = [](const Approach* a) {
      return a == nullptr || a->final_val.n == 0 ? std::string("-") : Fmt(a->final_val.mean);
    };
    absl::StrAppendFormat(
        &md, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", Tasks()[r.task].name,
        StageSettings()[r.setting].name, GroupName(Tasks()[r.task].group),
        Fmt(mine->final_val.mean), cell(textbook), cell(range),
        best_pf == nullptr ? "-" : absl::StrCat(best_pf->method, " ", cell(best_pf)),
        best == nullptr ? "-"
                        : absl::StrFormat("%+.1f%% (vs %s)",
                                          100 * (mine->final_val.mean / best->final_val.mean - 1),
                                          best->method));
  }
  absl::StrAppend(&md, "\n");
}

void DetailTable(std::string& md, const TaskReport& r) {
  absl::StrAppend(&md,
                  "| approach | setting | final val loss | test loss | test accuracy | budget "
                  "worth | reaches T at | compute per seed (steps) | seconds per seed |\n"
                  "|---|---|---:|---:|---:|---:|---:|---:|---:|\n");
  auto row = [&](const Approach& a) {
    std::vector<double> val, loss, acc;
    for (const RunResult* x : a.runs) {
      val.push_back(x->final_val);
      loss.push_back(x->test_loss);
      acc.push_back(x->test_accuracy);
    }
    const std::optional<int64_t> at = StepsToTarget(a.mean_curve, r.target);
    absl::StrAppendFormat(&md, "| %s | %s | %s | %s | %s | %s | %s | %s | %.0f |\n", a.method,
                          a.setting, MeanSd(val), MeanSd(loss), MeanSd(acc), WorthCell(a),
                          a.runs.empty() ? "-"
                          : at           ? Thousands(*at)
                                         : "not reached",
                          a.kind == Kind::kGrid
                              ? absl::StrCat(r.grid_size, " x ", Thousands(r.steps), " = ",
                                             Thousands(a.compute_steps))
                              : Thousands(a.compute_steps),
                          a.seconds);
  };
  for (const Approach& a : r.tuned) row(a);
  for (const Approach& a : r.one_run) row(a);
  for (const Approach& a : r.autolrs) row(a);
  absl::StrAppend(&md, "\nValues are mean ± sample standard deviation over seeds.\n\n");
}

void GridTable(std::string& md, const TaskReport& r) {
  absl::StrAppend(&md,
                  "<details><summary>LR grid: mean final validation loss</summary>\n\n"
                  "| peak LR |");
  for (const std::string& s : GridSchedules()) absl::StrAppend(&md, " ", s, " |");
  absl::StrAppend(&md, "\n|---:|");
  for (size_t i = 0; i < GridSchedules().size(); ++i) absl::StrAppend(&md, "---:|");
  absl::StrAppend(&md, "\n");
  for (const auto& [lr, by_schedule] : r.grid_val) {
    absl::StrAppend(&md, "| ", Lr(lr), " |");
    for (const std::string& s : GridSchedules()) {
      auto it = by_schedule.find(s);
      std::string cell = it == by_schedule.end() ? "-" : Fmt(it->second);
      for (const Approach& b : r.tuned) {
        if (b.method == s && b.lr == lr) cell = absl::StrCat("**", cell, "**");
      }
      absl::StrAppend(&md, " ", cell, " |");
    }
    absl::StrAppend(&md, "\n");
  }
  absl::StrAppend(&md, "\n</details>\n\n");
}

void StageTable(std::string& md, const TaskReport& r) {
  absl::StrAppend(&md,
                  "<details><summary>AutoLRS stages</summary>\n\n"
                  "Chosen LR per seed (`a -> b`: the first stage's search chose a, its longer "
                  "confirmation probes b); forecast = the chosen probe's predicted loss after tau "
                  "steps, achieved = mean of the stage's last 10 training losses, or its final "
                  "validation loss for validation-objective stages; both as mean over seeds. A "
                  "cooldown row gives its start, its steps (in the tau column), the LR it decays "
                  "from, and the final validation loss.\n\n"
                  "| variant | probe steps | stage | start step | tau | tau' | objective | chosen "
                  "LR per seed | forecast | achieved |\n"
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
        // first_stage_confirmation: the search's choice, then the confirmed LR.
        const std::string searched =
            stage.confirmations_size() > 0 && stage.confirmations(0).lr() != stage.chosen_lr()
                ? Lr(stage.confirmations(0).lr()) + " -> "
                : "";
        lrs.push_back(searched + Lr(stage.chosen_lr()) + (stage.search_skipped() ? " (kept)" : ""));
        if (!stage.search_skipped()) forecast.push_back(stage.chosen_predicted_loss());
        const bool val = stage.objective() == v1::OBJECTIVE_VALIDATION_LOSS &&
                         stage.validation_loss().count() > 0;
        if (stage.training_loss().count() > 0) {
          achieved.push_back(val ? stage.validation_loss().last()
                                 : stage.training_loss().tail_mean());
          // A stage continued from its chosen probe (or confirmation) trains
          // tau minus that probe's steps.
          int64_t continued = 0;
          if (stage.continued_from_probe()) {
            for (const auto* list : {&stage.probes(), &stage.confirmations()}) {
              for (const v1::Probe& p : *list) {
                if (p.lr() == stage.chosen_lr()) continued = p.training_loss().count();
              }
            }
          }
          const int64_t full = stage.tau() - continued;
          cut |= stage.training_loss().count() < full;
        }
      }
      if (first == nullptr) continue;
      absl::StrAppendFormat(
          &md, "| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s%s |\n", st == 0 ? a.method : "",
          st == 0 ? absl::StrCat(MeanSd(fractions, 1), "%") : "", static_cast<int>(st),
          Thousands(first->start_steps_spent()), Thousands(first->tau()),
          first->search_skipped() ? "-" : Thousands(first->tau_probe()),
          first->objective() == v1::OBJECTIVE_VALIDATION_LOSS ? "val" : "train",
          absl::StrJoin(lrs, ", "), forecast.empty() ? "-" : Fmt(Summarize(forecast).mean),
          achieved.empty() ? "-" : Fmt(Summarize(achieved).mean),
          cut ? " (cut by the budget)" : "");
    }
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
  absl::StrAppend(&md, "\n</details>\n\n");
}

}  // namespace

std::string Markdown(const std::vector<TaskReport>& reports, const std::vector<Variant>& variants,
                     const std::string& default_method, const ReportMeta& meta,
                     const std::vector<FamilyReport>& families) {
  std::string md;
  char date[64];
  const std::time_t now = std::time(nullptr);
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", std::gmtime(&now));
  absl::StrAppend(&md, "# Schedule quality: AutoLRS against grid-tuned and one-run baselines\n\n",
                  meta.note.empty() ? "" : absl::StrCat("**", meta.note, "**\n\n"),
                  "Generated by `bench/schedule_quality` from measured runs only (", date,
                  meta.quick ? ", **quick mode**" : ", full mode", "). Reproduce with:\n\n    ",
                  meta.command, "\n\n");
  if (!meta.revision.empty()) absl::StrAppend(&md, "Code: ", meta.revision, ".\n\n");
  std::string loadavg;
  if (std::ifstream in("/proc/loadavg"); in) {
    std::string a, b, c;
    in >> a >> b >> c;
    loadavg = absl::StrCat(a, " ", b, " ", c);
  }
  absl::StrAppendFormat(
      &md,
      "%d train runs (%d failed, %d reused from an earlier invocation with the same inputs), "
      "%d seed(s) each, %d at a time with 1 torch thread; wall time of this invocation %.1f min "
      "on %ld cores shared with other work (load average at the end: %s); CPU time of the "
      "processes it ran (train runs, server, gnuplot) %.1f min.%s\n\n",
      meta.runs, meta.failed, meta.reused, meta.seeds, meta.parallel, meta.wall_seconds / 60,
      sysconf(_SC_NPROCESSORS_ONLN), loadavg, meta.child_cpu_seconds / 60,
      meta.quick ? " Quick mode: 1 seed, a 3-value grid and small budgets, a smoke run of the "
                   "pipeline; its numbers are not the benchmark's answer."
                 : "");
  absl::StrAppend(
      &md, "## Method\n\n",
      "- Tasks (bench/bench_config.cc): *dev* tasks, on which defaults may be tuned, and "
      "*held-out* tasks, only reported. Every run is `//examples/fashion_mnist:train` on real "
      "data (Fashion-MNIST: 50,000 train, 2,000-image validation subset, 10,000 test; text: "
      "Debian's license texts in 33-byte windows (32 bytes of context), 80/10/10 split by window "
      "index) for exactly "
      "S steps.\n",
      "- Grid-tuned baselines: constant, step decay (x0.1 at 50% and 75% of S) and cosine, each "
      "at ",
      meta.grid_size,
      " peak LRs log-spaced over the task's interval; the tuned peak LR is the one with the "
      "lowest mean final **validation** loss over the seeds (test numbers never choose). Their "
      "compute is the whole grid. Where the tables show *wsd*, it was tuned the same way: the "
      "LR constant for the first half of S, then the linear cooldown that ends an AutoLRS run "
      "of the default preset, over the second half; AutoLRS's own shape at the best single LR, "
      "without probe steps.\n",
      "- One-run baselines (S steps each): *textbook* = cosine from the optimizer's textbook LR "
      "(0.1 for SGD, 1e-3 for Adam/AdamW); *range-cosine* = an LR range test (exponential sweep "
      "1e-5 to 10 over at most 3% of S, stopped at divergence; peak = the LR at the minimum "
      "smoothed loss / 10), then a restart from the initial weights with a cosine over the rest "
      "of S; parameter-free optimizers at their published multiplier 1 "
      "(examples/fashion_mnist/parameter_free.h): *dog* (DoG, constant, evaluated at its "
      "polynomial iterate average) and *dadapt-sgd* for SGD tasks, *dadapt-adam* and *prodigy* "
      "for Adam/AdamW tasks (both with a cosine schedule on the multiplier).\n",
      "- AutoLRS: one run of S steps per seed through a real `autolrs_server` (SQLite), probe "
      "steps included; tau_max = S/4, and every task at two stage-size settings, tau_initial = "
      "S/15 and S/30 (the baselines do not depend on it and are shared). Variants are rows of "
      "the table in bench/bench_config.cc or `--add_variants` (protobuf text of JobConfig).\n",
      "- Validation loss is evaluated every S/40 counted steps and only after main-line steps, "
      "never in a probe or sweep whose state is thrown away. ",
      kWorthNote, "\n",
      "- The LRs an AutoLRS run used are read back from the optimizer (CSV) and checked against "
      "the schedule the server handed out; a baseline's first LR is checked against its "
      "setting; a mismatch fails the run.\n\n");

  VerdictSection(md, reports, variants, default_method);

  for (Group g : {Group::kDev, Group::kHeldOut}) {
    std::vector<const TaskReport*> group;
    for (const TaskReport& r : reports) {
      if (Tasks()[r.task].group == g) group.push_back(&r);
    }
    absl::StrAppend(&md, g == Group::kDev ? "## Dev tasks (defaults may be tuned on these)\n\n"
                                          : "## Held-out tasks (only reported)\n\n");
    GroupTable(md, group);
  }
  if (!families.empty()) absl::StrAppend(&md, FamiliesMarkdown(families));

  absl::StrAppend(&md, "## Per task and stage setting\n\n");
  for (const TaskReport& r : reports) {
    const Task& task = Tasks()[r.task];
    absl::StrAppendFormat(&md,
                          "### %s, tau_initial = %s (%s): %s, S = %s, LR interval [%s, %s]\n\n",
                          task.name, StageSettings()[r.setting].name, GroupName(task.group),
                          task.description, Thousands(r.steps), Lr(task.lr_min), Lr(task.lr_max));
    for (const std::string& n : r.notes) absl::StrAppend(&md, "- note: ", n, "\n");
    DetailTable(md, r);
    auto plot = meta.plots.find({r.task, r.setting});
    if (plot != meta.plots.end()) {
      absl::StrAppend(&md, "![", Column(r), "](", plot->second, ")\n\n");
    }
    GridTable(md, r);
    StageTable(md, r);
  }
  if (!meta.failures.empty()) {
    absl::StrAppend(&md, "## Failed runs\n\n");
    for (const std::string& f : meta.failures) absl::StrAppend(&md, "- ", f.substr(0, 400), "\n");
    absl::StrAppend(&md, "\n");
  }
  return md;
}

absl::StatusOr<std::string> Plot(const TaskReport& report, const std::vector<Variant>& variants,
                                 const std::string& work_dir, const std::string& out_dir,
                                 const std::string& gnuplot, int seeds) {
  namespace fs = std::filesystem;
  const Task& task = Tasks()[report.task];
  if (report.cosine < 0 || std::isnan(report.target)) {
    return absl::FailedPreconditionError("no tuned cosine to plot against");
  }
  const std::string stem = absl::StrCat(task.name, "-", StageSettings()[report.setting].id);
  const std::string dir = absl::StrCat(work_dir, "/plot/", stem);
  std::error_code ec;
  fs::create_directories(dir, ec);
  fs::create_directories(out_dir + "/plots", ec);
  auto write = [](const std::string& path, const std::string& text) -> absl::Status {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    out.close();
    return out ? absl::OkStatus() : absl::InternalError(absl::StrCat("cannot write ", path));
  };
  // LRs of the approach's first run (seed 1 when it finished).
  auto write_lr = [&](const Approach& a, const std::string& name) -> absl::Status {
    if (a.specs.empty()) return absl::OkStatus();
    std::ifstream in(RunDir(work_dir, *a.specs[0]) + "/steps.csv", std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    absl::StatusOr<std::vector<StepRow>> rows = ParseStepCsv(text.str());
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
    if (absl::Status s = write(absl::StrCat(dir, "/", name, "_lr_main.dat"), main); !s.ok()) {
      return s;
    }
    return write(absl::StrCat(dir, "/", name, "_lr_probe.dat"), probe + "\n");
  };
  auto write_curve = [&](const Approach& a, const std::string& name) {
    std::string text;
    for (const EvalPoint& p : a.mean_curve) {
      absl::StrAppendFormat(&text, "%d %.6g\n", p.step, p.val_loss);
    }
    return write(absl::StrCat(dir, "/", name, "_val.dat"), text);
  };

  std::vector<const Approach*> drawn = {&report.tuned[report.cosine]};
  for (const Approach& a : report.one_run) drawn.push_back(&a);
  for (const Approach& a : report.autolrs) {
    if (a.variant >= 0 && variants[a.variant].plotted) drawn.push_back(&a);
  }
  const char* colors[] = {"#000000", "#888888", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
                          "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"};
  std::string lr_plot, val_plot;
  double lowest = report.target;
  double lr_low = task.lr_min;
  size_t i = 0;
  for (const Approach* a : drawn) {
    if (a->runs.empty()) continue;
    const std::string name = absl::StrCat("a", i);
    const char* color = colors[i % std::size(colors)];
    ++i;
    if (absl::Status s = write_lr(*a, name); !s.ok()) return s;
    if (absl::Status s = write_curve(*a, name); !s.ok()) return s;
    for (const EvalPoint& p : a->mean_curve) {
      if (std::isfinite(p.val_loss) && p.val_loss > 0) lowest = std::min(lowest, p.val_loss);
    }
    const std::string title =
        a->kind == Kind::kGrid ? absl::StrCat(a->method, " (tuned)") : a->method;
    absl::StrAppendFormat(
        &lr_plot,
        "%s'%s_lr_main.dat' with lines lw 2 lc rgb '%s' title '%s'"
        ", '%s_lr_probe.dat' every 2 with points pt 7 ps 0.25 lc rgb '%s' notitle",
        lr_plot.empty() ? "" : ", ", name, color, title, name, color);
    absl::StrAppendFormat(&val_plot,
                          "%s'%s_val.dat' with linespoints lw 2 pt 7 ps 0.4 lc rgb '%s' title '%s'",
                          val_plot.empty() ? "" : ", ", name, color, title);
  }
  lr_low = std::min(lr_low, report.tuned[report.cosine].lr / 100);
  absl::StrAppendFormat(&val_plot,
                        ", %.6g with lines dt 3 lw 1.5 lc rgb '#000000' title 'T = %.4f'",
                        report.target, report.target);
  const std::string rel = absl::StrCat("plots/", stem, ".png");
  const std::string script = absl::StrCat(
      "set terminal pngcairo size 1000,820 font 'sans,9'\n", "set output '", out_dir, "/", rel,
      "'\n",
      absl::StrFormat("set multiplot layout 2,1 title '%s, tau_initial = %s, S = %d steps; LRs "
                      "of the first seed (dots: probes, range sweep)'\n",
                      task.name, StageSettings()[report.setting].name, report.steps),
      "set grid\nset key outside right top\nset lmargin 10\nset rmargin 40\n",
      absl::StrFormat("set xrange [0:%d]\n", report.steps),
      "set logscale y\nset format y '%g'\nset ylabel 'learning rate'\n",
      "set xlabel 'step (probe and sweep steps included)'\n",
      absl::StrFormat("set yrange [%.6g:%.6g]\n", lr_low / 1.5, 12.0), "plot ", lr_plot, "\n",
      "unset logscale y\nset format y '%.2f'\n",
      absl::StrFormat("set ylabel 'validation loss (mean of %d seed(s))'\n", seeds),
      absl::StrFormat("set yrange [%.6g:%.6g]\n", lowest * 0.95, report.target * 2.0), "plot ",
      val_plot, "\n", "unset multiplot\n");
  if (absl::Status s = write(dir + "/plot.gp", script); !s.ok()) return s;
  const std::string command =
      absl::StrCat("cd '", dir, "' && '", gnuplot, "' plot.gp > gnuplot.out 2> gnuplot.err");
  const int status = std::system(command.c_str());
  if (status != 0) {
    std::ifstream err(dir + "/gnuplot.err");
    std::stringstream s;
    s << err.rdbuf();
    return absl::InternalError(absl::StrCat("gnuplot failed on ", dir, "/plot.gp: ", s.str()));
  }
  return rel;
}

}  // namespace autolrs::bench
