// Synthetic LR-sweep loss curves for tests and for exercising the ranking
// benchmark before real curves exist.
//
// The model is the noisy quadratic model (NQM) of SGD: a quadratic loss with
// curvatures h_i = h_max * i^-h_exponent (i = 1..dims) and gradient noise of
// variance grad_noise * h_i per coordinate. It reproduces the LR trade-offs
// that make forecasting hard: a larger LR drops faster but to a higher noise
// floor, a smaller one keeps improving long after the probe, LR * h_max > 2
// diverges, and raising the LR above the checkpoint's makes the loss rise.
// Each step's observed loss is (floor_loss + the NQM loss) times lognormal
// noise of log-sd obs_noise (minibatch noise).
//
// Thread-safety: pure functions of their arguments (own seeded RNG).
#ifndef AUTOLRS_FORECAST_SYNTHETIC_CURVES_H_
#define AUTOLRS_FORECAST_SYNTHETIC_CURVES_H_

#include <cstdint>
#include <vector>

#include "forecast/ranking.h"

namespace autolrs {
namespace forecast {

struct NqmOptions {
  int dims = 100;
  double h_max = 1.0;
  double h_exponent = 1.0;
  double grad_noise = 0.5;
  double floor_loss = 0.1;
  double obs_noise = 0.15;
  double init_scale = 1.0;  // initial coordinates ~ N(0, init_scale^2)
  // Checkpoints: training steps at checkpoint_lr before each sweep starts.
  std::vector<int> checkpoint_steps = {0, 1000, 4000};
  double checkpoint_lr = 0.3;
  // The LR sweep run from every checkpoint, tau steps each.
  std::vector<double> lrs = {0.01, 0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.8, 1.2, 1.9};
  int tau = 1000;
  uint64_t seed = 1;
};

// One curve per (checkpoint, lr); checkpoint names are "ckpt<steps>".
// Diverging curves end in inf (a loss beyond float32's range), like a real
// diverged run.
std::vector<Curve> SimulateNqmSweep(const NqmOptions& options);

}  // namespace forecast
}  // namespace autolrs

#endif  // AUTOLRS_FORECAST_SYNTHETIC_CURVES_H_
