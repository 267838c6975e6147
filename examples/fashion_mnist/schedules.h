#ifndef AUTOLRS_EXAMPLES_FASHION_MNIST_SCHEDULES_H_
#define AUTOLRS_EXAMPLES_FASHION_MNIST_SCHEDULES_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace autolrs::examples {

// Hand-made learning-rate schedules the AutoLRS runs are compared with.
enum class BaselineSchedule {
  // peak_lr for every step.
  kConstant,
  // peak_lr, times 0.1 from step floor(S/2) on, times 0.01 from floor(3S/4) on.
  kStep,
  // 0.5 * peak_lr * (1 + cos(pi * t / S)): peak_lr at t = 0, towards 0 at S.
  kCosine,
  // Warmup-free "warmup-stable-decay": peak_lr for the first S - C steps,
  // then the linear cooldown of an AutoLRS job (JobConfig.cooldown_fraction
  // 0.5): over the last C = S - floor(S/2) steps the LR falls linearly
  // toward 0, which it would reach one step after the last. AutoLRS's shape
  // at one constant LR without probes: what its default schedule could reach
  // with a perfect choice.
  kWsd,
};

// "constant", "step", "cosine" or "wsd"; INVALID_ARGUMENT for anything else.
absl::StatusOr<BaselineSchedule> ParseBaselineSchedule(const std::string& name);

// The learning rate (plain units, not log10) of step `t` (0-based, in
// [0, total_steps)) of a run of `total_steps` steps whose largest LR is
// `peak_lr`. Requires total_steps >= 1 and peak_lr >= 0; t outside
// [0, total_steps) is clamped into it. Thread-safe (pure).
double BaselineLearningRate(BaselineSchedule schedule, double peak_lr, int64_t t,
                            int64_t total_steps);

}  // namespace autolrs::examples

#endif  // AUTOLRS_EXAMPLES_FASHION_MNIST_SCHEDULES_H_
