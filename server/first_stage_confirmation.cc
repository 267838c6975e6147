#include "server/first_stage_confirmation.h"

#include <algorithm>
#include <cmath>

namespace autolrs::server {

int64_t ConfirmationSteps(const v1::Stage& stage, const v1::JobConfig& config) {
  const int64_t steps =
      std::llround(config.first_stage_confirmation() * static_cast<double>(stage.tau_probe()));
  return std::clamp<int64_t>(steps, std::min(stage.tau(), stage.tau_probe() + 1), stage.tau());
}

std::optional<double> NextConfirmationLr(const v1::Stage& stage, const v1::JobConfig& config,
                                         double search_choice, int64_t steps_left) {
  if (config.first_stage_confirmation() <= 0 || stage.index() != 0 || search_choice <= 0 ||
      stage.search_skipped()) {
    return std::nullopt;
  }
  const int n = stage.confirmations_size();
  if (n >= kMaxConfirmations) return std::nullopt;
  if (steps_left < ConfirmationSteps(stage, config) + stage.tau() / 2) return std::nullopt;
  if (n == 0) return search_choice;
  const v1::Probe& last = stage.confirmations(n - 1);
  // Step down only while the last step down paid or tied (or the LR before
  // it diverged).
  if (n >= 2) {
    const v1::Probe& before = stage.confirmations(n - 2);
    const bool go_on =
        !last.diverged() &&
        (before.diverged() ||
         last.predicted_loss() <=
             before.predicted_loss() + kConfirmationTie * std::abs(before.predicted_loss()));
    if (!go_on) return std::nullopt;
  }
  // Never below lr_min, nor within a tenth of a step of the last LR.
  const double lower =
      std::max(config.lr_min(), last.lr() / std::pow(10.0, kConfirmationStepDecades));
  if (std::log10(last.lr() / lower) < 0.1 * kConfirmationStepDecades) return std::nullopt;
  return lower;
}

const v1::Probe* BestConfirmation(const v1::Stage& stage) {
  const v1::Probe* best = nullptr;
  for (const v1::Probe& p : stage.confirmations()) {
    if (!p.diverged() && (best == nullptr || p.predicted_loss() < best->predicted_loss())) {
      best = &p;
    }
  }
  return best;
}

}  // namespace autolrs::server
