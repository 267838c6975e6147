#ifndef AUTOLRS_TESTING_SYNTHETIC_TRAINER_H_
#define AUTOLRS_TESTING_SYNTHETIC_TRAINER_H_

#include <cstdint>
#include <random>

namespace autolrs::testing {

// A deterministic stand-in for a network in training, for tests and load
// benchmarks: an "excess loss" g decays toward an LR-dependent floor.
//
//   floor(lr) = 2 * lr          (a large LR learns fast but stays noisy)
//   rate(lr)  = min(0.5, 5 * lr) per step
//   g <- floor + (g - floor) * (1 - rate)
//   training loss   = 0.1 + g + noise (sd 0.01 * (0.1 + g), seeded)
//   validation loss = 0.12 + g
//   lr > divergence_lr: every loss is NaN from then on (until a restore).
//
// So a good schedule starts large and decays, as with real networks.
// Not thread-safe.
class SyntheticTrainer {
 public:
  // lr_scale: the model trains as the formulas above say at lr * lr_scale
  // (divergence included), so its best LRs are 1 / lr_scale times these: a
  // different task.
  explicit SyntheticTrainer(uint64_t seed, double divergence_lr = 0.8, double lr_scale = 1);

  void SetLearningRate(double lr) { lr_ = lr * lr_scale_; }
  // One step at the current LR; returns its training loss.
  double TrainStep();
  double ValidationLoss() const;

  // The stage checkpoint slot: the model state (g and divergence), not the
  // noise.
  void Save();
  void Restore();
  // A second slot, the best probe's end state (reuse_best_probe).
  void SaveBest();
  void RestoreBest();

  double excess_loss() const { return g_; }
  int64_t steps() const { return steps_; }

 private:
  double lr_ = 0;
  double g_ = 2.0;
  bool diverged_ = false;
  int64_t steps_ = 0;
  double saved_g_ = 2.0;
  bool saved_diverged_ = false;
  double best_g_ = 2.0;
  bool best_diverged_ = false;
  const double divergence_lr_;
  const double lr_scale_;
  std::mt19937_64 rng_;
};

}  // namespace autolrs::testing

#endif  // AUTOLRS_TESTING_SYNTHETIC_TRAINER_H_
