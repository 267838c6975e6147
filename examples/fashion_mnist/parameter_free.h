#ifndef AUTOLRS_EXAMPLES_FASHION_MNIST_PARAMETER_FREE_H_
#define AUTOLRS_EXAMPLES_FASHION_MNIST_PARAMETER_FREE_H_

// Parameter-free optimizers, the one-run baselines of the schedule-quality
// benchmark (bench/). Each is written from its paper's update rule and the
// authors' reference implementation (cited per class); parameter_free_test
// checks each against the rule computed independently in plain doubles.
//
// Common contract:
//  - All parameters form one group; every parameter must get a gradient on
//    every step (a parameter without one is skipped in all sums, as in the
//    reference implementations).
//  - The group's LR (get_lr/set_lr, Trainer::SetLearningRate) is the papers'
//    multiplier (1 = the method as published); a schedule scales it.
//  - No weight decay.
//  - step() ignores its closure and returns an undefined tensor.
//  - step_size(): the effective step size of the last step (method-specific,
//    documented per class), for logging.
//  - State lives in the optimizer object, not in libtorch's state map, so a
//    TorchCheckpointer cannot save it (these optimizers are only used with
//    baseline schedules).
// Thread-safety: like any libtorch optimizer, one thread at a time.

#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

#include <ATen/core/Tensor.h>
#include <torch/arg.h>
#include <torch/optim/optimizer.h>

namespace autolrs::examples {

struct ParameterFreeOptions
    : public torch::optim::OptimizerCloneableOptions<ParameterFreeOptions> {
  explicit ParameterFreeOptions(double lr = 1.0) : lr_(lr) {}
  TORCH_ARG(double, lr) = 1.0;
  double get_lr() const override { return lr_; }
  void set_lr(const double lr) override { lr_ = lr; }
};

class ParameterFreeOptimizer : public torch::optim::Optimizer {
 public:
  explicit ParameterFreeOptimizer(std::vector<at::Tensor> params, double lr = 1.0);
  double step_size() const { return step_size_; }

 protected:
  double lr() const { return param_groups_.front().options().get_lr(); }
  // The parameters of the (only) group.
  std::vector<at::Tensor>& params() { return param_groups_.front().params(); }
  double step_size_ = 0;
};

// DoG, "Distance over Gradients" (Ivgi, Hinder & Carmon 2023, eq. (1) and
// Algorithm 1; reference: formll/dog, class DoG, all layers as one vector):
//   r_eps   = reps_rel * (1 + ||x_0||)
//   rbar_t  = max(r_eps, max_{i<=t} ||x_i - x_0||)
//   G_t     = eps + sum_{i<=t} ||g_i||^2
//   eta_t   = lr * rbar_t / sqrt(G_t)
//   x_{t+1} = x_t - eta_t g_t
// step_size() = eta_t. Use with iterate averaging (PolynomialAverager): the
// paper evaluates the averaged iterate.
class DoG final : public ParameterFreeOptimizer {
 public:
  explicit DoG(std::vector<at::Tensor> params, double lr = 1.0, double reps_rel = 1e-6,
               double eps = 1e-8);
  at::Tensor step(LossClosure closure = nullptr) override;

 private:
  const double reps_rel_, eps_;
  bool first_ = true;
  std::vector<at::Tensor> x0_;
  double rbar_ = 0, g_sum_ = 0;
};

// D-Adaptation for SGD with momentum (Defazio & Mishchenko 2023, Algorithm
// "SGD with D-Adaptation" in its momentum-as-primal-averaging form;
// reference: facebookresearch/dadaptation, dadapt_sgd.py):
//   lambda_k = d_k * lr / ||g_0||
//   s_{k+1}  = s_k + lambda_k g_k
//   q_{k+1}  = q_k + lambda_k^2 ||g_k||^2
//   dhat     = (||s_{k+1}||^2 - q_{k+1}) / ||s_{k+1}||
//   d_{k+1}  = max(d_k, min(dhat, growth_rate * d_k))
//   z_{k+1}  = x_0 - s_{k+1};  x_{k+1} = beta x_k + (1 - beta) z_{k+1}
// with beta = momentum (0.9 in the benchmark), d_0 = 1e-6. (The reference
// code's dhat, used here, is twice the paper's lower bound (... / 2||s||).)
// step_size() = lambda_k * ||g_0|| = d_k * lr.
class DAdaptSgd final : public ParameterFreeOptimizer {
 public:
  explicit DAdaptSgd(std::vector<at::Tensor> params, double lr = 1.0, double momentum = 0.9,
                     double d0 = 1e-6, double growth_rate = HUGE_VAL);
  at::Tensor step(LossClosure closure = nullptr) override;
  double d() const { return d_; }

 private:
  const double momentum_, growth_rate_;
  double d_, g0_norm_ = 0, q_ = 0;
  int64_t k_ = 0;
  std::vector<at::Tensor> x0_, s_;
};

// D-Adaptation for Adam (Defazio & Mishchenko 2023, Adam variant; reference:
// facebookresearch/dadaptation, dadapt_adam.py at 0074595, no bias
// correction, no weight decay). Per coordinate, with A = sqrt(v) + eps:
//   m  = beta1 m + (1 - beta1) d lr g
//   v  = beta2 v + (1 - beta2) g^2
//   s  = beta2 s + (1 - beta2) d lr g
//   q  = beta2 q + (1 - beta2) (d lr)^2 sum(g^2 / A)
//   dhat = (sum(s^2 / A) / (1 - beta2) - q) / ||s||_1
//   d  = max(d, min(dhat, growth_rate d))
//   x  = x - m / A
// step_size() = d * lr (the step's d, before this step's update of d).
class DAdaptAdam final : public ParameterFreeOptimizer {
 public:
  explicit DAdaptAdam(std::vector<at::Tensor> params, double lr = 1.0, double beta1 = 0.9,
                      double beta2 = 0.999, double eps = 1e-8, double d0 = 1e-6,
                      double growth_rate = HUGE_VAL);
  at::Tensor step(LossClosure closure = nullptr) override;
  double d() const { return d_; }

 private:
  const double beta1_, beta2_, eps_, growth_rate_;
  double d_, q_ = 0;
  std::vector<at::Tensor> m_, v_, s_;
};

// Prodigy (Mishchenko & Defazio 2023, Algorithm 4 "Prodigy (Adam version)";
// reference: konstmish/prodigy, prodigy_reference.py, defaults: no bias
// correction, no safeguard warmup, d_coef 1, beta3 = sqrt(beta2)):
//   dl   = d lr
//   r    = beta3 r + (d / d0) dl <g, x_0 - x>
//   m    = beta1 m + (1 - beta1) d g
//   v    = beta2 v + (1 - beta2) d^2 g^2
//   s    = beta3 s + (d / d0) dl g
//   dhat = r / ||s||_1
//   d    = max(d, dhat) while d == d0;  d_max = max(d_max, dhat);
//   d    = min(d_max, growth_rate d)
//   x    = x - dl m / (sqrt(v) + d eps)     (dl from before the d update)
// step_size() = dl.
class Prodigy final : public ParameterFreeOptimizer {
 public:
  explicit Prodigy(std::vector<at::Tensor> params, double lr = 1.0, double beta1 = 0.9,
                   double beta2 = 0.999, double eps = 1e-8, double d0 = 1e-6,
                   double growth_rate = HUGE_VAL);
  at::Tensor step(LossClosure closure = nullptr) override;
  double d() const { return d_; }

 private:
  const double beta1_, beta2_, beta3_, eps_, d0_, growth_rate_;
  double d_, d_max_, r_ = 0;
  std::vector<at::Tensor> x0_, m_, v_, s_;
};

// Polynomial-decay iterate averaging (Shamir & Zhang 2013), as DoG's paper
// uses it (gamma = 8; reference: formll/dog, PolynomialDecayAverager):
//   xbar_t = (1 - (1 + gamma) / (t + gamma)) xbar_{t-1} + (1 + gamma) / (t + gamma) x_t,
// t = 1, 2, ... (xbar_1 = x_1). Call Update() after every optimizer step;
// Swap() exchanges the parameters' values with the average (call it twice to
// undo), e.g. around an evaluation. Not thread-safe.
class PolynomialAverager {
 public:
  explicit PolynomialAverager(std::vector<at::Tensor> params, double gamma = 8.0);
  void Update();
  void Swap();
  int64_t updates() const { return t_ - 1; }

 private:
  std::vector<at::Tensor> params_, average_;
  const double gamma_;
  int64_t t_ = 1;
};

}  // namespace autolrs::examples

#endif  // AUTOLRS_EXAMPLES_FASHION_MNIST_PARAMETER_FREE_H_
