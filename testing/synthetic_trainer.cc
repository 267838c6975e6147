#include "testing/synthetic_trainer.h"

#include <algorithm>
#include <limits>

namespace autolrs::testing {

SyntheticTrainer::SyntheticTrainer(uint64_t seed, double divergence_lr, double lr_scale)
    : divergence_lr_(divergence_lr), lr_scale_(lr_scale), rng_(seed) {}

double SyntheticTrainer::TrainStep() {
  ++steps_;
  if (lr_ > divergence_lr_) diverged_ = true;
  if (diverged_) return std::numeric_limits<double>::quiet_NaN();
  const double floor = 2.0 * lr_;
  const double rate = std::min(0.5, 5.0 * lr_);
  g_ = floor + (g_ - floor) * (1.0 - rate);
  std::normal_distribution<double> noise(0.0, 0.01 * (0.1 + g_));
  return 0.1 + g_ + noise(rng_);
}

double SyntheticTrainer::ValidationLoss() const {
  return diverged_ ? std::numeric_limits<double>::quiet_NaN() : 0.12 + g_;
}

void SyntheticTrainer::Save() {
  saved_g_ = g_;
  saved_diverged_ = diverged_;
}

void SyntheticTrainer::Restore() {
  g_ = saved_g_;
  diverged_ = saved_diverged_;
}

void SyntheticTrainer::SaveBest() {
  best_g_ = g_;
  best_diverged_ = diverged_;
}

void SyntheticTrainer::RestoreBest() {
  g_ = best_g_;
  diverged_ = best_diverged_;
}

}  // namespace autolrs::testing
