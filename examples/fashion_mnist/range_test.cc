#include "examples/fashion_mnist/range_test.h"

#include <algorithm>
#include <cmath>

namespace autolrs::examples {

RangeTest::RangeTest(const RangeTestOptions& options)
    : options_(options),
      beta_(std::max(0.0, std::min(0.98, 1.0 - 5.0 / static_cast<double>(options.steps)))) {}

double RangeTest::Lr(int64_t i) const {
  if (options_.steps <= 1) return options_.lr_min;
  const double f = static_cast<double>(i) / static_cast<double>(options_.steps - 1);
  return options_.lr_min * std::pow(options_.lr_max / options_.lr_min, f);
}

bool RangeTest::Add(double loss) {
  if (!std::isfinite(loss)) {
    diverged_ = true;
    return true;
  }
  average_ = beta_ * average_ + (1 - beta_) * loss;
  const double n = static_cast<double>(smoothed_.size() + 1);
  const double s = average_ / (1 - std::pow(beta_, n));
  smoothed_.push_back(s);
  if (best_ < 0 || s < smoothed_[best_]) best_ = static_cast<int64_t>(smoothed_.size()) - 1;
  if (s > options_.divergence_factor * smoothed_[best_]) {
    diverged_ = true;
    return true;
  }
  return steps_done() >= options_.steps;
}

double RangeTest::SuggestedPeak() const {
  return (best_ < 0 ? options_.lr_min : Lr(best_)) / 10;
}

}  // namespace autolrs::examples
