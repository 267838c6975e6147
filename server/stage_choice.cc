#include "server/stage_choice.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

namespace autolrs::server {
namespace {

// How far (in decades) below the best probe's LR the first stage's
// tolerance rule may go: probes of very few steps barely move the loss, so
// that every forecast can lie within the tolerance of the best (CNN + SGD,
// 3-step probes: LR 0.001 within 10% of the best at 0.26).
constexpr double kMaxFirstStageStepDown = 0.5;

// The stage's non-diverged probes nearest `lr`: the first one at it, and
// the closest below and above it (null where there is none).
struct Neighbours {
  const v1::Probe* at = nullptr;
  const v1::Probe* below = nullptr;
  const v1::Probe* above = nullptr;
};

Neighbours ProbesAround(const v1::Stage& stage, double lr) {
  Neighbours n;
  for (const v1::Probe& p : stage.probes()) {
    if (p.diverged()) continue;
    if (p.lr() == lr && n.at == nullptr) n.at = &p;
    if (p.lr() < lr && (n.below == nullptr || p.lr() > n.below->lr())) n.below = &p;
    if (p.lr() > lr && (n.above == nullptr || p.lr() < n.above->lr())) n.above = &p;
  }
  return n;
}

// How the first stage's smallest-LR rule treats LRs between its probes.
struct StepDown {
  // The forecasts between probes lie on the straight lines joining them over
  // log10 LR, and the LR may be one where that line crosses the tolerance.
  bool interpolate = false;
  // A probe within the tolerance below the limit makes the limit the LR.
  bool clamp_to_limit = false;
};

// The largest (at most `cap`) or, with `largest` false, the smallest (at
// most kMaxFirstStageStepDown decades below the best probe's) LR among
// `stage`'s probes that did not diverge and whose forecast is within
// `tolerance` (relative) of the best one; `chosen` when no probe is beyond
// it. `step_down` applies to the smallest only.
double NearBest(const v1::Stage& stage, double chosen, double tolerance, bool largest,
                double cap = std::numeric_limits<double>::infinity(),
                StepDown step_down = {}) {
  double best = std::numeric_limits<double>::infinity(), best_lr = chosen;
  for (const v1::Probe& p : stage.probes()) {
    if (!p.diverged() && p.predicted_loss() < best) best = p.predicted_loss(), best_lr = p.lr();
  }
  const double bar = best + tolerance * std::abs(best);
  const double floor = best_lr * std::pow(10.0, -kMaxFirstStageStepDown);
  double lr = chosen;
  bool beyond_floor = false;
  for (const v1::Probe& p : stage.probes()) {
    if (p.diverged() || p.predicted_loss() > bar) continue;
    if (largest) {
      if (p.lr() <= cap) lr = std::max(lr, p.lr());
    } else if (p.lr() >= floor) {
      lr = std::min(lr, p.lr());
    } else {
      beyond_floor = true;
    }
  }
  if (largest) return lr;
  if (!step_down.interpolate) return step_down.clamp_to_limit && beyond_floor ? floor : lr;
  // The line from the nearest probe below `lr` to `lr`'s own probe.
  const auto [at, below, above] = ProbesAround(stage, lr);
  if (at == nullptr || below == nullptr) return lr;
  // Within the tolerance all the way down to the probe below (which lies
  // under the floor, or it would have been taken): as far as the floor.
  if (below->predicted_loss() <= bar) return std::max(floor, below->lr());
  const double fraction =
      (below->predicted_loss() - bar) / (below->predicted_loss() - at->predicted_loss());
  const double log_lr =
      std::log10(below->lr()) + fraction * (std::log10(lr) - std::log10(below->lr()));
  return std::min(lr, std::max(floor, std::pow(10.0, log_lr)));
}

}  // namespace

const v1::Probe* BestProbe(const v1::Stage& stage, double below) {
  const v1::Probe* best = nullptr;
  for (const v1::Probe& p : stage.probes()) {
    if (!p.diverged() && p.lr() < below &&
        (best == nullptr || p.predicted_loss() < best->predicted_loss())) {
      best = &p;
    }
  }
  return best;
}

double TolerantChoice(const v1::Stage& stage, const v1::JobConfig& c, double current_lr,
                      double chosen) {
  if (stage.index() == 0 && c.first_stage_choice_tolerance() > 0) {
    return NearBest(stage, chosen, c.first_stage_choice_tolerance(), /*largest=*/false,
                    std::numeric_limits<double>::infinity(),
                    {c.first_stage_interpolation(), c.first_stage_clamp_to_limit()});
  }
  if (c.choice_tolerance() <= 0) return chosen;
  const double cap = c.tolerance_never_raises() && stage.index() > 0 && current_lr > 0
                         ? std::max(chosen, current_lr)
                         : std::numeric_limits<double>::infinity();
  return NearBest(stage, chosen, c.choice_tolerance(), /*largest=*/true, cap);
}

double GuardRaise(const v1::Stage& stage, const v1::JobConfig& c, double current_lr,
                  double candidate) {
  if (c.raise_margin() <= 0 || stage.index() == 0 || current_lr <= 0 || candidate <= current_lr) {
    return candidate;
  }
  const v1::Probe* held = ProbesAround(stage, current_lr).at;
  const v1::Probe* raised = ProbesAround(stage, candidate).at;
  if (held == nullptr || raised == nullptr) return candidate;
  const double bar = held->predicted_loss() - c.raise_margin() * std::abs(held->predicted_loss());
  if (raised->predicted_loss() < bar) return candidate;
  // `held` is a candidate below the bound, so there is a best one.
  const v1::Probe* best = BestProbe(stage, std::nextafter(current_lr, HUGE_VAL));
  return std::min(current_lr, TolerantChoice(stage, c, current_lr, best->lr()));
}

double Hold(const v1::Stage& stage, const v1::JobConfig& c, double current_lr, double candidate) {
  if (c.hold_margin() <= 0 || stage.index() == 0 || current_lr <= 0) return candidate;
  // The same probe lookup as GuardRaise's: the first probe at each LR.
  const v1::Probe* held = ProbesAround(stage, current_lr).at;
  const v1::Probe* cand = ProbesAround(stage, candidate).at;
  if (held == nullptr || cand == nullptr) return candidate;
  const double bar = held->predicted_loss() - c.hold_margin() * std::abs(held->predicted_loss());
  return cand->predicted_loss() < bar ? candidate : current_lr;
}

double RuledChoice(const v1::Stage& stage, const v1::JobConfig& c, double current_lr,
                   double chosen) {
  const double tolerant = TolerantChoice(stage, c, current_lr, chosen);
  return Hold(stage, c, current_lr, GuardRaise(stage, c, current_lr, tolerant));
}

int32_t ProbeChoice(const v1::Stage& stage, const v1::JobConfig& c, double current_lr) {
  const v1::Probe* best = BestProbe(stage);
  if (best == nullptr) return 0;
  const double lr = RuledChoice(stage, c, current_lr, best->lr());
  for (int32_t i = 0; i < stage.probes_size(); ++i) {
    if (!stage.probes(i).diverged() && stage.probes(i).lr() == lr) return i + 1;
  }
  return 0;
}

std::optional<double> InterpolatedForecast(const v1::Stage& stage, double lr) {
  const auto [at, below, above] = ProbesAround(stage, lr);
  if (at != nullptr) return at->predicted_loss();
  if (below == nullptr || above == nullptr) return std::nullopt;
  const double fraction = (std::log10(lr) - std::log10(below->lr())) /
                          (std::log10(above->lr()) - std::log10(below->lr()));
  return below->predicted_loss() + fraction * (above->predicted_loss() - below->predicted_loss());
}

const v1::Probe* SavedProbe(const v1::Stage& stage, int32_t saved) {
  if (saved <= 0) return nullptr;
  if (saved <= stage.probes_size()) return &stage.probes(saved - 1);
  const int32_t c = saved - 1 - stage.probes_size();
  return c < stage.confirmations_size() ? &stage.confirmations(c) : nullptr;
}

}  // namespace autolrs::server
