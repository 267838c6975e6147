#include "examples/fashion_mnist/schedules.h"

#include <algorithm>
#include <cassert>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace autolrs::examples {

absl::StatusOr<BaselineSchedule> ParseBaselineSchedule(const std::string& name) {
  if (name == "constant") return BaselineSchedule::kConstant;
  if (name == "step") return BaselineSchedule::kStep;
  if (name == "cosine") return BaselineSchedule::kCosine;
  if (name == "wsd") return BaselineSchedule::kWsd;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown schedule '", name, "'; expected constant, step, cosine or wsd"));
}

double BaselineLearningRate(BaselineSchedule schedule, double peak_lr, int64_t t,
                            int64_t total_steps) {
  assert(total_steps >= 1);
  t = std::clamp<int64_t>(t, 0, total_steps - 1);
  switch (schedule) {
    case BaselineSchedule::kConstant:
      return peak_lr;
    case BaselineSchedule::kStep: {
      double lr = peak_lr;
      if (t >= total_steps / 2) lr *= 0.1;
      if (t >= total_steps * 3 / 4) lr *= 0.1;
      return lr;
    }
    case BaselineSchedule::kCosine:
      return 0.5 * peak_lr *
             (1.0 + std::cos(M_PI * static_cast<double>(t) / static_cast<double>(total_steps)));
    case BaselineSchedule::kWsd: {
      // Step k of the C-step cooldown at peak * (C - k) / (C + 1), as the
      // client's ramp runs the COOLDOWN action server/job.cc issues.
      const int64_t cooldown = total_steps - total_steps / 2;
      const int64_t into = t - total_steps / 2;
      if (into < 0) return peak_lr;
      return peak_lr * static_cast<double>(cooldown - into) / static_cast<double>(cooldown + 1);
    }
  }
  return peak_lr;
}

}  // namespace autolrs::examples
