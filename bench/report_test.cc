#include "bench/report.h"

#include <string>
#include <vector>

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

}  // namespace
}  // namespace autolrs::bench
