#include "bo/optimizer.h"

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "absl/base/casts.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"

namespace autolrs::bo {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

OptimizerOptions Range(double lr_min, double lr_max) {
  OptimizerOptions o;
  o.lr_min = lr_min;
  o.lr_max = lr_max;
  return o;
}

// Position of lr in [lr_min, lr_max] in log10 space, in [0, 1].
double Unit(const OptimizerOptions& o, double lr) {
  return (std::log10(lr) - std::log10(o.lr_min)) / (std::log10(o.lr_max) - std::log10(o.lr_min));
}

double Uniform(std::mt19937_64& rng) { return (rng() >> 11) * 0x1.0p-53; }

// Checks the promises of Ask(): in range, and not a duplicate of a told LR.
void ExpectValidProposal(const Optimizer& opt, double lr, const std::string& context) {
  const OptimizerOptions& o = opt.options();
  ASSERT_TRUE(std::isfinite(lr)) << context;
  ASSERT_GE(lr, o.lr_min) << context;
  ASSERT_LE(lr, o.lr_max) << context;
  for (const Observation& obs : opt.observations()) {
    ASSERT_GE(std::abs(std::log10(lr) - std::log10(obs.lr)), opt.min_separation_log10())
        << context << ": proposal " << lr << " duplicates told " << obs.lr;
  }
}

// The optimizer with one more observation, built as the server builds a
// stage's optimizer from its probes.
absl::Status Tell(Optimizer* opt, double lr, double value) {
  std::vector<Observation> observations = opt->observations();
  observations.push_back({lr, value});
  absl::StatusOr<Optimizer> next = Optimizer::Create(opt->options(), std::move(observations));
  if (!next.ok()) return next.status();
  *opt = *std::move(next);
  return absl::OkStatus();
}

void ExpectInvalid(const absl::Status& status, absl::string_view mention) {
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), mention))
      << status << " should mention " << mention;
}

TEST(OptimizerCreateTest, ValidatesOptions) {
  ExpectInvalid(Optimizer::Create(Range(0, 1)).status(), "lr_min");
  ExpectInvalid(Optimizer::Create(Range(-1, 1)).status(), "lr_min");
  ExpectInvalid(Optimizer::Create(Range(kNaN, 1)).status(), "lr_min");
  ExpectInvalid(Optimizer::Create(Range(kInf, kInf)).status(), "lr_min");
  ExpectInvalid(Optimizer::Create(Range(1e-3, 1e-3)).status(), "lr_max");
  ExpectInvalid(Optimizer::Create(Range(1e-3, 1e-4)).status(), "lr_max");
  ExpectInvalid(Optimizer::Create(Range(1e-3, kInf)).status(), "lr_max");
  ExpectInvalid(Optimizer::Create(Range(1e-3, kNaN)).status(), "lr_max");
  ExpectInvalid(Optimizer::Create(Range(1.0, 1.0 + 1e-9)).status(), "log10");
  EXPECT_TRUE(Optimizer::Create(Range(1.0, 1.00001)).ok());

  OptimizerOptions o = Range(1e-4, 1);
  o.kappa = 0;
  ExpectInvalid(Optimizer::Create(o).status(), "kappa");
  o.kappa = kNaN;
  ExpectInvalid(Optimizer::Create(o).status(), "kappa");
  o = Range(1e-4, 1);
  o.acquisition = static_cast<AcquisitionKind>(17);
  ExpectInvalid(Optimizer::Create(o).status(), "acquisition");
  o = Range(1e-4, 1);
  o.choice = static_cast<ChoiceRule>(-1);
  ExpectInvalid(Optimizer::Create(o).status(), "choice");
}

TEST(OptimizerCreateTest, ValidatesObservations) {
  const OptimizerOptions o = Range(1e-4, 1);
  ExpectInvalid(Optimizer::Create(o, {{1e-3, 1.0}, {2.0, 1.0}}).status(), "observations[1].lr");
  ExpectInvalid(Optimizer::Create(o, {{1e-5, 1.0}}).status(), "observations[0].lr");
  ExpectInvalid(Optimizer::Create(o, {{kNaN, 1.0}}).status(), "observations[0].lr");
  // Diverged values, bounds and repeated LRs are fine.
  absl::StatusOr<Optimizer> opt =
      Optimizer::Create(o, {{1e-4, kNaN}, {1.0, -kInf}, {1e-2, 3.0}, {1e-2, 2.0}});
  ASSERT_TRUE(opt.ok()) << opt.status();
  EXPECT_EQ(opt->observations().size(), 4u);
}

TEST(OptimizerAskTest, FirstProposalIsSeededAndUniformInLogSpace) {
  OptimizerOptions o = Range(1e-6, 1);
  std::vector<int> deciles(10, 0);
  double first_of_seed0 = 0;
  const int kSeeds = 5000;
  for (int seed = 0; seed < kSeeds; ++seed) {
    o.seed = seed;
    absl::StatusOr<Optimizer> opt = Optimizer::Create(o);
    ASSERT_TRUE(opt.ok());
    absl::StatusOr<double> lr = opt->Ask();
    ASSERT_TRUE(lr.ok()) << lr.status();
    ExpectValidProposal(*opt, *lr, "seed " + std::to_string(seed));
    EXPECT_EQ(*opt->Ask(), *lr);  // a pure function
    if (seed == 0) first_of_seed0 = *lr;
    ++deciles[std::min(9, static_cast<int>(10 * Unit(o, *lr)))];
  }
  // Each tenth of the log range gets about a tenth: 500 +- 4.5 sigma.
  for (int d = 0; d < 10; ++d) {
    EXPECT_GT(deciles[d], 400) << "decile " << d;
    EXPECT_LT(deciles[d], 600) << "decile " << d;
  }
  o.seed = 0;
  EXPECT_EQ(*Optimizer::Create(o)->Ask(), first_of_seed0);
}

TEST(OptimizerAskTest, IsAPureFunctionOfOptionsAndObservations) {
  OptimizerOptions o = Range(1e-5, 1);
  o.seed = 3;
  const std::vector<Observation> obs = {{1e-3, 0.5}, {1e-1, 0.9}, {2e-5, 1.2}};
  absl::StatusOr<Optimizer> a = Optimizer::Create(o, obs);
  ASSERT_TRUE(a.ok());
  const Optimizer b = *a;
  absl::StatusOr<double> x = a->Ask();
  ASSERT_TRUE(x.ok()) << x.status();
  EXPECT_EQ(*a->Ask(), *x);
  EXPECT_EQ(*b.Ask(), *x);
  // Built by Tell instead of Create: the same.
  absl::StatusOr<Optimizer> c = Optimizer::Create(o);
  ASSERT_TRUE(c.ok());
  for (const Observation& ob : obs) ASSERT_TRUE(Tell(&*c, ob.lr, ob.value).ok());
  EXPECT_EQ(*c->Ask(), *x);
}

TEST(OptimizerAskTest, HugeKappaProbesWhereTheModelIsLeastCertain) {
  const OptimizerOptions o = Range(1e-5, 1);  // kLowerConfidenceBound, 1e6
  // Everything told sits in the lowest 30% of the log range, values favouring
  // low LRs: the proposal still goes far away from them.
  std::vector<Observation> obs;
  for (double u : {0.0, 0.1, 0.2, 0.3}) {
    obs.push_back({std::pow(10.0, -5 + 5 * u), u});
  }
  absl::StatusOr<Optimizer> opt = Optimizer::Create(o, obs);
  ASSERT_TRUE(opt.ok());
  absl::StatusOr<double> lr = opt->Ask();
  ASSERT_TRUE(lr.ok()) << lr.status();
  EXPECT_GT(Unit(o, *lr), 0.9);
}

TEST(OptimizerAskTest, ExpectedImprovementHomesInOnTheValley) {
  OptimizerOptions o = Range(1e-5, 1);
  o.acquisition = AcquisitionKind::kExpectedImprovement;
  o.seed = 11;
  // Loss is a parabola in log10(LR) with its minimum at 1e-3 (u = 0.4).
  auto loss = [](double lr) {
    const double x = std::log10(lr) + 3;
    return 0.2 + 0.1 * x * x;
  };
  absl::StatusOr<Optimizer> opt = Optimizer::Create(o);
  ASSERT_TRUE(opt.ok());
  for (int i = 0; i < 10; ++i) {
    absl::StatusOr<double> lr = opt->Ask();
    ASSERT_TRUE(lr.ok()) << lr.status();
    ASSERT_TRUE(Tell(&*opt, *lr, loss(*lr)).ok());
  }
  absl::StatusOr<double> best = opt->Best();
  ASSERT_TRUE(best.ok()) << best.status();
  EXPECT_NEAR(std::log10(*best), -3.0, 0.15);
}

TEST(OptimizerAskTest, ExplorationFillsTheLargestGap) {
  OptimizerOptions o = Range(1e-4, 1);
  o.acquisition = AcquisitionKind::kExploration;
  absl::StatusOr<Optimizer> opt =
      Optimizer::Create(o, {{1e-4, 1.0}, {1e-3, 2.0}, {1e-2, 1.5}, {1.0, 1.7}});
  ASSERT_TRUE(opt.ok());
  absl::StatusOr<double> lr = opt->Ask();
  ASSERT_TRUE(lr.ok()) << lr.status();
  EXPECT_GT(std::log10(*lr), -2.0);
  EXPECT_LT(std::log10(*lr), 0.0);
}

// Fills [lr_min, lr_max] with probes of an adversarial value source and checks
// every proposal, across thousands of seeds.
TEST(OptimizerAskTest, NeverOutOfRangeOrDuplicateUnderAdversarialInputs) {
  enum Source { kSmooth, kAllEqual, kHuge, kPenaltiesOnly, kMixed, kCount };
  std::mt19937_64 rng(2024);
  for (int trial = 0; trial < 2500; ++trial) {
    OptimizerOptions o;
    o.lr_min = std::pow(10.0, -9 + 8 * Uniform(rng));
    // Spans from the narrowest allowed to 10 decades.
    const double span =
        trial % 7 == 0 ? Optimizer::kMinLog10Span * 1.01 : std::pow(10.0, -4 + 5 * Uniform(rng));
    o.lr_max = o.lr_min * std::pow(10.0, span);
    o.acquisition = static_cast<AcquisitionKind>(trial % 3);
    o.kappa = trial % 2 ? 1e6 : std::pow(10.0, -3 + 9 * Uniform(rng));
    o.choice = static_cast<ChoiceRule>(trial % 2);
    o.seed = rng();
    const Source source = static_cast<Source>(trial % kCount);
    auto value = [&](double lr) -> double {
      switch (source) {
        case kSmooth:
          return std::sin(3 * std::log10(lr)) + 0.01 * Uniform(rng);
        case kAllEqual:
          return 0.25;
        case kHuge: {
          const double v[] = {DBL_MAX, -DBL_MAX, 1e300, -1e300, DBL_MIN, 0};
          return v[rng() % 6];
        }
        case kPenaltiesOnly: {
          const double v[] = {kNaN, kInf, -kInf};
          return v[rng() % 3];
        }
        default: {
          const double v[] = {kNaN, 1.0, 1.0 + 1e-15, -kInf, 1e-300, 2.0};
          return v[rng() % 6];
        }
      }
    };
    absl::StatusOr<Optimizer> opt = Optimizer::Create(o);
    ASSERT_TRUE(opt.ok()) << opt.status();
    // Sometimes start from told LRs at the bounds, repeated.
    if (trial % 5 == 1) {
      for (double lr : {o.lr_min, o.lr_max, o.lr_min, o.lr_max}) {
        ASSERT_TRUE(Tell(&*opt, lr, value(lr)).ok());
      }
    }
    const int asks = 3 + trial % 10;
    for (int i = 0; i < asks; ++i) {
      absl::StatusOr<double> lr = opt->Ask();
      const std::string context = "trial " + std::to_string(trial) + " ask " + std::to_string(i);
      ASSERT_TRUE(lr.ok()) << context << ": " << lr.status();
      ExpectValidProposal(*opt, *lr, context);
      ASSERT_TRUE(Tell(&*opt, *lr, value(*lr)).ok()) << context;
    }
    absl::StatusOr<double> best = opt->Best();
    if (best.ok()) {
      EXPECT_GE(*best, o.lr_min);
      EXPECT_LE(*best, o.lr_max);
    } else {
      EXPECT_EQ(best.status().code(), absl::StatusCode::kNotFound);
    }
  }
}

TEST(OptimizerAskTest, ExhaustedWhenNoRoomIsLeft) {
  const OptimizerOptions o = Range(1.0, 1.00001);  // about 4.3e-6 decades
  std::vector<Observation> obs;
  const int n = static_cast<int>(0.5 / Optimizer::kMinSeparationFraction) + 2;
  for (int i = 0; i <= n; ++i) {
    obs.push_back({std::pow(10.0, std::log10(o.lr_max) * i / n), 1.0});
  }
  obs.back().lr = o.lr_max;
  absl::StatusOr<Optimizer> opt = Optimizer::Create(o, obs);
  ASSERT_TRUE(opt.ok()) << opt.status();
  EXPECT_EQ(opt->Ask().status().code(), absl::StatusCode::kResourceExhausted);
}

TEST(OptimizerTargetsTest, PenaltiesExceedEveryFiniteValueAndStayFinite) {
  const OptimizerOptions o = Range(1e-4, 1);
  absl::StatusOr<Optimizer> opt = Optimizer::Create(
      o, {{1e-4, DBL_MAX}, {1e-3, kNaN}, {1e-2, -DBL_MAX}, {1e-1, kInf}, {1.0, 3.0}});
  ASSERT_TRUE(opt.ok());
  const std::vector<double> t = opt->GpTargets();
  ASSERT_EQ(t.size(), 5u);
  for (double v : t) EXPECT_TRUE(std::isfinite(v));
  for (int diverged : {1, 3}) {
    for (int finite : {0, 2, 4}) EXPECT_GT(t[diverged], t[finite]);
  }
  EXPECT_LT(t[2], t[4]);
  EXPECT_LT(t[4], t[0]);

  absl::StatusOr<Optimizer> equal = Optimizer::Create(o, {{1e-4, 5.0}, {1e-3, kNaN}, {1e-2, 5.0}});
  ASSERT_TRUE(equal.ok());
  const std::vector<double> te = equal->GpTargets();
  EXPECT_GT(te[1], te[0]);
  EXPECT_EQ(te[0], te[2]);
}

TEST(OptimizerBestTest, LowestObservedIgnoresDivergedProbes) {
  const OptimizerOptions o = Range(1e-4, 1);
  absl::StatusOr<Optimizer> opt = Optimizer::Create(
      o, {{1e-4, kNaN}, {1e-3, 0.7}, {1e-2, -kInf}, {1e-1, 0.4}, {1.0, kInf}, {0.5, 0.4}});
  ASSERT_TRUE(opt.ok());
  absl::StatusOr<double> best = opt->Best();
  ASSERT_TRUE(best.ok()) << best.status();
  EXPECT_EQ(*best, 1e-1);  // -Inf diverged; 0.4 ties go to the earliest
}

TEST(OptimizerBestTest, NotFoundWithoutAFiniteObservation) {
  for (ChoiceRule choice : {ChoiceRule::kLowestObserved, ChoiceRule::kPosteriorMinimum}) {
    OptimizerOptions o = Range(1e-4, 1);
    o.choice = choice;
    absl::StatusOr<Optimizer> opt = Optimizer::Create(o);
    ASSERT_TRUE(opt.ok());
    EXPECT_EQ(opt->Best().status().code(), absl::StatusCode::kNotFound);
    ASSERT_TRUE(Tell(&*opt, 1e-3, kNaN).ok());
    ASSERT_TRUE(Tell(&*opt, 1e-2, -kInf).ok());
    EXPECT_EQ(opt->Best().status().code(), absl::StatusCode::kNotFound);
  }
}

TEST(OptimizerBestTest, PosteriorMinimumFindsTheValleyBetweenProbes) {
  OptimizerOptions o = Range(1e-5, 1);
  o.choice = ChoiceRule::kPosteriorMinimum;
  std::vector<Observation> obs;
  // Parabola in log10(LR) with its minimum at 10^-2.7, never probed there.
  for (double x : {-5.0, -4.2, -3.5, -2.0, -1.1, 0.0}) {
    obs.push_back({std::pow(10.0, x), (x + 2.7) * (x + 2.7)});
  }
  absl::StatusOr<Optimizer> opt = Optimizer::Create(o, obs);
  ASSERT_TRUE(opt.ok());
  absl::StatusOr<double> best = opt->Best();
  ASSERT_TRUE(best.ok()) << best.status();
  EXPECT_NEAR(std::log10(*best), -2.7, 0.1);

  // The lowest-observed rule answers the best probe instead.
  o.choice = ChoiceRule::kLowestObserved;
  EXPECT_EQ(*Optimizer::Create(o, obs)->Best(), 1e-2);
}

TEST(OptimizerBestTest, PosteriorMinimumStaysAwayFromDivergedProbes) {
  OptimizerOptions o = Range(1e-5, 1);
  o.choice = ChoiceRule::kPosteriorMinimum;
  std::vector<Observation> obs;
  for (double x : {-5.0, -4.2, -3.5, -2.0, -1.1}) {
    obs.push_back({std::pow(10.0, x), 1.0 - 0.1 * x});  // lower is better...
  }
  obs.push_back({std::pow(10.0, -0.5), kNaN});  // ...until it diverges
  obs.push_back({1.0, kInf});
  absl::StatusOr<Optimizer> opt = Optimizer::Create(o, obs);
  ASSERT_TRUE(opt.ok());
  absl::StatusOr<double> best = opt->Best();
  ASSERT_TRUE(best.ok()) << best.status();
  EXPECT_GE(*best, o.lr_min);
  EXPECT_LT(std::log10(*best), -0.8);
}

}  // namespace
}  // namespace autolrs::bo

namespace autolrs::bo {
namespace {

TEST(OptimizerExpectedImprovementTest, ShrinksAsTheValleyIsMapped) {
  OptimizerOptions options;
  options.lr_min = 1e-3;
  options.lr_max = 1.0;
  // A quadratic valley in log10 LR with its minimum at 1e-1.5.
  auto loss = [](double lr) {
    const double x = std::log10(lr) + 1.5;
    return 0.3 + 0.05 * x * x;
  };
  absl::StatusOr<Optimizer> sparse =
      Optimizer::Create(options, {{1e-3, loss(1e-3)}, {1e-2, loss(1e-2)}, {1.0, loss(1.0)}});
  ASSERT_TRUE(sparse.ok());
  std::vector<Observation> dense;
  for (int i = 0; i <= 12; ++i) {
    const double lr = std::pow(10.0, -3.0 + 3.0 * i / 12);
    dense.push_back({lr, loss(lr)});
  }
  absl::StatusOr<Optimizer> mapped = Optimizer::Create(options, dense);
  ASSERT_TRUE(mapped.ok());
  absl::StatusOr<double> sparse_gain = sparse->ExpectedRelativeImprovement();
  absl::StatusOr<double> mapped_gain = mapped->ExpectedRelativeImprovement();
  ASSERT_TRUE(sparse_gain.ok() && mapped_gain.ok());
  EXPECT_GT(*sparse_gain, 0.01);
  EXPECT_LT(*mapped_gain, 0.005);
  EXPECT_GE(*mapped_gain, 0.0);
}

TEST(OptimizerExpectedImprovementTest, IsInfiniteWithoutAFiniteObservation) {
  OptimizerOptions options;
  options.lr_min = 1e-3;
  options.lr_max = 1.0;
  absl::StatusOr<Optimizer> diverged =
      Optimizer::Create(options, {{0.5, std::numeric_limits<double>::quiet_NaN()}});
  ASSERT_TRUE(diverged.ok());
  EXPECT_TRUE(std::isinf(*diverged->ExpectedRelativeImprovement()));
}

}  // namespace
}  // namespace autolrs::bo

namespace autolrs::bo {
namespace {

TEST(OptimizerSeparationTest, ProposalsKeepTheConfiguredDistance) {
  OptimizerOptions options;
  options.lr_min = 1e-3;
  options.lr_max = 1.0;
  options.acquisition = AcquisitionKind::kLowerConfidenceBound;
  options.kappa = 0.1;                     // Exploit: proposals crowd the best observation.
  options.min_separation_fraction = 0.05;  // 0.15 decades.
  absl::StatusOr<Optimizer> opt = Optimizer::Create(options);
  ASSERT_TRUE(opt.ok());
  for (int i = 0; i < 8; ++i) {
    absl::StatusOr<double> lr = opt->Ask();
    ASSERT_TRUE(lr.ok()) << lr.status();
    for (const Observation& o : opt->observations()) {
      EXPECT_GE(std::abs(std::log10(*lr) - std::log10(o.lr)), 0.15 - 1e-12);
    }
    const double x = std::log10(*lr) + 3;  // Minimum at lr_min.
    ASSERT_TRUE(Tell(&*opt, *lr, 0.3 + 0.1 * x).ok());
  }
  options.min_separation_fraction = 0.5;
  EXPECT_TRUE(absl::IsInvalidArgument(Optimizer::Create(options).status()));
}

}  // namespace
}  // namespace autolrs::bo
