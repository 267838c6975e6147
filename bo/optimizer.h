#ifndef AUTOLRS_BO_OPTIMIZER_H_
#define AUTOLRS_BO_OPTIMIZER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "bo/acquisition.h"
#include "bo/gaussian_process.h"

namespace autolrs::bo {

// Bayesian optimization of one AutoLRS stage over the learning rate.
//
// Units: every LR in this API (options, observations, Ask, Best) is a *linear*
// learning rate. Internally the search space is log10(LR), mapped linearly onto
// u in [0, 1] (u = 0 at lr_min, u = 1 at lr_max); the GP is fitted over u.
//
// Thread-safety: Optimizer is an immutable value type (copyable, movable):
// its methods may run concurrently. A stage's optimizer is built from its
// probes each time (Create with the observations), so no state outlives a
// call and nothing needs serializing.

// AcquisitionKind (kLowerConfidenceBound, kExpectedImprovement, kExploration)
// is declared in bo/acquisition.h.

enum class ChoiceRule {
  // The told LR with the lowest finite value (the reference rule).
  kLowestObserved,
  // The argmin over [lr_min, lr_max] of the GP posterior mean.
  kPosteriorMinimum,
};

struct OptimizerOptions {
  double lr_min = 0;  // linear LR, finite, > 0
  double lr_max = 0;  // linear LR, finite, > lr_min; log10(lr_max / lr_min)
                      // must be at least Optimizer::kMinLog10Span
  AcquisitionKind acquisition = AcquisitionKind::kLowerConfidenceBound;
  double kappa = 1e6;  // LCB weight, finite, > 0 (validated for every kind)
  ChoiceRule choice = ChoiceRule::kLowestObserved;
  uint64_t seed = 0;
  // Ask() keeps at least this fraction of the search span (in log10 space)
  // between a proposal and every told LR. In
  // [Optimizer::kMinSeparationFraction, 0.25].
  double min_separation_fraction = 1e-4;
};

struct Observation {
  double lr;     // linear LR that was probed
  double value;  // predicted loss; NaN or +-Inf marks a diverged probe
};

class Optimizer {
 public:
  // Smallest accepted log10(lr_max) - log10(lr_min), in decades.
  static constexpr double kMinLog10Span = 1e-6;
  // The smallest OptimizerOptions::min_separation_fraction (its default):
  // Ask() never returns an LR closer than that fraction of the search span
  // (in log10 space) to an LR already told; see min_separation_log10().
  static constexpr double kMinSeparationFraction = 1e-4;

  // INVALID_ARGUMENT naming the bad option or observation (lr outside the
  // range, non-finite lr, unknown enum value, ...).
  static absl::StatusOr<Optimizer> Create(const OptimizerOptions& options,
                                          std::vector<Observation> observations = {});

  // The next LR to probe: linear, within [lr_min, lr_max], and at least
  // min_separation_log10() away in log10 space from every LR already told.
  // A pure function of options + observations: with no observation it is
  // uniform-random in log10 space from an RNG seeded by (seed, number of
  // observations); otherwise it maximizes the acquisition of a GP fitted to
  // the observations (diverged ones replaced by a finite penalty larger than
  // every finite value, so they are never the best; see GpTargets()). The
  // acquisition is maximized over u in [0, 1] minus the neighbourhoods of the
  // told LRs by a dense grid plus golden-section refinement; where it is flat,
  // the middle of the widest gap wins. RESOURCE_EXHAUSTED when told LRs leave
  // no room for a new one (needs about 1 / (2 * kMinSeparationFraction)
  // observations). Cost: O(n^3) in the number of observations n (a GP
  // hyperparameter fit per call); about 0.1 ms at n = 10 (optimizer_benchmark).
  absl::StatusOr<double> Ask() const;

  // The stage's answer (linear LR) under options.choice. kLowestObserved: the
  // told LR with the lowest finite value (the earliest one on ties).
  // kPosteriorMinimum: argmin over [lr_min, lr_max] of the posterior mean of
  // the GP that Ask() uses (penalized diverged probes included).
  // NOT_FOUND when no finite (non-diverged) observation exists.
  absl::StatusOr<double> Best() const;

  // How much a further probe can be expected to improve on the best finite
  // observation: the maximum over [lr_min, lr_max] of the GP's expected
  // improvement, divided by |best value| (so 0.01 = 1%). +infinity when no
  // observation is finite. Cost: one GP fit plus a dense grid.
  absl::StatusOr<double> ExpectedRelativeImprovement() const;

  const std::vector<Observation>& observations() const { return observations_; }
  const OptimizerOptions& options() const { return options_; }

  // Minimum distance, in log10(LR) decades, between an Ask() result and any
  // told LR: min_separation_fraction * log10(lr_max / lr_min).
  double min_separation_log10() const { return options_.min_separation_fraction * log10_span_; }

  // The targets the GP is fitted to, one per observation, in the order told:
  // finite values divided by max|finite value| (1 if that is 0), and for
  // diverged probes a penalty above all of them (the largest plus the spread
  // of the finite ones, or plus 1 when they are all equal; 0 when every probe
  // diverged). Finite and overflow-free for any input.
  std::vector<double> GpTargets() const;

  // The GP that Ask() and Best() use, over u in [0, 1] (see above).
  // FAILED_PRECONDITION when there is no observation.
  absl::StatusOr<GaussianProcess> FitModel() const;

 private:
  Optimizer(const OptimizerOptions& options, std::vector<Observation> observations);

  double ToUnit(double lr) const;   // linear LR -> u in [0, 1]
  double FromUnit(double u) const;  // u -> linear LR in [lr_min, lr_max]

  OptimizerOptions options_;
  std::vector<Observation> observations_;
  double log10_min_ = 0;
  double log10_span_ = 1;
};

}  // namespace autolrs::bo

#endif  // AUTOLRS_BO_OPTIMIZER_H_
