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
  return absl::InvalidArgumentError(
      absl::StrCat("unknown schedule '", name, "'; expected constant, step or cosine"));
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
  }
  return peak_lr;
}

}  // namespace autolrs::examples
