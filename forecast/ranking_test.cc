#include "forecast/ranking.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "forecast/synthetic_curves.h"
#include "gtest/gtest.h"

namespace autolrs {
namespace forecast {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

TEST(SpearmanTest, PerfectReversedAndTied) {
  EXPECT_DOUBLE_EQ(SpearmanCorrelation({1, 2, 3, 4}, {10, 20, 30, 40}), 1.0);
  EXPECT_DOUBLE_EQ(SpearmanCorrelation({1, 2, 3, 4}, {4, 3, 2, 1}), -1.0);
  // Monotone but non-linear is still 1.
  EXPECT_DOUBLE_EQ(SpearmanCorrelation({1, 2, 3}, {1, 100, 1e6}), 1.0);
  // Ties share ranks: x ranks (1.5, 1.5, 3), y ranks (1, 2, 3).
  EXPECT_NEAR(SpearmanCorrelation({5, 5, 7}, {1, 2, 3}), 0.8660254037844386, 1e-12);
  // +inf ranks last.
  EXPECT_DOUBLE_EQ(SpearmanCorrelation({1, kInf, 2}, {1, 3, 2}), 1.0);
  // Constant side: no ranking information.
  EXPECT_EQ(SpearmanCorrelation({1, 1, 1}, {1, 2, 3}), 0.0);
}

TEST(ParseCurvesCsvTest, ParsesAnyRowOrder) {
  const std::string csv =
      "checkpoint,lr,step,loss\n"
      "c0,0.1,2,0.5\n"
      "c0,0.1,1,0.9\n"
      "c0,0.01,1,1.0\n"
      "c0,0.01,2,nan\n"
      "c1, 0.1 ,1, 2.0\n"
      "\n";
  absl::StatusOr<std::vector<Curve>> curves = ParseCurvesCsv(csv);
  ASSERT_TRUE(curves.ok()) << curves.status();
  ASSERT_EQ(curves->size(), 3u);
  EXPECT_EQ((*curves)[0].checkpoint, "c0");
  EXPECT_EQ((*curves)[0].lr, 0.01);
  EXPECT_EQ((*curves)[0].loss[0], 1.0);
  EXPECT_TRUE(std::isnan((*curves)[0].loss[1]));
  EXPECT_EQ((*curves)[1].lr, 0.1);
  EXPECT_EQ((*curves)[1].loss, (std::vector<double>{0.9, 0.5}));
  EXPECT_EQ((*curves)[2].checkpoint, "c1");
  EXPECT_EQ((*curves)[2].loss, (std::vector<double>{2.0}));
}

TEST(ParseCurvesCsvTest, RejectsMalformedInput) {
  const char* bad[] = {
      "",
      "lr,step,loss\n0.1,1,0.5\n",                              // wrong header
      "checkpoint,lr,step,loss\nc0,0.1,1\n",                    // 3 fields
      "checkpoint,lr,step,loss\nc0,x,1,0.5\n",                  // bad lr
      "checkpoint,lr,step,loss\nc0,0.1,0,0.5\n",                // step 0
      "checkpoint,lr,step,loss\nc0,0.1,1.5,0.5\n",              // fractional step
      "checkpoint,lr,step,loss\nc0,0.1,1,abc\n",                // bad loss
      "checkpoint,lr,step,loss\nc0,0.1,1,0.5\nc0,0.1,1,0.4\n",  // duplicate
      "checkpoint,lr,step,loss\nc0,0.1,1,0.5\nc0,0.1,3,0.4\n",  // gap
  };
  for (const char* csv : bad) {
    EXPECT_EQ(ParseCurvesCsv(csv).status().code(), absl::StatusCode::kInvalidArgument) << csv;
  }
  absl::Status s = ParseCurvesCsv("checkpoint,lr,step,loss\nc0,0.1,1\n").status();
  EXPECT_TRUE(absl::StrContains(s.message(), "line 2")) << s;
}

TEST(ParseCurvesCsvTest, RoundTripsThroughCurvesToCsv) {
  NqmOptions nqm;
  nqm.tau = 20;
  nqm.checkpoint_steps = {0, 50};
  nqm.lrs = {0.1, 0.5, 3.0};  // 3.0 diverges
  const std::vector<Curve> curves = SimulateNqmSweep(nqm);
  absl::StatusOr<std::vector<Curve>> parsed = ParseCurvesCsv(CurvesToCsv(curves));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->size(), curves.size());
  for (size_t i = 0; i < curves.size(); ++i) {
    EXPECT_EQ((*parsed)[i].checkpoint, curves[i].checkpoint);
    EXPECT_EQ((*parsed)[i].lr, curves[i].lr);
    ASSERT_EQ((*parsed)[i].loss.size(), 20u);
    for (size_t k = 0; k < 20; ++k) {
      const double a = curves[i].loss[k], b = (*parsed)[i].loss[k];
      if (std::isfinite(a)) {
        EXPECT_NEAR(b, a, 1e-8 * std::abs(a));
      } else {
        EXPECT_FALSE(std::isfinite(b));
      }
    }
  }
}

// Three LRs from one checkpoint; losses are flat after the probe except as
// noted, so the truth is easy to compute by hand.
std::vector<Curve> HandMadeCurves() {
  auto flat = [](double probe, double later) {
    std::vector<double> loss(100, later);
    for (int i = 0; i < 10; ++i) loss[i] = probe;
    return loss;
  };
  std::vector<Curve> curves(4);
  curves[0] = {"c", 0.01, flat(0.9, 0.5)};  // looks worst, ends best
  curves[1] = {"c", 0.1, flat(0.7, 0.6)};
  curves[2] = {"c", 1.0, flat(0.5, 0.8)};    // looks best, ends worst
  curves[3] = {"c", 10.0, flat(0.6, kInf)};  // diverges later
  return curves;
}

TEST(ScoreRankingTest, ComputesSpearmanAndRegretByHand) {
  std::vector<RankingMethod> methods(1);
  methods[0].name = "last";
  methods[0].options.method = Method::kLastMean;
  RankingOptions options;
  options.tau_probe = 10;
  options.truth_window = 5;
  absl::StatusOr<RankingReport> report = ScoreRanking(HandMadeCurves(), methods, options);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->curves, 4);
  EXPECT_EQ(report->diverged_curves, 1);
  ASSERT_EQ(report->scores.size(), 1u);
  const MethodScore& s = report->scores[0];
  EXPECT_EQ(s.checkpoints, 1);
  EXPECT_EQ(s.forecasts, 4);
  // Forecasts 0.9, 0.7, 0.5, 0.6 vs truths 0.5, 0.6, 0.8, inf.
  EXPECT_NEAR(s.mean_spearman, SpearmanCorrelation({0.9, 0.7, 0.5, 0.6}, {0.5, 0.6, 0.8, kInf}),
              1e-12);
  EXPECT_LT(s.mean_spearman, 0);
  // It picks lr 1.0 (forecast 0.5): regret 0.8 - 0.5.
  EXPECT_NEAR(s.mean_regret, 0.3, 1e-12);
  EXPECT_NEAR(s.mean_rel_regret, 0.6, 1e-12);
  EXPECT_EQ(s.missed_divergence, 1);
  EXPECT_EQ(s.nonfinite, 0);
  EXPECT_EQ(s.false_divergence, 0);
  EXPECT_EQ(s.negative, 0);
  ASSERT_EQ(report->details.size(), 4u);
  EXPECT_EQ(report->details[2].predictions[0], 0.5);
  EXPECT_EQ(report->details[3].truth, kInf);

  const std::string table = FormatMarkdown(*report);
  EXPECT_TRUE(absl::StrContains(table, "| last | 1 |")) << table;
  EXPECT_TRUE(absl::StrContains(table, "mean of the last 5 losses")) << table;
  EXPECT_TRUE(absl::StrContains(FormatDetails(*report), "| c | 0.01 |"));
}

TEST(ScoreRankingTest, CountsFalseDivergence) {
  // The probe explodes 50x (flagged as diverged) but the run recovers.
  std::vector<double> spiky(30, 0.2);
  for (int i = 0; i < 10; ++i) spiky[i] = i < 5 ? 0.1 : 5.0;
  const std::vector<Curve> curves = {{"c", 0.1, spiky}, {"c", 0.2, std::vector<double>(30, 0.3)}};
  std::vector<RankingMethod> methods(1);
  methods[0].options.method = Method::kLastMean;
  absl::StatusOr<RankingReport> report = ScoreRanking(curves, methods, RankingOptions{10, 5});
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->scores[0].nonfinite, 1);
  EXPECT_EQ(report->scores[0].false_divergence, 1);
  EXPECT_EQ(report->scores[0].missed_divergence, 0);
  // The diverged forecast ranks last: it picks lr 0.2, regret 0.3 - 0.2.
  EXPECT_NEAR(report->scores[0].mean_regret, 0.1, 1e-12);
  EXPECT_DOUBLE_EQ(report->scores[0].mean_spearman, -1.0);
}

TEST(ScoreRankingTest, RejectsBadTauProbe) {
  const std::vector<RankingMethod> methods = DefaultRankingMethods();
  RankingOptions options;
  options.tau_probe = 0;
  EXPECT_EQ(ScoreRanking(HandMadeCurves(), methods, options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options.tau_probe = 101;
  EXPECT_EQ(ScoreRanking(HandMadeCurves(), methods, options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ScoreRankingTest, ScoresTheDefaultMethodsOnASyntheticSweep) {
  NqmOptions nqm;
  nqm.seed = 5;
  nqm.tau = 400;
  nqm.lrs = {0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 1.5, 2.5};  // 2.5 diverges
  absl::StatusOr<RankingReport> report =
      ScoreRanking(SimulateNqmSweep(nqm), DefaultRankingMethods(), RankingOptions{40, 0});
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->curves, 24);
  ASSERT_EQ(report->scores.size(), 3u);
  for (const MethodScore& s : report->scores) {
    EXPECT_EQ(s.checkpoints, 3) << s.name;
    EXPECT_EQ(s.forecasts, 24) << s.name;
    // Forecasts from 10% of the curve still carry the ranking.
    EXPECT_GT(s.mean_spearman, 0.3) << s.name;
    EXPECT_LE(s.mean_spearman, 1.0) << s.name;
    EXPECT_GE(s.mean_regret, 0) << s.name;
  }
  EXPECT_TRUE(absl::StrContains(report->truth_description, "(20 to 20 here)"))
      << report->truth_description;
}

}  // namespace
}  // namespace forecast
}  // namespace autolrs
