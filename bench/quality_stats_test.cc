#include "bench/quality_stats.h"

#include <cmath>
#include <limits>

#include "gtest/gtest.h"

namespace autolrs::bench {
namespace {

constexpr double kNan = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

TEST(ParseStepCsvTest, ParsesRowsWithAndWithoutValidation) {
  auto rows = ParseStepCsv(
      "step,phase,lr,loss,val_loss\n"
      "1,probe,0.1,2.3,\n"
      "2,exploit,0.05,nan,1.25\n"
      "3,train,1e-3,inf,\n");
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 3u);
  EXPECT_EQ((*rows)[0].step, 1);
  EXPECT_EQ((*rows)[0].phase, "probe");
  EXPECT_DOUBLE_EQ((*rows)[0].lr, 0.1);
  EXPECT_FALSE((*rows)[0].evaluated);
  EXPECT_TRUE(std::isnan((*rows)[1].loss));
  EXPECT_TRUE((*rows)[1].evaluated);
  EXPECT_DOUBLE_EQ((*rows)[1].val_loss, 1.25);
  EXPECT_TRUE(std::isinf((*rows)[2].loss));
  EXPECT_DOUBLE_EQ((*rows)[2].lr, 1e-3);
}

TEST(ParseStepCsvTest, RejectsBadHeaderAndMalformedRows) {
  EXPECT_FALSE(ParseStepCsv("").ok());
  EXPECT_FALSE(ParseStepCsv("a,b,c\n1,train,0.1,2,\n").ok());
  EXPECT_FALSE(ParseStepCsv("step,phase,lr,loss,val_loss\n1,train,0.1\n").ok());
  EXPECT_FALSE(ParseStepCsv("step,phase,lr,loss,val_loss\nx,train,0.1,2,\n").ok());
  EXPECT_FALSE(ParseStepCsv("step,phase,lr,loss,val_loss\n1,train,0.1,2,abc\n").ok());
  EXPECT_TRUE(ParseStepCsv("step,phase,lr,loss,val_loss\n").ok());
}

TEST(ParseFinalLineTest, TakesTheLastFinalLine) {
  auto f = ParseFinalLine(
      "noise\nfinal: schedule=constant test_loss=0.5\n"
      "final: schedule=autolrs test_loss=0.4123 test_accuracy=0.8512 val_loss=nan\n");
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->at("schedule"), "autolrs");
  EXPECT_EQ(f->at("test_loss"), "0.4123");
  EXPECT_EQ(f->at("test_accuracy"), "0.8512");
  EXPECT_EQ(f->at("val_loss"), "nan");
  EXPECT_FALSE(ParseFinalLine("step 1\nno final here\n").ok());
}

std::vector<StepRow> Rows(const std::vector<std::tuple<int64_t, const char*, double>>& evals) {
  std::vector<StepRow> rows;
  for (const auto& [step, phase, val] : evals) {
    StepRow r;
    r.step = step;
    r.phase = phase;
    r.lr = 0.1;
    r.loss = 1;
    r.evaluated = !std::isnan(val);
    r.val_loss = val;
    rows.push_back(r);
  }
  return rows;
}

TEST(MainLineEvalsTest, KeepsOnlyTrainWarmupAndExploitEvaluations) {
  // A probe reaches 0.1, but its state is rolled back: it must not count.
  auto rows = Rows({{1, "warmup", 2.0},
                    {2, "probe", 0.1},
                    {3, "probe", kNan},
                    {4, "exploit", 1.5},
                    {5, "exploit", kNan},
                    {6, "train", 1.2}});
  std::vector<EvalPoint> curve = MainLineEvals(rows);
  ASSERT_EQ(curve.size(), 3u);
  EXPECT_EQ(curve[0].step, 1);
  EXPECT_EQ(curve[1].step, 4);
  EXPECT_EQ(curve[2].step, 6);
  EXPECT_EQ(StepsToTarget(curve, 0.2), std::nullopt);
  EXPECT_EQ(StepsToTarget(curve, 1.5), 4);
}

TEST(StepsToTargetTest, FirstStepAtOrBelowTarget) {
  const std::vector<EvalPoint> curve = {{100, 2.0}, {200, 1.0}, {300, 0.8}, {400, 0.9}};
  EXPECT_EQ(StepsToTarget(curve, 2.0), 100);
  EXPECT_EQ(StepsToTarget(curve, 0.95), 300);
  EXPECT_EQ(StepsToTarget(curve, 0.8), 300);
  EXPECT_EQ(StepsToTarget(curve, 0.79), std::nullopt);
  EXPECT_EQ(StepsToTarget({}, 1.0), std::nullopt);
  EXPECT_EQ(StepsToTarget({{10, kNan}, {20, 0.5}}, 1.0), 20);
}

TEST(BudgetWorthTest, StepsOfTheReferenceToTheFinalLossOverTheBudget) {
  const std::vector<EvalPoint> reference = {{100, 0.9}, {200, 0.5}, {300, 0.4}, {400, 0.35}};
  auto worse = BudgetWorth(reference, 0.45, 400);
  ASSERT_TRUE(worse.has_value());
  EXPECT_FALSE(worse->at_least_one);
  EXPECT_DOUBLE_EQ(worse->value, 300.0 / 400.0);
  auto equal = BudgetWorth(reference, 0.35, 400);
  EXPECT_TRUE(equal->at_least_one);
  EXPECT_DOUBLE_EQ(equal->value, 1.0);
  EXPECT_TRUE(BudgetWorth(reference, 0.2, 400)->at_least_one);
  EXPECT_TRUE(BudgetWorth(reference, 0.35 * (1 + 1e-12), 400)->at_least_one) << "rounding";
  EXPECT_FALSE(BudgetWorth(reference, NAN, 400).has_value());
  EXPECT_FALSE(BudgetWorth({}, 0.3, 400).has_value());
  // A reference that dips below its own final loss mid-run: a method ending
  // above the reference's final is worth the steps to the dip.
  const std::vector<EvalPoint> dipping = {{100, 0.5}, {200, 0.30}, {300, 0.33}};
  auto between = BudgetWorth(dipping, 0.34, 300);
  EXPECT_FALSE(between->at_least_one);
  EXPECT_DOUBLE_EQ(between->value, 200.0 / 300.0);
}

TEST(ComputeSpeedupTest, RatioOfStepsToTargetWhenReached) {
  const std::vector<EvalPoint> reference = {{100, 1.0}, {200, 0.6}, {300, 0.5}, {400, 0.4}};
  const std::vector<EvalPoint> faster = {{100, 0.7}, {200, 0.4}, {300, 0.45}, {400, 0.3}};
  auto s = ComputeSpeedup(reference, faster, 0.4, 400);
  ASSERT_TRUE(s.has_value());
  EXPECT_TRUE(s->reached);
  EXPECT_DOUBLE_EQ(s->value, 2.0);  // 400 / 200
  auto same = ComputeSpeedup(reference, reference, 0.4, 400);
  ASSERT_TRUE(same.has_value());
  EXPECT_DOUBLE_EQ(same->value, 1.0);
}

TEST(ComputeSpeedupTest, EqualLossRatioWhenTheTargetIsNotReached) {
  const std::vector<EvalPoint> reference = {{100, 1.0}, {200, 0.6}, {300, 0.5}, {400, 0.4}};
  // Ends at 0.55: the reference gets there at step 300, so the candidate's
  // 400 steps are worth 300 reference steps.
  const std::vector<EvalPoint> slower = {{100, 2.0}, {300, 0.8}, {400, 0.55}};
  auto s = ComputeSpeedup(reference, slower, 0.4, 400);
  ASSERT_TRUE(s.has_value());
  EXPECT_FALSE(s->reached);
  EXPECT_DOUBLE_EQ(s->value, 0.75);
  // A diverged candidate, an empty one, and a target the reference misses.
  EXPECT_FALSE(ComputeSpeedup(reference, {{100, 0.9}, {400, kNan}}, 0.4, 400).has_value());
  EXPECT_FALSE(ComputeSpeedup(reference, {}, 0.4, 400).has_value());
  EXPECT_FALSE(
      ComputeSpeedup(reference, std::vector<EvalPoint>{{100, 0.05}}, 0.1, 400).has_value());
}

TEST(MeanCurveTest, AveragesSharedStepsOnly) {
  const std::vector<EvalPoint> a = {{100, 1.0}, {200, 0.8}, {300, 0.6}};
  const std::vector<EvalPoint> b = {{100, 3.0}, {300, 0.4}, {400, 0.1}};
  std::vector<EvalPoint> mean = MeanCurve({a, b});
  ASSERT_EQ(mean.size(), 2u);
  EXPECT_EQ(mean[0].step, 100);
  EXPECT_DOUBLE_EQ(mean[0].val_loss, 2.0);
  EXPECT_EQ(mean[1].step, 300);
  EXPECT_DOUBLE_EQ(mean[1].val_loss, 0.5);
  EXPECT_TRUE(MeanCurve({}).empty());
}

TEST(SummarizeTest, MeanSampleStddevMinMax) {
  Summary s = Summarize({1.0, 2.0, 3.0, 6.0});
  EXPECT_EQ(s.n, 4);
  EXPECT_DOUBLE_EQ(s.mean, 3.0);
  EXPECT_DOUBLE_EQ(s.stddev, std::sqrt(14.0 / 3.0));
  EXPECT_DOUBLE_EQ(s.min, 1.0);
  EXPECT_DOUBLE_EQ(s.max, 6.0);
  Summary one = Summarize({0.7});
  EXPECT_DOUBLE_EQ(one.mean, 0.7);
  EXPECT_DOUBLE_EQ(one.stddev, 0.0);
  EXPECT_TRUE(std::isnan(Summarize({1.0, kNan}).mean));
  EXPECT_EQ(Summarize({}).n, 0);
}

TEST(LogGridTest, EndpointsIncludedAndLogSpaced) {
  std::vector<double> g = LogGrid(1e-3, 1.0, 4);
  ASSERT_EQ(g.size(), 4u);
  EXPECT_DOUBLE_EQ(g[0], 1e-3);
  EXPECT_NEAR(g[1], 1e-2, 1e-15);
  EXPECT_NEAR(g[2], 1e-1, 1e-14);
  EXPECT_DOUBLE_EQ(g[3], 1.0);
  EXPECT_TRUE(LogGrid(1.0, 0.5, 4).empty());
  EXPECT_TRUE(LogGrid(1e-3, 1.0, 1).empty());
}

TEST(SelectBestLrTest, LowestMeanOverSeedsAndDivergedRunsDisqualify) {
  // 0.1 has the single best run but a worse mean than 0.03; 0.3 has the best
  // finite run but one seed diverged.
  auto best = SelectBestLr({{0.01, 0.60},
                            {0.01, 0.62},
                            {0.03, 0.40},
                            {0.03, 0.42},
                            {0.1, 0.30},
                            {0.1, 0.60},
                            {0.3, 0.20},
                            {0.3, kNan},
                            {1.0, kInf},
                            {1.0, kInf}});
  ASSERT_TRUE(best.ok()) << best.status();
  EXPECT_DOUBLE_EQ(best->lr, 0.03);
  EXPECT_DOUBLE_EQ(best->mean_val_loss, 0.41);
  EXPECT_EQ(best->runs, 2);
  EXPECT_FALSE(best->at_grid_edge);
}

TEST(SelectBestLrTest, FlagsGridEdgeTiesAndAllDiverged) {
  auto edge = SelectBestLr({{0.01, 0.5}, {0.1, 0.7}, {1.0, 0.9}});
  ASSERT_TRUE(edge.ok());
  EXPECT_DOUBLE_EQ(edge->lr, 0.01);
  EXPECT_TRUE(edge->at_grid_edge);
  auto tie = SelectBestLr({{0.3, 0.5}, {0.1, 0.5}, {1.0, 0.9}});
  ASSERT_TRUE(tie.ok());
  EXPECT_DOUBLE_EQ(tie->lr, 0.1);
  EXPECT_FALSE(SelectBestLr({}).ok());
  EXPECT_FALSE(SelectBestLr({{0.1, kNan}, {1.0, kInf}}).ok());
}

TEST(SegmentsTest, SplitsOnPhaseAndLrChangesAndCountsProbes) {
  std::vector<StepRow> rows;
  auto add = [&](const char* phase, double lr, int n) {
    for (int i = 0; i < n; ++i) {
      StepRow r;
      r.step = static_cast<int64_t>(rows.size()) + 1;
      r.phase = phase;
      r.lr = lr;
      rows.push_back(r);
    }
  };
  add("probe", 0.1, 2);
  add("probe", 0.02, 2);
  add("exploit", 0.02 * (1 + 1e-12), 6);  // Printing noise: the same LR.
  std::vector<Segment> s = Segments(rows);
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0].phase, "probe");
  EXPECT_EQ(s[0].steps(), 2);
  EXPECT_DOUBLE_EQ(s[1].lr, 0.02);
  EXPECT_EQ(s[2].phase, "exploit");
  EXPECT_EQ(s[2].first_step, 5);
  EXPECT_EQ(s[2].steps(), 6);
  EXPECT_DOUBLE_EQ(ProbeFraction(rows), 0.4);
  EXPECT_DOUBLE_EQ(ProbeFraction({}), 0.0);
}

}  // namespace
}  // namespace autolrs::bench
