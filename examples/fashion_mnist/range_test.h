#ifndef AUTOLRS_EXAMPLES_FASHION_MNIST_RANGE_TEST_H_
#define AUTOLRS_EXAMPLES_FASHION_MNIST_RANGE_TEST_H_

// The LR range test (Smith 2017, "Cyclical learning rates", section 3.3; the
// fast.ai `lr_find` recipe): train with an LR that grows exponentially from
// lr_min to lr_max, one step per LR, stop when the loss diverges, and take
// the LR at the minimum of the smoothed loss divided by 10 as the peak LR of
// the schedule that follows.

#include <cstdint>
#include <vector>

namespace autolrs::examples {

struct RangeTestOptions {
  double lr_min = 1e-5;
  double lr_max = 10;
  int64_t steps = 100;  // The sweep's length when it does not diverge (>= 1).
  // The sweep stops once the smoothed loss exceeds this times its minimum
  // (fast.ai's rule), or at a non-finite loss.
  double divergence_factor = 4;
};

// Thread-compatible. Feed the loss of sweep step i (run at Lr(i)) to Add().
class RangeTest {
 public:
  explicit RangeTest(const RangeTestOptions& options);

  // LR of step i (0-based): lr_min (lr_max / lr_min)^(i / (steps - 1)); lr_min
  // when steps == 1.
  double Lr(int64_t i) const;

  // Records the next step's training loss. Returns true when the sweep must
  // stop: it diverged (non-finite loss, or smoothed loss above
  // divergence_factor x its minimum) or all `steps` steps are done.
  bool Add(double loss);

  // The minimum-smoothed-loss LR / 10; lr_min / 10 before any finite loss.
  double SuggestedPeak() const;

  // Smoothing: a bias-corrected exponential moving average with
  // beta = min(0.98, 1 - 5 / steps) (fast.ai's 0.98 for its 100-step sweep;
  // shorter sweeps average over fewer steps, about steps/5).
  double beta() const { return beta_; }
  int64_t steps_done() const { return static_cast<int64_t>(smoothed_.size()); }
  const std::vector<double>& smoothed() const { return smoothed_; }
  bool diverged() const { return diverged_; }

 private:
  const RangeTestOptions options_;
  const double beta_;
  double average_ = 0;
  std::vector<double> smoothed_;
  int64_t best_ = -1;  // Index of the minimum smoothed loss.
  bool diverged_ = false;
};

}  // namespace autolrs::examples

#endif  // AUTOLRS_EXAMPLES_FASHION_MNIST_RANGE_TEST_H_
