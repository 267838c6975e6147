#include "bench/report.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace autolrs::bench {
namespace {

RunResult Run(double final_val) {
  RunResult r;
  r.ok = true;
  r.seconds = 1;
  r.curve = {{50, 1.0}, {100, final_val}};
  r.final_val = final_val;
  return r;
}

// Two tasks (the first dev and the first held-out one), one seed.
void Add(std::vector<RunSpec>& specs, std::vector<RunResult>& results, int task, Kind kind,
         const std::string& method, double lr, double final_val, int setting = -1) {
  RunSpec s;
  s.task = task;
  s.kind = kind;
  s.method = method;
  s.lr = lr;
  s.steps = 100;
  s.setting = setting;
  s.variant = setting >= 0 ? 0 : -1;
  specs.push_back(s);
  results.push_back(Run(final_val));
}

int HeldOutTask() {
  for (size_t i = 0; i < Tasks().size(); ++i) {
    if (Tasks()[i].group == Group::kHeldOut) return static_cast<int>(i);
  }
  return -1;
}

TEST(MarkdownTest, ReportsGroupsSeparatelyWithAVerdict) {
  std::vector<RunSpec> specs;
  std::vector<RunResult> results;
  const int held_out = HeldOutTask();
  ASSERT_GE(held_out, 0);
  for (int task : {0, held_out}) {
    for (const char* s : {"constant", "step", "cosine"}) {
      Add(specs, results, task, Kind::kGrid, s, 0.01, 0.5);
      Add(specs, results, task, Kind::kGrid, s, 0.1, 0.3);
    }
    Add(specs, results, task, Kind::kOneRun, "textbook", 0.1, 0.35);
    Add(specs, results, task, Kind::kOneRun, "range-cosine", 0, 0.4);
    // The AutoLRS variant beats both one-run baselines on the dev task only.
    const double mine = task == 0 ? 0.29 : 0.45;
    Add(specs, results, task, Kind::kAutoLrs, "autolrs-a", 0, mine, 0);
    Add(specs, results, task, Kind::kAutoLrs, "autolrs-a", 0, mine, 1);
  }
  Variant v;
  v.name = "a";
  v.description = "variant a";
  std::vector<TaskReport> reports;
  for (int task : {0, held_out}) {
    for (int st = 0; st < 2; ++st) reports.push_back(Analyze(specs, results, {v}, task, st, 2));
  }
  ReportMeta meta;
  meta.command = "bench/schedule_quality.sh";
  meta.seeds = 1;
  meta.grid_size = 2;
  meta.runs = static_cast<int>(specs.size());
  const std::string md = Markdown(reports, {v}, "autolrs-a", meta);
  const size_t dev = md.find("## Dev tasks");
  const size_t ho = md.find("## Held-out tasks");
  ASSERT_NE(dev, std::string::npos);
  ASSERT_NE(ho, std::string::npos);
  EXPECT_LT(dev, ho);
  // The verdict: beats the range test and the textbook default in 2 of 4
  // cases; worth >= 1x in 2 of 4 (0.29 <= T = 0.3), 0 of 2 held-out.
  EXPECT_NE(md.find("| autolrs-a (default) | 2 of 4 | 2 of 4 | 4 of 4 | 2 of 4 | 0 of 2 | no |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("**Default preset (autolrs-a): bars not met.**"), std::string::npos);
  // Held-out: 0.45 against the textbook's 0.35, the best one-run baseline.
  EXPECT_NE(md.find("| held-out | 0.4500 | 0.3500 | 0.4000 | - | +28.6% (vs textbook) |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| cosine (grid-tuned) | 0.3000 (>= 1x) |"), std::string::npos) << md;
  EXPECT_NE(md.find("| autolrs-a | 0.2900 (>= 1x) | 0.2900 (>= 1x) |"), std::string::npos);
}

FamilyRunSummary FamilyRun(int run, int families, double probes, double val, double pf,
                           std::optional<Worth> worth) {
  FamilyRunSummary s;
  s.run = run;
  s.families = families;
  s.probe_share = probes;
  s.final_val.n = families;
  s.final_val.mean = val;
  s.worth = worth;
  s.vs_parameter_free = val / pf;
  return s;
}

TEST(FamiliesMarkdownTest, OneRowPerTaskAndSettingPerGroupAndTheTargetLine) {
  const int held_out = HeldOutTask();
  ASSERT_GE(held_out, 0);
  FamilyReport dev;
  dev.task = 0;
  dev.setting = 0;
  dev.parameter_free = "dog";
  dev.parameter_free_val = 0.29;
  dev.runs = {FamilyRun(1, 3, 0.25, 0.34, 0.29, Worth{0.5, false}),
              FamilyRun(2, 3, 0.09, 0.275, 0.29, Worth{1, true}),
              FamilyRun(3, 3, 0.06, 0.28, 0.29, Worth{1, true})};
  dev.meets_target = true;
  // The cosine grid at 1.1 x S ended at 0.278: run 2 (0.275) is worth >= 1.1x.
  dev.long_cosine_val = 0.278;
  dev.runs[1].worth_long = true;
  FamilyReport dev30 = dev;
  dev30.setting = 1;
  dev30.runs[1].probe_share = 0.12;
  dev30.meets_target = false;
  FamilyReport ho;
  ho.task = held_out;
  ho.setting = 0;
  ho.parameter_free = "prodigy";
  ho.parameter_free_val = 2.0;
  ho.runs = {FamilyRun(1, 2, 0.3, 2.2, 2.0, std::nullopt),
             FamilyRun(2, 1, 0.05, 1.9, 2.0, Worth{1, true})};
  ho.meets_target = true;
  const std::string md = FamiliesMarkdown({dev, dev30, ho});
  const std::string t0 = Tasks()[0].name, th = Tasks()[held_out].name;
  const size_t dev_at = md.find("### Dev tasks");
  const size_t ho_at = md.find("### Held-out tasks");
  ASSERT_NE(dev_at, std::string::npos);
  ASSERT_NE(ho_at, std::string::npos);
  const size_t row = md.find(absl::StrCat(
      "| ", t0,
      " S/15 | 3 | dog 0.2900 | 0.2780 | 25.0% | 0.50x | 0.3400 (1.172) | 9.0% | >= 1.1x | "
      "0.2750 (0.948) "
      "| 6.0% | >= 1x | 0.2800 (0.966) | yes |"));
  EXPECT_TRUE(row > dev_at && row < ho_at) << md;
  EXPECT_NE(md.find(absl::StrCat("| ", t0,
                                 " S/30 | 3 | dog 0.2900 | 0.2780 | 25.0% | 0.50x | 0.3400 "
                                 "(1.172) | 12.0% | >= 1.1x |")),
            std::string::npos)
      << md;
  // The held-out table has only 2 runs; a missing worth reads "-".
  const size_t ho_row = md.find(
      absl::StrCat("| ", th,
                   " S/15 | 2 | prodigy 2.0000 | - | 30.0% | - | 2.2000 (1.100) | 5.0% | >= 1x | "
                   "1.9000 (0.950) | yes |"));
  EXPECT_NE(ho_row, std::string::npos) << md;
  EXPECT_GT(ho_row, ho_at);
  // Target lines: dev 1 of 2 cases, 0 of 1 tasks (S/30 misses); held-out 1 of 1.
  const size_t dev_line =
      md.find("met in **1 of 2** cases (task x stage setting); **0 of 1** tasks");
  const size_t ho_line =
      md.find("met in **1 of 1** cases (task x stage setting); **1 of 1** tasks");
  EXPECT_TRUE(dev_line != std::string::npos && dev_line < ho_at) << md;
  EXPECT_TRUE(ho_line != std::string::npos && ho_line > ho_at) << md;
  // Markdown puts the section after the group tables.
  ReportMeta meta;
  const std::string whole = Markdown({}, {}, "autolrs-a", meta, {dev});
  EXPECT_NE(whole.find("## Families (issue 16)"), std::string::npos);
  EXPECT_EQ(Markdown({}, {}, "autolrs-a", meta).find("## Families"), std::string::npos);
}

}  // namespace
}  // namespace autolrs::bench
