#include "server/family_prior.h"

#include <algorithm>
#include <cmath>

namespace autolrs::server {

std::optional<PriorPoint> StagePrior(const JobState& state, const v1::Stage& stage) {
  const v1::JobConfig& c = state.job().config();
  if (state.family_prior().empty() || state.job().family_prior_dropped() || c.total_steps() <= 0) {
    return std::nullopt;
  }
  const double progress =
      (stage.start_steps_spent() + stage.tau() / 2.0) / static_cast<double>(c.total_steps());
  return PriorAt(state.family_prior(), progress);
}

void PlanFamilyStage(const JobState& state, v1::Stage& stage) {
  std::optional<PriorPoint> prior = StagePrior(state, stage);
  if (!prior.has_value()) return;
  const v1::JobConfig& c = state.job().config();
  stage.set_family_lr(std::clamp(prior->lr, c.lr_min(), c.lr_max()));
  stage.set_family_followed(prior->runs >= 2 && c.family_agreement() > 0 &&
                            prior->spread_decades() <= c.family_agreement());
}

bool SearchesByPrior(const v1::Stage& stage) {
  return stage.family_lr() > 0 && !stage.family_prior_contradicted();
}

int32_t PriorProbes(const v1::JobConfig& config, const v1::Stage& stage) {
  return stage.family_followed() ? 1 : std::max(1, config.family_probes());
}

LrWindow PriorWindow(const JobState& state, const v1::Stage& stage, double lr_min, double lr_max) {
  const v1::JobConfig& c = state.job().config();
  double half = c.family_window();
  if (std::optional<PriorPoint> prior = StagePrior(state, stage)) {
    half = std::max(half, prior->spread_decades() / 2);
  }
  const double factor = std::pow(10.0, half);
  LrWindow w{std::max(lr_min, stage.family_lr() / factor),
             std::min(lr_max, stage.family_lr() * factor)};
  if (w.lo >= w.hi) w = {std::max(lr_min, lr_max / (factor * factor)), lr_max};
  return w;
}

bool ContradictsPrior(const JobState& state, const v1::Stage& stage, const v1::Probe& first) {
  if (first.diverged()) return true;
  // Only the first stage starts where every run of the family started (the
  // initialization, or the warmup's end); later stages start from a model
  // that fewer probes brought further, so their decreases are not comparable.
  if (stage.index() > 0) return false;
  const double tolerance = state.job().config().family_tolerance();
  std::optional<PriorPoint> prior = StagePrior(state, stage);
  if (tolerance <= 0 || !prior.has_value() || prior->decrease_runs == 0) return false;
  const double checkpoint = CheckpointLoss(state.schedule(), stage.index());
  if (!(checkpoint > 0) || !std::isfinite(first.predicted_loss())) return false;
  const double decrease = 1 - first.predicted_loss() / checkpoint;
  return decrease < prior->decrease_low - tolerance || decrease > prior->decrease_high + tolerance;
}

}  // namespace autolrs::server
