#include "bench/quality_analysis.h"

#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace autolrs::bench {
namespace {

constexpr int64_t kS = 100;

// A curve falling linearly from 1.0 at step 10 to `final` at S.
RunResult Run(double final_val, double seconds = 1) {
  RunResult r;
  r.ok = true;
  r.seconds = seconds;
  for (int64_t s = 10; s <= kS; s += 10) {
    r.curve.push_back({s, 1.0 + (final_val - 1.0) * static_cast<double>(s - 10) / 90.0});
  }
  r.final_val = final_val;
  return r;
}

struct Fixture {
  std::vector<RunSpec> specs;
  std::vector<RunResult> results;
  void Add(Kind kind, const std::string& method, double lr, int seed, RunResult r,
           int setting = -1, int variant = -1) {
    RunSpec s;
    s.task = 0;
    s.kind = kind;
    s.method = method;
    s.lr = lr;
    s.seed = seed;
    s.steps = kS;
    s.setting = setting;
    s.variant = variant;
    specs.push_back(s);
    results.push_back(r);
  }
};

Fixture TwoSeeds() {
  Fixture f;
  for (int seed = 1; seed <= 2; ++seed) {
    // Grid of 2 LRs per schedule; cosine is best at 0.1 with final 0.30.
    for (const char* schedule : {"constant", "step", "cosine"}) {
      const double base = std::string(schedule) == "cosine" ? 0.30 : 0.40;
      f.Add(Kind::kGrid, schedule, 0.01, seed, Run(base + 0.1));
      f.Add(Kind::kGrid, schedule, 0.1, seed, Run(base + 0.01 * seed - 0.015));
    }
    f.Add(Kind::kOneRun, "range-cosine", 0, seed, Run(0.35));
    f.Add(Kind::kOneRun, "textbook", 0.1, seed, Run(0.33));
    f.Add(Kind::kOneRun, "dog", 1, seed, Run(0.29));
    // AutoLRS: variant 0 ends at 0.34 at setting 0, 0.28 at setting 1.
    f.Add(Kind::kAutoLrs, "autolrs-a", 0, seed, Run(0.34), 0, 0);
    f.Add(Kind::kAutoLrs, "autolrs-a", 0, seed, Run(0.28), 1, 0);
  }
  return f;
}

std::vector<Variant> Variants() {
  Variant v;
  v.name = "a";
  v.description = "variant a";
  return {v};
}

TEST(AnalyzeTest, TunesTheGridOnValidationLossAndMeasuresWorthAgainstCosine) {
  Fixture f = TwoSeeds();
  const TaskReport r = Analyze(f.specs, f.results, Variants(), 0, 0, 2);
  EXPECT_EQ(r.steps, kS);
  ASSERT_EQ(r.tuned.size(), 3u);
  ASSERT_GE(r.cosine, 0);
  const Approach& cosine = r.tuned[r.cosine];
  EXPECT_EQ(cosine.lr, 0.1);
  EXPECT_EQ(cosine.runs.size(), 2u);
  EXPECT_TRUE(cosine.at_grid_edge);
  EXPECT_NEAR(r.target, 0.30, 1e-12);  // mean of 0.295 and 0.305
  EXPECT_EQ(cosine.compute_steps, 2 * kS);
  ASSERT_TRUE(cosine.worth.has_value());
  EXPECT_TRUE(cosine.worth->at_least_one);
  EXPECT_DOUBLE_EQ(cosine.worth->value, 1.0);
  EXPECT_NEAR(r.grid_val.at(0.01).at("cosine"), 0.40, 1e-12);

  // One-run baselines: textbook first, then the range test, then the rest.
  ASSERT_EQ(r.one_run.size(), 3u);
  EXPECT_EQ(r.one_run[0].method, "textbook");
  EXPECT_EQ(r.one_run[1].method, "range-cosine");
  EXPECT_EQ(r.one_run[2].method, "dog");
  // DoG ends below T: worth >= 1 (reached).
  EXPECT_TRUE(r.one_run[2].worth->at_least_one);
  // The range test ends at 0.35, above T: the cosine's mean curve,
  // 1 - 0.7 (s - 10) / 90, is <= 0.35 from s = 93.6, i.e. at its evaluation
  // at step 100: worth 100 / S = 1.0, not reached.
  ASSERT_TRUE(r.one_run[1].worth.has_value());
  EXPECT_FALSE(r.one_run[1].worth->at_least_one);
  EXPECT_DOUBLE_EQ(r.one_run[1].worth->value, 1.0);

  ASSERT_EQ(r.autolrs.size(), 1u);
  EXPECT_EQ(r.autolrs[0].method, "autolrs-a");
  EXPECT_NEAR(r.autolrs[0].final_val.mean, 0.34, 1e-12);
  EXPECT_EQ(r.autolrs[0].compute_steps, kS);
  const TaskReport r1 = Analyze(f.specs, f.results, Variants(), 0, 1, 2);
  EXPECT_NEAR(r1.autolrs[0].final_val.mean, 0.28, 1e-12) << "only its setting's runs";
}

TEST(AnalyzeTest, FailedRunsAreLeftOutAndAFailedGridRunCountsAsDiverged) {
  Fixture f = TwoSeeds();
  for (size_t i = 0; i < f.specs.size(); ++i) {
    // Seed 2 of the cosine's best LR failed: 0.1 counts as diverged, the
    // tuned cosine falls back to 0.01.
    if (f.specs[i].method == "cosine" && f.specs[i].lr == 0.1 && f.specs[i].seed == 2) {
      f.results[i] = RunResult{};
    }
  }
  const TaskReport r = Analyze(f.specs, f.results, Variants(), 0, 0, 2);
  EXPECT_EQ(r.tuned[r.cosine].lr, 0.01);
  EXPECT_NEAR(r.target, 0.40, 1e-12);
}

TEST(JudgeTest, CountsWinsAndNamesLosses) {
  Fixture f = TwoSeeds();
  std::vector<TaskReport> reports = {Analyze(f.specs, f.results, Variants(), 0, 0, 2),
                                     Analyze(f.specs, f.results, Variants(), 0, 1, 2)};
  const Verdict v = Judge(reports, "autolrs-a");
  EXPECT_EQ(v.cases, 2);
  EXPECT_EQ(v.beats_range, 2);     // 0.34 and 0.28 < 0.35
  EXPECT_EQ(v.beats_textbook, 1);  // 0.34 > 0.33
  EXPECT_EQ(v.worth_one, 1);       // only 0.28 reaches T = 0.30
  EXPECT_EQ(v.beats_parameter_free, 1);  // only 0.28 < DoG's 0.29
  ASSERT_EQ(v.losses.size(), 1u);
  EXPECT_NE(v.losses[0].find("textbook"), std::string::npos);
  EXPECT_EQ(Judge(reports, "autolrs-none").cases, 0);
}

// Family run `run` (1-based) of family `family` at `setting`.
void AddFamilyRun(Fixture& f, int setting, int family, int run, double final_val, double discarded,
                  int prior_runs) {
  RunResult r = Run(final_val);
  r.discarded_probe_fraction = discarded;
  r.family_prior_runs = prior_runs;
  f.Add(Kind::kFamily, "family-recommended", 0, FamilySeed(family, run), r, setting);
  f.specs.back().family = family;
  f.specs.back().family_run = run;
}

TEST(AnalyzeFamiliesTest, MeansOverFamiliesPerRunAgainstCosineAndBestParameterFree) {
  Fixture f = TwoSeeds();
  f.Add(Kind::kOneRun, "dadapt-sgd", 1, 1, autolrs::bench::Run(0.31));  // Worse than DoG's 0.29.
  // Setting 0: two families; run 1 searches, runs 2 and 3 follow the prior.
  AddFamilyRun(f, 0, 0, 1, 0.34, 0.25, 0);
  AddFamilyRun(f, 0, 1, 1, 0.34, 0.25, 0);
  AddFamilyRun(f, 0, 0, 2, 0.28, 0.08, 1);
  AddFamilyRun(f, 0, 1, 2, 0.27, 0.10, 1);
  AddFamilyRun(f, 0, 0, 3, 0.285, 0.05, 2);
  AddFamilyRun(f, 0, 1, 3, 0.275, 0.07, 2);
  // Setting 1: run 2 spends 12% on probes: the target is missed.
  AddFamilyRun(f, 1, 0, 1, 0.30, 0.25, 0);
  AddFamilyRun(f, 1, 0, 2, 0.27, 0.12, 1);
  AddFamilyRun(f, 1, 0, 3, 0.27, 0.05, 2);

  const TaskReport r0 = Analyze(f.specs, f.results, Variants(), 0, 0, 2);
  EXPECT_TRUE(r0.autolrs.size() == 1 && r0.Find("family-recommended") == nullptr)
      << "family runs are not an AutoLRS variant row";
  const std::optional<FamilyReport> fam = AnalyzeFamilies(f.specs, f.results, r0);
  ASSERT_TRUE(fam.has_value());
  EXPECT_EQ(fam->method, "family-recommended");
  EXPECT_EQ(fam->parameter_free, "dog");
  EXPECT_NEAR(fam->parameter_free_val, 0.29, 1e-12);
  ASSERT_EQ(fam->runs.size(), 3u);
  EXPECT_EQ(fam->runs[0].families, 2);
  EXPECT_NEAR(fam->runs[0].probe_share, 0.25, 1e-12);
  EXPECT_NEAR(fam->runs[0].final_val.mean, 0.34, 1e-12);
  ASSERT_TRUE(fam->runs[0].worth.has_value());
  EXPECT_FALSE(fam->runs[0].worth->at_least_one);  // 0.34 > T = 0.30
  EXPECT_NEAR(fam->runs[0].vs_parameter_free, 0.34 / 0.29, 1e-12);
  EXPECT_NEAR(fam->runs[0].prior_runs, 0, 1e-12);
  EXPECT_NEAR(fam->runs[1].probe_share, 0.09, 1e-12);
  EXPECT_NEAR(fam->runs[1].final_val.mean, 0.275, 1e-12);
  EXPECT_TRUE(fam->runs[1].worth->at_least_one);
  EXPECT_NEAR(fam->runs[1].vs_parameter_free, 0.275 / 0.29, 1e-12);
  EXPECT_NEAR(fam->runs[2].probe_share, 0.06, 1e-12);
  EXPECT_NEAR(fam->runs[2].prior_runs, 2, 1e-12);
  EXPECT_TRUE(fam->meets_target);

  const std::optional<FamilyReport> fam1 =
      AnalyzeFamilies(f.specs, f.results, Analyze(f.specs, f.results, Variants(), 0, 1, 2));
  ASSERT_TRUE(fam1.has_value());
  EXPECT_EQ(fam1->runs[1].families, 1);
  EXPECT_FALSE(fam1->meets_target) << "run 2's probes take 12%";

  // A failed run 3 leaves run 3 without families: the target is not met.
  for (size_t i = 0; i < f.specs.size(); ++i) {
    if (f.specs[i].kind == Kind::kFamily && f.specs[i].family_run == 3) f.results[i] = RunResult{};
  }
  const std::optional<FamilyReport> failed = AnalyzeFamilies(f.specs, f.results, r0);
  EXPECT_EQ(failed->runs[2].families, 0);
  EXPECT_FALSE(failed->meets_target);
}

TEST(AnalyzeFamiliesTest, TheCosineGridAt1point1STellsWorthAbove1x) {
  Fixture f = TwoSeeds();
  // The cosine grid over 1.1 x S: best at 0.1 with 0.28 (seeds 0.275, 0.285).
  for (int seed = 1; seed <= 2; ++seed) {
    f.Add(Kind::kGrid, kLongCosine, 0.01, seed, autolrs::bench::Run(0.33));
    f.Add(Kind::kGrid, kLongCosine, 0.1, seed, autolrs::bench::Run(0.27 + 0.005 * (2 * seed - 1)));
    f.specs.back().steps = 110;
    f.specs[f.specs.size() - 2].steps = 110;
  }
  AddFamilyRun(f, 0, 0, 1, 0.34, 0.25, 0);
  AddFamilyRun(f, 0, 0, 2, 0.279, 0.08, 1);  // <= 0.28: worth >= 1.1x.
  AddFamilyRun(f, 0, 0, 3, 0.285, 0.05, 2);  // Between 0.28 and T = 0.30: >= 1x only.
  const TaskReport r0 = Analyze(f.specs, f.results, Variants(), 0, 0, 2);
  EXPECT_EQ(r0.steps, kS) << "the long grid's steps are not the task's S";
  EXPECT_NEAR(r0.long_cosine_val, 0.28, 1e-12);
  EXPECT_DOUBLE_EQ(r0.long_cosine_lr, 0.1);
  EXPECT_EQ(r0.Find(kLongCosine), nullptr) << "not a row of the stage tables";
  const std::optional<FamilyReport> fam = AnalyzeFamilies(f.specs, f.results, r0);
  ASSERT_TRUE(fam.has_value());
  EXPECT_NEAR(fam->long_cosine_val, 0.28, 1e-12);
  EXPECT_FALSE(fam->runs[0].worth_long);
  EXPECT_TRUE(fam->runs[1].worth_long);
  EXPECT_FALSE(fam->runs[2].worth_long);
  EXPECT_TRUE(fam->runs[2].worth->at_least_one);
  EXPECT_FALSE(fam->meets_target) << "run 3 is not worth 1.1x";
}

TEST(AnalyzeFamiliesTest, NoFamilyRunsNoReport) {
  Fixture f = TwoSeeds();
  EXPECT_FALSE(AnalyzeFamilies(f.specs, f.results, Analyze(f.specs, f.results, Variants(), 0, 0, 2))
                   .has_value());
}

}  // namespace
}  // namespace autolrs::bench
