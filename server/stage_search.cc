#include "server/stage_search.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "server/compute_timer.h"
#include "server/family_prior.h"
#include "server/stage_choice.h"

namespace autolrs::server {
namespace {

// The optimizer's largest min_separation_fraction.
constexpr double kMaxSeparationFraction = 0.25;

// SplitMix64: a well-mixed per-stage seed from the job seed.
uint64_t StageSeed(uint64_t seed, int32_t stage) {
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * static_cast<uint64_t>(stage + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// The optimizer options of stage `stage` over the job's whole interval.
bo::OptimizerOptions OptimizerOptionsFor(const v1::JobConfig& c, int32_t stage) {
  bo::OptimizerOptions o;
  o.lr_min = c.lr_min();
  o.lr_max = c.lr_max();
  switch (c.acquisition()) {
    case v1::ACQUISITION_EXPECTED_IMPROVEMENT:
      o.acquisition = bo::AcquisitionKind::kExpectedImprovement;
      break;
    case v1::ACQUISITION_EXPLORATION:
      o.acquisition = bo::AcquisitionKind::kExploration;
      break;
    default:
      o.acquisition = bo::AcquisitionKind::kLowerConfidenceBound;
  }
  o.kappa = c.kappa();
  o.choice = c.stage_choice() == v1::STAGE_CHOICE_GP_POSTERIOR_MIN
                 ? bo::ChoiceRule::kPosteriorMinimum
                 : bo::ChoiceRule::kLowestObserved;
  o.seed = StageSeed(c.seed(), stage);
  o.min_separation_fraction = c.min_probe_separation();
  return o;
}

}  // namespace

int32_t ProbesFor(const v1::JobConfig& c, const v1::Stage& stage) {
  // A later stage's probes too short to rank its window's LRs: no search
  // (with a family's prior, the stage trains at the family's LR).
  if (stage.index() > 0 && stage.tau_probe() < c.later_stage_min_probe_steps()) return 0;
  if (SearchesByPrior(stage)) return PriorProbes(c, stage);
  if (stage.index() == 0) return c.probes_per_stage();
  return c.has_later_stage_probes() ? c.later_stage_probes() : c.probes_per_stage();
}

double SearchCeiling(const v1::JobConfig& c, const v1::Schedule& schedule, int32_t stage) {
  double ceiling = c.lr_max();
  if (c.remember_divergence()) {
    double diverged = std::numeric_limits<double>::infinity();
    for (const v1::Stage& s : schedule.stages()) {
      if (s.index() >= stage) break;
      for (const v1::Probe& p : s.probes()) {
        if (p.diverged()) diverged = std::min(diverged, p.lr());
      }
      // An exploitation the guard rolled back failed like a diverged probe.
      for (double lr : s.rolled_back_lrs()) diverged = std::min(diverged, lr);
    }
    if (std::isfinite(diverged)) {
      double safe = c.lr_min();
      for (const v1::Stage& s : schedule.stages()) {
        if (s.index() >= stage) break;
        for (const v1::Probe& p : s.probes()) {
          if (!p.diverged() && p.lr() < diverged) safe = std::max(safe, p.lr());
        }
      }
      ceiling = std::max(std::sqrt(safe * diverged), c.lr_min() * std::pow(10.0, 0.1));
    }
  }
  for (const v1::Stage& s : schedule.stages()) {
    if (s.index() != stage) continue;
    for (const v1::Probe& p : s.probes()) ceiling = std::max(ceiling, p.lr());
  }
  return std::min(ceiling, c.lr_max());
}

absl::StatusOr<bo::Optimizer> StageOptimizer(const JobState& state, double current_lr) {
  ComputeTimer timer(ComputeKind::kBayesOpt);
  const v1::JobConfig& c = state.job().config();
  const v1::Schedule& schedule = state.schedule();
  const v1::Stage& stage = schedule.stages(schedule.stages_size() - 1);
  std::vector<bo::Observation> observations;
  for (const v1::Probe& p : stage.probes()) {
    observations.push_back(
        {p.lr(), p.diverged() ? std::numeric_limits<double>::quiet_NaN() : p.predicted_loss()});
  }
  bo::OptimizerOptions options = OptimizerOptionsFor(c, stage.index());
  options.lr_max = SearchCeiling(c, schedule, stage.index());
  if (SearchesByPrior(stage)) {
    // A family's prior: a window around the family's LR.
    const LrWindow window = PriorWindow(state, stage, options.lr_min, options.lr_max);
    options.lr_min = window.lo;
    options.lr_max = window.hi;
  } else if (c.search_radius() > 0 && stage.index() > 0 && current_lr > 0) {
    // With search_radius, a later stage searches around the previous choice
    // (the job's current LR), within the stage's interval.
    const double factor = std::pow(10.0, c.search_radius());
    double center_lo = current_lr, center_hi = current_lr;
    if (c.widen_at_edge()) {
      // A best probe in the outer quarter of the window moves that edge one
      // radius past it: a stage can walk away from a bad earlier choice.
      const v1::Probe* best = BestProbe(stage);
      if (best != nullptr) {
        const double d = std::log10(best->lr() / current_lr);
        if (d < -0.75 * c.search_radius()) center_lo = best->lr();
        if (d > 0.75 * c.search_radius()) center_hi = best->lr();
      }
    }
    const double hi = std::min(options.lr_max, center_hi * factor);
    double lo = std::max(options.lr_min, center_lo / factor);
    if (lo >= hi) lo = std::max(options.lr_min, hi / (factor * factor));
    if (lo < hi) {
      options.lr_min = lo;
      options.lr_max = hi;
    }
  }
  // min_probe_separation is a fraction of the job's interval: the same
  // distance in decades inside a narrower stage interval.
  const double job_span = std::log10(c.lr_max() / c.lr_min());
  const double stage_span = std::log10(options.lr_max / options.lr_min);
  options.min_separation_fraction =
      std::clamp(c.min_probe_separation() * job_span / stage_span,
                 bo::Optimizer::kMinSeparationFraction, kMaxSeparationFraction);
  return bo::Optimizer::Create(options, std::move(observations));
}

absl::StatusOr<double> AskWithRoom(const bo::Optimizer& optimizer) {
  ComputeTimer timer(ComputeKind::kBayesOpt);
  absl::StatusOr<double> lr = optimizer.Ask();
  bo::OptimizerOptions options = optimizer.options();
  while (!lr.ok() && absl::IsResourceExhausted(lr.status()) &&
         options.min_separation_fraction > bo::Optimizer::kMinSeparationFraction) {
    options.min_separation_fraction =
        std::max(bo::Optimizer::kMinSeparationFraction, options.min_separation_fraction / 2);
    absl::StatusOr<bo::Optimizer> narrower =
        bo::Optimizer::Create(options, optimizer.observations());
    if (!narrower.ok()) return narrower.status();
    lr = narrower->Ask();
  }
  return lr;
}

}  // namespace autolrs::server
